"""Text rules the case gates apply: near-duplicate statements, empty text, naming a diagnosis, the shape of
a diagnosis name, clinical wording. Each reads strings only; which strings of a card they see is gates.py.
"""

from __future__ import annotations

import re

from schemas.matching.lexical import ABBREVIATIONS, GENERIC, tokens
from synth.cases.lexicon import (
    CLINICAL_REGISTER,
    DISEASE_SUFFIXES,
    DISEASE_WORDS,
    NEGATIONS,
    PLACEHOLDERS,
    SENTENCE_WORDS,
)
from synth.quality.text import STOPWORDS, normalise, words

EN_STOP = STOPWORDS["en"]


def _digits(text: str) -> list[str]:
    return re.findall(r"\d+", text)


def near_same(a: str, b: str, min_words: int = 3) -> bool:
    """The same statement twice: equal after normalisation; or the same content words in the same order
    (stopwords and pronouns aside: "Her diagnosis is X" / "His diagnosis is X"; "worse walking, better at
    rest" is not "better walking, worse at rest"), at least `min_words` distinct; or a copy cut short (the
    schema's length limit) of the other, eight words or more, all inside it.

    Numbers must agree, except in long texts: "BP 120/80" and "BP 140/90" are two readings, while two 15-word
    facts differing only in a trailing list number are one fact written twice. One content word changed is a
    different fact ("papules on the arms" / "papules on the legs"), however alike the strings look.
    """
    from rapidfuzz import fuzz

    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    digits_agree = _digits(na) == _digits(nb) or min(len(na), len(nb)) >= 60
    wa, wb = content_words(na), content_words(nb)
    if wa == wb and len(set(wa)) >= min_words and digits_agree:
        return True
    ca, cb = set(wa), set(wb)
    short, long_ = (ca, cb) if len(na) <= len(nb) else (cb, ca)
    return (
        min(len(na.split()), len(nb.split())) >= 8
        and short <= long_
        and fuzz.partial_ratio(na, nb) >= 97
        and digits_agree
    )


def content_words(text: str) -> list[str]:
    """Words that say something: not stopwords (negations excepted), not placeholders."""
    return [w for w in words(text) if (w not in EN_STOP or w in NEGATIONS) and w not in PLACEHOLDERS]


def _abbreviation_like(word: str) -> bool:
    return word in ABBREVIATIONS


def is_empty(text: str) -> bool:
    """No content: nothing but stopwords and placeholders, or one short fragment ("benf.") on its own.

    A one-word text is fine when it is a word of some length ("Hypertension.", "Cough."), a condition that is
    its own name ("Gout.") or a known abbreviation; four letters or fewer alone say nothing checkable.
    """
    content = set(content_words(text))
    if not content:
        return True
    if len(content) == 1:
        w = next(iter(content))
        return len(w) <= 4 and w not in NEGATIONS and w not in DISEASE_WORDS and not _abbreviation_like(w)
    return False


def _disease_token(tok: str) -> bool:
    return tok in DISEASE_WORDS or (len(tok) >= 7 and tok.endswith(DISEASE_SUFFIXES))


def diagnosis_variants(names: list[str]) -> list[list[str]]:
    """Token lists to look for: each name as `tokens` reads it (abbreviations expanded, British spelling to
    American, plurals singular), and without its generic qualifiers ("acute appendicitis" → "appendicitis")
    when what is left is still a disease name (two words, or one disease word such as "appendicitis")."""
    out: list[list[str]] = []
    for name in names:
        toks = tokens(name)
        if not toks:
            continue
        out.append(toks)
        core = [t for t in toks if t not in GENERIC]
        if core and core != toks and (len(core) >= 2 or _disease_token(core[0])):
            out.append(core)
    return out


def _close(a: str, b: str) -> bool:
    """One token for another: equal, or a misspelling of a long word (one edit from 6 letters, two from 10)."""
    if a == b:
        return True
    if a.isdigit() or b.isdigit() or min(len(a), len(b)) < 6:
        return False
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b) <= (2 if min(len(a), len(b)) >= 10 else 1)


