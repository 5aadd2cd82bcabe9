"""Split assignment by group: a case (or a problem) and everything made from it land in one split.

The split of a group is a function of (seed, group id) only — sha256 mapped to [0, 1) and cut at the
cumulative fractions — so it is deterministic, independent of what else is in the corpus, and stable when
new runs are added: a group published once keeps its split forever (for the same seed and fractions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from synth.publish.options import SPLITS


def unit_interval(seed: int, group: str) -> float:
    h = hashlib.sha256(f"{seed}\x1f{group}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def split_of(group: str, seed: int, fractions: tuple[float, float, float]) -> str:
    u = unit_interval(seed, group)
    edge = 0.0
    for name, f in zip(SPLITS, fractions, strict=True):
        edge += f
        if u < edge and f > 0:
            return name
    # rounding at the top edge: the last split with a share
    return next(n for n, f in zip(reversed(SPLITS), reversed(fractions), strict=True) if f > 0)


def assign(
    rows: Iterable[dict[str, Any]], seed: int, fractions: tuple[float, float, float]
) -> dict[str, list[dict[str, Any]]]:
    """Rows by split, in input order; splits that receive no row are absent."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(split_of(r["group"], seed, fractions), []).append(r)
    return {s: out[s] for s in SPLITS if s in out}
