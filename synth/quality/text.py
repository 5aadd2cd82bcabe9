"""Text functions shared by the text-level stages: one normalisation, word n-grams, a stopword language score.

`normalise` is what decontamination and exact dedup compare, so both agree on what "the same text" means:
Unicode NFKC (full-width letters, ligatures and non-breaking spaces become their plain forms), lower case,
every character that is neither a letter nor a digit (punctuation, symbols, underscores) replaced by a space,
then runs of whitespace collapsed to one space and the ends stripped. "Acute  MI," and "acute mi" are equal;
"don't" becomes "don t" on both sides, so nothing is joined that was apart.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_NON_ALNUM = re.compile(r"[\W_]+")
# ASCII fast path (4x the regex): bytes.translate lower-cases letters and blanks everything but letters/digits.
_ASCII = bytes((ord(chr(c).lower()) if chr(c).isalnum() else 32) if c < 128 else c for c in range(256))
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def normalise(text: str) -> str:
    """NFKC, lower case, punctuation and symbols to spaces, whitespace collapsed (see the module docstring)."""
    if text.isascii():
        return " ".join(text.encode().translate(_ASCII).decode().split())
    text = unicodedata.normalize("NFKC", text)
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def words(text: str) -> list[str]:
    """Lower-case words (letters, with an inner apostrophe kept: "don't")."""
    return _WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def repeated_ngram_ratio(tokens: list[str], n: int = 5) -> float:
    """Share of the word n-grams that are a repeat of an earlier one (0 when there are none)."""
    grams = ngrams(tokens, n)
    if not grams:
        return 0.0
    return (len(grams) - len(set(grams))) / len(grams)


def most_repeated(tokens: list[str], n: int = 5) -> str:
    grams = Counter(ngrams(tokens, n))
    if not grams:
        return ""
    gram, count = grams.most_common(1)[0]
    return f"{' '.join(gram)!r} x{count}"


# The most frequent function words of each language (a few dozen each). A text's score for a language is the
# share of its words found in that list, divided by what running text of that language typically reaches
# (≈0.4 for prose; clinical notes are terser, so the score is capped at 1 from `_FULL` up). Languages that
# share many short words (en "a", fr/es "a") are told apart by the other entries.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the a an and or but of to in on at for with from by as is are was were be been being have has had "  # noqa: SIM905
        "do does did not no it its this that these those i you he she we they me my your his her our their "
        "what which who when where why how there here if then than so can could would should will may might "
        "about into over after before any some all more most very just also up out".split()
    ),
    "fr": frozenset(
        "le la les un une des et ou mais de du au aux en dans sur pour par avec sans est sont été être avoir "  # noqa: SIM905
        "ai as a ont ne pas que qui quoi je tu il elle nous vous ils elles ce cette ces mon ma mes son sa ses "
        "leur plus très aussi comme si".split()
    ),
    "de": frozenset(
        "der die das ein eine einen dem den des und oder aber zu in im auf für mit von bei aus ist sind war "  # noqa: SIM905
        "waren sein haben hat hatte nicht kein keine ich du er sie es wir ihr mein dein sich auch noch wie "
        "wenn dann als nach über sehr".split()
    ),
    "es": frozenset(
        "el la los las un una unos unas y o pero de del al en con sin por para es son fue ser estar está "  # noqa: SIM905
        "hay no que qui quien yo tú él ella nosotros ellos mi su sus este esta estos se lo le muy más también "
        "como cuando si".split()
    ),
    "it": frozenset(
        "il lo la i gli le un una uno e o ma di del della dei in con su per tra fra è sono era essere avere "  # noqa: SIM905
        "ha non che chi io tu lui lei noi voi loro mio suo questo questa si ci molto più anche come quando se".split()
    ),
    "pt": frozenset(
        "o a os as um uma uns umas e ou mas de do da dos das em no na nos nas com sem por para é são foi ser "  # noqa: SIM905
        "estar está não que quem eu tu ele ela nós eles meu seu sua este esta isso se muito mais também "
        "como quando".split()
    ),
    "nl": frozenset(
        "de het een en of maar van te in op voor met door bij uit is zijn was waren hebben heeft had niet "  # noqa: SIM905
        "geen dat die wie wat ik jij hij zij wij mijn zijn haar ons ook nog als dan naar over zeer er".split()
    ),
}
_FULL = 0.25  # stopword share at which a text counts as fully in the language (terse clinical text included)


def language_score(text: str, lang: str) -> tuple[float, int]:
    """(score in [0, 1], words seen). The score is the stopword share for `lang` over `_FULL`, capped at 1,
    and lowered to 0 when another known language's stopwords clearly outnumber it (twice as many hits)."""
    if lang not in STOPWORDS:
        raise ValueError(f"no stopword list for language {lang!r} (have: {sorted(STOPWORDS)})")
    toks = words(text)
    if not toks:
        return 0.0, 0
    hits = {code: sum(t in sw for t in toks) for code, sw in STOPWORDS.items()}
    own = hits[lang]
    rival = max((h for code, h in hits.items() if code != lang), default=0)
    if rival >= 2 * max(own, 1):
        return 0.0, len(toks)
    return min(1.0, own / len(toks) / _FULL), len(toks)