def _same_words(window: list[str], variant: list[str]) -> bool:
    """Every word of the variant in the window, each paired with its own window word (any order: the lexical
    matcher reads "positional paroxysmal vertigo" and "paroxysmal positional vertigo" as one name)."""
    free = list(window)
    for v in variant:
        hit = next((i for i, w in enumerate(free) if _close(w, v)), None)
        if hit is None:
            return False
        free.pop(hit)
    return True


def mentions(text: str, variants: list[list[str]]) -> str | None:
    """The words of `text` that name one of the variants (its tokens side by side in any order, misspellings
    allowed), else None."""
    toks = tokens(text)
    for v in variants:
        n = len(v)
        for i in range(len(toks) - n + 1):
            window = toks[i : i + n]
            if _same_words(window, v):
                return " ".join(window)
    return None


# The sampler's own words (prevalence, acuity) copied into a field are not a name of anything. A sentence
# break is a full stop after a word of 3+ letters and a capital: "St. Louis" and "S. aureus" are names.
_SPEC_WORDS = frozenset({"rare", "common", "low", "moderate", "high", "acuity"})

_ODD_CHARS = re.compile(r"[_:;\[\]{}<>|=#@%*\"“”]|\d{4}|year[- ]old|(?<=[a-z]{3})\.\s+[A-Z]")


# A word as written, with what follows it: "HER2", "Type I" and "May-Thurner" hold no pronoun or verb.
_RAW_WORD = re.compile(r"([A-Za-z]+(?:'[A-Za-z]+)?)(-?)")


def _sentence_words(entry: str) -> list[str]:
    """Pronouns and finite verbs of an entry, leaving out acronyms and Roman numerals (all capitals: "HER2",
    "type I") and the first part of a hyphenated name ("May-Thurner syndrome")."""
    out = []
    for m in _RAW_WORD.finditer(entry):
        word, hyphen = m.group(1), m.group(2)
        if word.isupper() or hyphen:
            continue
        if word.lower() in SENTENCE_WORDS:
            out.append(word.lower())
    return out


def not_a_diagnosis(entry: str) -> str | None:
    """Why a differential entry is not a diagnosis name, or None when it reads as one.

    Only the shape is judged — a sentence, a placeholder, a fragment, odd characters, too long — never whether
    the name is in some list: disease names are open-ended ("tinea corporis", "teething", "athlete's heart").
    """
    ws = words(entry)
    if not ws:
        return "no words"
    odd = _ODD_CHARS.search(entry)
    if odd:
        return f"not a name ({odd.group(0)!r}: odd characters, an age or year, or a sentence break)"
    if len(ws) > 12:
        return f"{len(ws)} words"
    said = _sentence_words(entry)
    if said:
        return f"a sentence ({said[0]!r})"
    if is_empty(entry) or all(w in EN_STOP or w in PLACEHOLDERS or w in _SPEC_WORDS for w in ws):
        return "a placeholder or a fragment"
    return None


def repeats_answer(entry: str, answer_variants: list[list[str]]) -> bool:
    """The entry is the answer: the same tokens (generic qualifiers aside), or a misspelling of them."""
    from schemas.matching.lexical import _conflict  # the qualifier table: "type 1" is never "type 2"

    toks = tokens(entry)
    core = [t for t in toks if t not in GENERIC] or toks
    for v in answer_variants:
        vcore = [t for t in v if t not in GENERIC] or v
        if _conflict(set(toks), set(v)):
            continue
        if sorted(core) == sorted(vcore):
            return True
        if len(core) == len(vcore) and all(_close(a, b) for a, b in zip(core, vcore, strict=True)):
            return True
    return False


_THIRD_PERSON = re.compile(
    r"\b(?:the|this|our) patient\b|\A\W*(?:pt|patient)\b|\bpatient['’]s\b|\bpresents? with\b|\bcomplains? of\b",
    re.I,
)


def clinical_wording(text: str) -> str | None:
    """What makes `text` a clinician's wording rather than a patient's, or None."""
    m = _THIRD_PERSON.search(text)
    if m:
        return f"third person ({m.group(0)!r})"
    jargon = [w for w in words(text) if w in CLINICAL_REGISTER]
    if jargon:
        return f"clinical term {jargon[0]!r}"
    return None
