"""Spelling noise of real exam data, repaired word by word before two answers are compared.

Three kinds, each repaired only where the other side shows what the word should be:

- **single-edit misspellings** ("Laprotomy" / "Laparotomy"): two words one edit apart (an insertion, deletion,
  substitution or adjacent transposition; rapidfuzz's optimal-string-alignment distance), both at least six
  letters long and with the same first letter, are one word only when exactly one of them is a known word
  (schemas/matching/vocab.py) — the other is then its misspelling. Medicine is full of real one-edit pairs
  (nephrotic/nephritic, ectropion/entropion, ileum/ilium, perineal/peroneal, nitrate/nitrite): both are known
  words, so they are never merged. When neither word is known (or no vocabulary is installed), nothing proves
  it is a misspelling: the comparison goes ahead but a match is only "unsure" (`tentative`).
  An unknown word one edit from a word of the eponym table is also repaired ("Schonlien" → "schonlein").
- **the dropped "rt"** of MedMCQA-derived text ("hea failure", "pancreaticoduodenal aery", "Hypeension",
  "Inse ... sta IV fluids"): a word equal to the other side's word with every "rt" removed is that word (both
  directions), when it keeps three letters or more and is no abbreviation of the tables ("po" from "port").
- **side abbreviations**: "Rt"/"Lt" before a word are right/left, "B/L" and "bilat" bilateral. "RT" standing
  alone (radiotherapy) or before a preposition is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.matching.lexical import fold

_WORD = re.compile(r"[a-z]+")
_SIDE = re.compile(
    r"\b(rt|lt)\b\.?(?=\s+(?!(?:to|of|and|or|for|in|with|at|on|is|was|alone|plus|dose|fraction|field)\b)"
    r"[a-z]{3,})",
    re.IGNORECASE,
)
_BILATERAL = re.compile(r"\b(?:b/l|bilat)\b\.?", re.IGNORECASE)
_MIN_FUZZY = 6
_MIN_RT = 3


@dataclass
class Repair:
    candidate: str
    reference: str
    notes: list[str] = field(default_factory=list)  # what was repaired, for the reason
    tentative: list[str] = field(
        default_factory=list
    )  # repairs no vocabulary confirms: cap a match at unsure


def sides(text: str) -> str:
    """Side abbreviations spelt out ("Rt accessory nerve" → "right accessory nerve")."""
    text = _SIDE.sub(lambda m: "right" if m.group(1).lower() == "rt" else "left", text)
    return _BILATERAL.sub("bilateral", text)


def _short_forms() -> frozenset[str]:
    from schemas.matching.aliases import IN_TEXT, WHOLE_ANSWER
    from schemas.matching.lexical import ABBREVIATIONS

    return frozenset(k for t in (ABBREVIATIONS, IN_TEXT, WHOLE_ANSWER) for k in t if k.isalpha())


_SHORT: frozenset[str] = frozenset()
_EPONYM_WORDS: frozenset[str] = frozenset()
_EPONYMS_BY_LETTER: dict[
    str, tuple[str, ...]
] = {}  # sorted, by first letter: one edit keeps the first letter


def _rt_pair(a: str, b: str) -> bool:
    """`a` is `b` with every "rt" dropped (b has one, not at its start, and `a` keeps 3+ letters)."""
    global _SHORT
    if "rt" not in b or b.startswith("rt") or len(a) < _MIN_RT or b.replace("rt", "") != a:
        return False
    if not _SHORT:
        _SHORT = _short_forms()
    return a not in _SHORT


def _one_edit(a: str, b: str) -> bool:
    if min(len(a), len(b)) < _MIN_FUZZY or a[0] != b[0] or abs(len(a) - len(b)) > 1:
        return False
    from rapidfuzz.distance import OSA

    return OSA.distance(a, b, score_cutoff=1) == 1


def _eponym_words() -> frozenset[str]:
    global _EPONYM_WORDS
    if not _EPONYM_WORDS:
        from schemas.matching.eponyms import EPONYMS

        _EPONYM_WORDS = frozenset(w for k in EPONYMS for w in k.split() if len(w) >= _MIN_FUZZY)
        for w in sorted(_EPONYM_WORDS):
            _EPONYMS_BY_LETTER[w[0]] = (*_EPONYMS_BY_LETTER.get(w[0], ()), w)
    return _EPONYM_WORDS


def _replace(text: str, old: str, new: str) -> str:
    return re.sub(rf"\b{re.escape(old)}\b", new, text)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _neighbours(w: str) -> set[str]:
    """Every string one edit (or one adjacent transposition) from `w`."""
    splits = [(w[:i], w[i:]) for i in range(len(w) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + ch + b[1:] for a, b in splits if b for ch in _LETTERS}
    out |= {a + ch + b for a, b in splits for ch in _LETTERS}
    out.discard(w)
    return out


def _rivals(misspelt: str, target: str) -> list[str]:
    """Known words other than `target` (and its plural/singular) one edit from `misspelt`: if there are any,
    the misspelling could be of either, and nothing says which."""
    from schemas.matching import vocab

    same = {target, target + "s", target[:-1] if target.endswith("s") else target}
    return sorted(v for v in _neighbours(misspelt) - same if vocab.known(v))


def _fix_word(fix: Repair, side: str, wrong: str, right: str, why: str) -> None:
    from schemas.matching import vocab

    setattr(fix, side, _replace(getattr(fix, side), wrong, right))
    fix.notes.append(f"{wrong!r} read as {right!r} ({why})")
    rivals = _rivals(wrong, right)
    if rivals:
        fix.tentative.append(f"{wrong!r} is also one edit from {', '.join(map(repr, rivals[:3]))}")
    elif not vocab.available():
        fix.tentative.append("no vocabulary to tell a misspelling from another word")


def _misspelt(fix: Repair, side: str, words: set[str], targets: set[str]) -> None:
    """Repair each unknown word of `side` that is one edit from exactly one target word of the other side."""
    from schemas.matching import vocab

    for w in sorted(words):
        near = [t for t in sorted(targets) if _one_edit(w, t)]
        if len(near) != 1 or vocab.known(w):
            continue  # a known word is no misspelling (both known: a minimal pair, never one word)
        _fix_word(fix, side, w, near[0], "misspelling")
        if not vocab.known(near[0]):
            fix.tentative.append(f"neither {w!r} nor {near[0]!r} is a known word")


def repair(candidate: str, reference: str, expand: Callable[[str], list[str]] | None = None) -> Repair:
    """The two texts with misspelt, "rt"-dropped and side-abbreviated words repaired against each other.

    expand: the normalised tokens of a text (abbreviations and aliases expanded); its words are targets too,
    so "Right coonary artery" is repaired against "RCA" (right coronary artery)."""
    from schemas.matching import vocab

    fix = Repair(sides(fold(candidate)).lower(), sides(fold(reference)).lower())
    cw, rw = set(_WORD.findall(fix.candidate)), set(_WORD.findall(fix.reference))
    for c in sorted(cw - rw):
        for r in sorted(rw - cw):
            if _rt_pair(c, r):
                fix.candidate = _replace(fix.candidate, c, r)
                fix.notes.append(f"{c!r} read as {r!r} (dropped 'rt')")
            elif _rt_pair(r, c):
                fix.reference = _replace(fix.reference, r, c)
                fix.notes.append(f"{r!r} read as {c!r} (dropped 'rt')")

    def expanded(text: str) -> set[str]:
        return {t for t in expand(text) if t.isalpha()} if expand else set()

    def fuzzy_words(words: set[str]) -> set[str]:
        return {w for w in words if len(w) >= _MIN_FUZZY}  # shorter ones are never one edit from anything

    cw, rw = set(_WORD.findall(fix.candidate)), set(_WORD.findall(fix.reference))
    if fuzzy_words(cw - rw):  # the other side's expansion is worth computing only if a word may be repaired
        _misspelt(fix, "candidate", cw - rw, (rw | expanded(fix.reference)) - cw)
    cw = set(_WORD.findall(fix.candidate))
    if fuzzy_words(rw - cw):
        _misspelt(fix, "reference", rw - cw, (cw | expanded(fix.candidate)) - rw)
    for side in ("candidate", "reference"):
        for w in sorted(set(_WORD.findall(getattr(fix, side)))):
            if len(w) < _MIN_FUZZY or w in _eponym_words():
                continue
            near = [e for e in _EPONYMS_BY_LETTER.get(w[0], ()) if _one_edit(w, e)]
            if len(near) == 1 and not vocab.known(w):
                _fix_word(fix, side, w, near[0], "misspelt eponym")
    return fix
