"""Exact and near-duplicate dedup, each within one table (a problem and its trace are never duplicates).

- `ExactDedupFilter`: the hash of the normalised text (synth.quality.text.normalise, the same normalisation
  decontamination uses); of records with equal text the one with the smallest id is kept, so the outcome does
  not depend on shard order, and every other one is dropped with `duplicate_of` = the kept id.
- `MinHashDedupFilter`: datasketch MinHash over word n-gram shingles of the normalised text, MinHashLSH at the
  configured threshold to find candidate pairs (bands chosen for recall), each pair confirmed by its estimated
  Jaccard similarity (LSH alone lets some pairs below the threshold through). Confirmed pairs join records into connected
  components; one record per component is kept — the highest `quality` score, then `complexity`, then the
  longest text, then the smallest id — and the others are dropped with `duplicate_of` = the kept id. A pair's
  two members are always in one component, so both are never dropped.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar

from synth.quality.base import Doc, Stage, StageContext
from synth.quality.config import ExactDedupConfig, NearDedupConfig
from synth.quality.text import normalise

KEEP_BY = ("quality", "complexity")


def keep_rank(doc: Doc, keep_by: tuple[str, ...] | list[str] = KEEP_BY) -> tuple[Any, ...]:
    """Sort key whose minimum is the member to keep: best scores (missing = worst), longest text, smallest id."""
    return (*(-doc.scores.get(k, float("-inf")) for k in keep_by), -len(doc.text), doc.id)


def by_table(docs: list[Doc]) -> dict[str, list[Doc]]:
    out: dict[str, list[Doc]] = defaultdict(list)
    for d in docs:
        out[d.table].append(d)
    return out


class ExactDedupFilter(Stage):
    name: ClassVar[str] = "exact_dedup"

    def __init__(self, cfg: ExactDedupConfig | None = None):
        self.cfg = cfg
        self.summary: dict[str, Any] = {}

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        dropped: set[int] = set()
        for table, members in by_table(docs).items():
            first: dict[bytes, Doc] = {}
            n = 0
            for d in sorted(members, key=lambda d: d.id):
                key = hashlib.blake2b(normalise(d.text).encode(), digest_size=16).digest()
                kept = first.setdefault(key, d)
                if kept is not d:
                    n += 1
                    dropped.add(id(d))
                    ctx.drop(d, self.name, f"exact duplicate of {kept.id} (same normalised text)", kept.id)
            self.summary[table] = {"in": len(members), "unique": len(first), "dropped": n}
        return [d for d in docs if id(d) not in dropped]


def shingles(text: str, n: int) -> set[bytes]:
    """Word n-grams of the normalised text; a text shorter than n words is one shingle (empty: none)."""
    toks = normalise(text).split()
    if len(toks) <= n:
        return {" ".join(toks).encode()} if toks else set()
    return {" ".join(toks[i : i + n]).encode() for i in range(len(toks) - n + 1)}


class _Components:
    """Union-find over 0..n-1."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def minhash_values(texts: list[str], ngram: int, num_perm: int) -> list[Any]:
    """Each text's MinHash (a LeanMinHash: the signature without the permutations), or None for a text
    without a single word.

    Pure and deterministic (seed 1): an executor may compute chunks of a table anywhere and the LSH merge that
    follows gives what one process gives (synth/quality/ray_exec.py)."""
    from datasketch import LeanMinHash, MinHash

    sets = [shingles(t, ngram) for t in texts]
    idx = [i for i, s in enumerate(sets) if s]
    out: list[Any] = [None] * len(texts)
    for i, m in zip(idx, MinHash.bulk([sets[i] for i in idx], num_perm=num_perm, seed=1), strict=True):
        out[i] = LeanMinHash(m)
    return out


Signatures = Callable[[list[str], int, int], list[Any]]  # (texts, ngram, num_perm) -> minhash_values' result


class MinHashDedupFilter(Stage):
    name: ClassVar[str] = "near_dedup"

    def __init__(self, cfg: NearDedupConfig, signatures: Signatures | None = None):
        self.cfg = cfg
        self._signatures = signatures or minhash_values  # an executor may compute them in parallel
        self.summary: dict[str, Any] = {}

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        dropped: set[int] = set()
        for table, members in by_table(docs).items():
            drops, stats = self._dedup(sorted(members, key=lambda d: d.id))
            for d, kept, reason in drops:
                dropped.add(id(d))
                ctx.drop(d, self.name, reason, kept.id)
            self.summary[table] = {**stats, "dropped": len(drops)}
        return [d for d in docs if id(d) not in dropped]

    def _dedup(self, docs: list[Doc]) -> tuple[list[tuple[Doc, Doc, str]], dict[str, int]]:
        from datasketch import MinHashLSH

        cfg = self.cfg
        values = self._signatures([d.text for d in docs], cfg.ngram, cfg.num_perm)
        # Texts without a single word have nothing to compare: exact dedup is what catches them.
        idx = [i for i, v in enumerate(values) if v is not None]
        mhs = [values[i] for i in idx]
        # Every LSH candidate is confirmed by its estimated Jaccard below, so a false candidate costs one
        # comparison while a missed pair is a duplicate kept: weigh the band choice towards recall. At
        # threshold 0.8 with 128 permutations a pair at Jaccard 0.85 is missed 2.5 % of the time instead of 31 %.
        lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm, weights=(0.1, 0.9))
        with lsh.insertion_session() as batch:
            for k, m in enumerate(mhs):
                batch.insert(k, m, check_duplication=False)
        comps = _Components(len(mhs))
        neighbours: dict[int, list[tuple[float, int]]] = defaultdict(list)
        pairs = 0
        for k, m in enumerate(mhs):
            for other in lsh.query(m):
                if other <= k:
                    continue
                jac = m.jaccard(mhs[other])
                if jac >= cfg.threshold:
                    pairs += 1
                    comps.union(k, other)
                    neighbours[k].append((jac, other))
                    neighbours[other].append((jac, k))
        members: dict[int, list[int]] = defaultdict(list)
        for k in range(len(mhs)):
            members[comps.find(k)].append(k)
        out = []
        groups = [g for g in members.values() if len(g) > 1]
        for group in groups:
            keep = min(group, key=lambda k: keep_rank(docs[idx[k]], self.cfg.keep_by))
            for k in group:
                if k == keep:
                    continue
                jac = mhs[k].jaccard(mhs[keep])
                reason = (
                    f"near-duplicate of {docs[idx[keep]].id}: estimated Jaccard {jac:.2f} "
                    f"(threshold {cfg.threshold}, word {cfg.ngram}-grams)"
                )
                if jac < cfg.threshold:
                    # Joined through other members: name the closest one too.
                    best, via = max(neighbours[k])
                    reason += f"; group of {len(group)} joined via {docs[idx[via]].id} at {best:.2f}"
                out.append((docs[idx[k]], docs[idx[keep]], reason))
        return out, {"in": len(docs), "pairs": pairs, "groups": len(groups), "no_words": len(docs) - len(idx)}
