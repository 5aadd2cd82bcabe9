"""Which word a qualifier qualifies: "increased A and decreased B" is not "decreased A and increased B".

Token-set comparison sees the same words in both and would call them equal. Here each text is cut into
segments at the words and marks that join findings ("and", "with", "but", commas, semicolons); inside a
segment, every exclusive qualifier (increased/decreased, high/low, left/right, positive/negative, acute/chronic
and the other groups of `lexical._EXCLUSIVE`) qualifies the segment's other words. Two texts *bind
differently* when some word is qualified by one member of a group on one side and by another member of the same
group on the other ("A": increased vs decreased). Word order inside a segment does not matter ("A raised" is
"raised A"), nor does the order of the segments.

A segment holding two members of one group ("increased A decreased B", no conjunction) is read by position: a
qualifier qualifies the words up to the next qualifier, and the words before the first one. That reading can be
wrong ("A increased B decreased"), so a conflict found through it is only "unsure"; a conflict between
unambiguous segments is a definite no.

Negations bind the same way, to the words after them in their segment ("no fever", "rash without fever") or,
closing a segment, to the words before ("fever absent"). A word negated on one side only is a conflict: definite
for two plain phrases ("no pleural effusion" / "pleural effusion"), unsure once "and" or a comma leaves the
scope of the "no" open. When both sides negate and one negates more words, that is a question of scope, not a
conflict ("non-contrast CT KUB" / "CT KUB without contrast").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from schemas.matching.lexical import _CACHED_LEN, _EXCLUSIVE, GENERIC, NEGATIONS

_SEGMENT = re.compile(
    r"\s*(?:[,;]|\b(?:and|with|but|while|whereas|plus|along with|together with|as well as)\b|&)\s*",
    re.IGNORECASE,
)
_GROUP_OF = {word: i for i, group in enumerate(_EXCLUSIVE) for word in group}
_GROUP_OF |= {
    word: -1 for word in NEGATIONS
}  # a negation binds like a qualifier: "no A and B" is not "A and no B"


@dataclass(frozen=True)
class Bindings:
    heads: dict[str, frozenset[str]]  # content word → the qualifiers bound to it
    positional: bool  # some segment was read by position (a conflict is then only unsure)
    segments: int


def _split_positional(toks: list[str]) -> tuple[list[list[str]], bool]:
    groups = [_GROUP_OF[t] for t in toks if t in _GROUP_OF]
    if len(groups) == len(set(groups)):
        return [toks], False
    parts: list[list[str]] = [[]]
    for t in toks:
        if t in _GROUP_OF and any(x in _GROUP_OF for x in parts[-1]):
            parts.append([])
        parts[-1].append(t)
    return parts, True


def _negation(part: list[str], i: int) -> set[str]:
    """The negation that covers word i: one before it ("no fever", "fever without rash"), or one closing the
    segment after it ("fever absent")."""
    before = [t for t in part[:i] if t in NEGATIONS]
    if before:
        return {before[-1]}
    return {part[-1]} if part[-1] in NEGATIONS else set()


def bindings(text: str, tokenise: Callable[[str], list[str]]) -> Bindings:
    # A name's bindings are asked for again with every comparison it is in (the gold name, against each DDx
    # entry of each turn): short texts are kept, sentences are not (see lexical._tokens_cached).
    if len(text) <= _CACHED_LEN:
        return _bindings_cached(text, tokenise)
    return _bindings(text, tokenise)


@lru_cache(maxsize=8192)
def _bindings_cached(text: str, tokenise: Callable[[str], list[str]]) -> Bindings:
    return _bindings(text, tokenise)


def _bindings(text: str, tokenise: Callable[[str], list[str]]) -> Bindings:
    heads: dict[str, set[str]] = {}
    positional = False
    segments = [s for s in _SEGMENT.split(text) if s.strip()]
    for segment in segments:
        toks = tokenise(segment) if segment.strip() else []
        parts, by_position = _split_positional(toks)
        positional |= by_position
        for part in parts:
            quals = {t for t in part if t in _GROUP_OF and t not in NEGATIONS}
            for i, t in enumerate(part):
                if t not in _GROUP_OF and t not in GENERIC:
                    heads.setdefault(t, set()).update(quals | _negation(part, i))
    return Bindings({h: frozenset(q) for h, q in heads.items()}, positional, len(segments))


def binding_conflict(
    a_text: str, b_text: str, tokenise: Callable[[str], list[str]]
) -> tuple[str, bool] | None:
    """(reason, definite) when a qualifier of one group binds to a shared word differently, else None."""
    a, b = bindings(a_text, tokenise), bindings(b_text, tokenise)
    shared = sorted(a.heads.keys() & b.heads.keys())
    for head in shared:
        qa, qb = a.heads[head], b.heads[head]
        for q in sorted(qa):
            other = {x for x in qb if _GROUP_OF[x] == _GROUP_OF[q] and x not in NEGATIONS}
            if other and q not in other:
                reason = f"qualifiers bound to other words ({q} {head} vs {'/'.join(sorted(other))} {head})"
                return reason, not (a.positional or b.positional)
    neg_a = {h for h in shared if a.heads[h] & NEGATIONS}
    neg_b = {h for h in shared if b.heads[h] & NEGATIONS}
    if neg_a == neg_b:
        return None
    heads = ", ".join(sorted(neg_a ^ neg_b))
    if not neg_a or not neg_b:
        # definite only for one plain phrase each: whether a "no" covers the words after an "and" or a
        # comma is a reading, so there it is unsure
        simple = a.segments <= 1 and b.segments <= 1 and not (a.positional or b.positional)
        return f"negated on one side only ({heads})", simple
    if neg_a <= neg_b or neg_b <= neg_a:
        return None  # both negate, one more widely: a question of scope ("non-contrast CT KUB")
    return f"negates other words ({heads})", False
