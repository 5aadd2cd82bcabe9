"""Semantic dedup: sentence embeddings + FAISS nearest neighbours, duplicate groups as connected components.

Within each table (a problem and its trace are never duplicates), every record's text is embedded
(synth.quality.embed) and its `k` nearest neighbours searched; a pair with cosine ≥ `threshold` is an edge,
and the edges join records into connected components. One member per component is kept — the best by the
`keep_by` scores in order (a missing score ranks lowest), then the longest text, then the smallest id — and
every other member is dropped with `duplicate_of` = the kept one, so both records of a pair are never dropped
and a duplicate always points at a record that survives.

Index: exact inner product (`flat`) up to `exact_max` vectors, else IVF (`auto`: at 100k vectors it builds
and searches faster than HNSW, docs/benchmarks.md) — or whichever `index:` names. `IVF_NPROBE` and
`HNSW_EF_SEARCH` were chosen on planted duplicates so that ≥ 98% of the pairs exact search finds are found.

Incremental mode (`index_dir`): per table, `index_dir/<table>/` holds the index of earlier runs' kept records,
their ids and the model that embedded them. New records that duplicate an earlier one are dropped (earlier
records are never dropped; a record whose id is already indexed is the same record and is kept), the rest are
deduped among themselves, and the kept ones are added to the index, which is replaced atomically. An index
built with another model or dimension is refused. One writer at a time per `index_dir`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from synth.quality.base import Doc, Stage, StageContext
from synth.quality.config import SemanticDedupConfig
from synth.quality.dedup import by_table, keep_rank

if TYPE_CHECKING:
    import numpy as np

    from synth.quality.embed import Embedder

IVF_NPROBE = 8
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 64
SEARCH_BLOCK = 65_536  # queries per search call: bounds the (block, k) result arrays


class IndexMismatch(ValueError):
    """A saved index was built with another embedding model or dimension."""


# ------------------------------------------------------------------------------------------- the index


def index_kind(n: int, cfg: SemanticDedupConfig) -> str:
    if cfg.index != "auto":
        return cfg.index
    return "flat" if n <= cfg.exact_max else "ivf"


def build_index(
    vecs: np.ndarray, kind: str, *, nprobe: int = IVF_NPROBE, ef_search: int = HNSW_EF_SEARCH
) -> Any:
    """A FAISS inner-product index over `vecs` (unit rows, so inner product = cosine)."""
    import faiss
    import numpy as np

    n, d = vecs.shape
    index: Any
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "ivf":
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))  # faiss wants ≥ 39 training points per list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        # k-means on a sample: 40 points per centroid (faiss asks for 39) and 10 iterations place the lists
        # well enough for near-duplicates, which sit next to each other, at a fraction of the default's cost.
        index.cp.niter = 10
        index.cp.max_points_per_centroid = 40
        sample = vecs
        if n > 40 * nlist:
            rng = np.random.default_rng(0)
            sample = vecs[np.sort(rng.choice(n, 40 * nlist, replace=False))]
        index.train(sample)
        index.nprobe = min(nprobe, nlist)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = ef_search
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    index.add(vecs)
    return index


def search_pairs(
    index: Any, queries: np.ndarray, k: int, threshold: float, self_search: bool = True
) -> np.ndarray:
    """Rows (i, j, cosine), cosine ≥ threshold, for query i and each of its k nearest neighbours j in `index`.
    `self_search`: the queries are the index's own vectors in order, so a query's hit on itself is skipped."""
    import numpy as np

    k = min(k + 1 if self_search else k, index.ntotal)  # +1: a query in the index finds itself first
    out = [np.zeros((0, 3))]
    for s in range(0, len(queries), SEARCH_BLOCK):
        sims, nbrs = index.search(queries[s : s + SEARCH_BLOCK], k)
        rows = np.broadcast_to(np.arange(s, s + len(sims))[:, None], nbrs.shape)
        mask = (nbrs >= 0) & (sims >= threshold)
        if self_search:
            mask &= nbrs != rows
        out.append(np.stack([rows[mask], nbrs[mask], sims[mask]], axis=1))
    return np.concatenate(out)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Component label of each of n nodes joined by the (i, j, ·) rows of `pairs`."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return np.arange(n)
    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def unique_pairs(pairs: np.ndarray) -> int:
    import numpy as np

    if len(pairs) == 0:
        return 0
    a = np.minimum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    b = np.maximum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    return len(np.unique(a * (int(b.max()) + 1) + b))


# ------------------------------------------------------------------------------------ the saved index


@dataclass
class SavedIndex:
    index: Any
    ids: list[str]
    model: str
    dim: int

    @staticmethod
    def load(folder: Path, model: str, dim: int) -> SavedIndex | None:
        import faiss

        if not folder.exists():
            old = _old_dirs(folder)  # a replacement interrupted between its two renames
            if not old:
                return None
            old[-1].rename(folder)
        meta = json.loads((folder / "meta.json").read_text())
        if meta["model"] != model or meta["dim"] != dim:
            raise IndexMismatch(
                f"{folder}: the saved index was built with model {meta['model']!r} ({meta['dim']}-d), "
                f"not {model!r} ({dim}-d); use the same model, or another index_dir"
            )
        ids = (folder / "ids.txt").read_text().splitlines()
        index = faiss.read_index(str(folder / "index.faiss"))
        _tune(index)
        if index.ntotal != len(ids) or index.d != dim:
            raise ValueError(f"{folder}: index holds {index.ntotal} vectors but ids.txt {len(ids)} ids")
        return SavedIndex(index, ids, model, dim)

    def save(self, folder: Path) -> None:
        """Write index, ids and metadata to a fresh folder, then swap it in (a reader sees old or new)."""
        import faiss

        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-new-", dir=folder.parent))
        try:
            faiss.write_index(self.index, str(tmp / "index.faiss"))
            (tmp / "ids.txt").write_text("".join(f"{i}\n" for i in self.ids))
            meta = {
                "model": self.model,
                "dim": self.dim,
                "count": len(self.ids),
                "index": _kind_of(self.index),
            }
            (tmp / "meta.json").write_text(json.dumps(meta) + "\n")
            if folder.exists():
                old = folder.parent / f".{folder.name}-old-{os.getpid()}-{time.time_ns()}"
                folder.rename(old)
                tmp.rename(folder)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _old_dirs(folder: Path) -> list[Path]:
    if not folder.parent.exists():
        return []
    return sorted(folder.parent.glob(f".{folder.name}-old-*"), key=lambda p: p.stat().st_mtime)


def _tune(index: Any) -> None:
    """Search-time settings (not all survive a save): the ones the benchmark chose."""
    import faiss

    if _kind_of(index) == "ivf":
        faiss.extract_index_ivf(index).nprobe = min(IVF_NPROBE, faiss.extract_index_ivf(index).nlist)
    elif _kind_of(index) == "hnsw":
        index.hnsw.efSearch = HNSW_EF_SEARCH


def _kind_of(index: Any) -> str:
    name = type(index).__name__
    return "ivf" if "IVF" in name else "hnsw" if "HNSW" in name else "flat"


def _grow(saved: SavedIndex, vecs: np.ndarray, cfg: SemanticDedupConfig) -> Any:
    """The saved index with `vecs` added; a flat index that outgrows `exact_max` is rebuilt approximate."""
    import numpy as np

    total = saved.index.ntotal + len(vecs)
    if _kind_of(saved.index) == "flat" and index_kind(total, cfg) != "flat":
        old = saved.index.reconstruct_n(0, saved.index.ntotal) if saved.index.ntotal else vecs[:0]
        return build_index(np.concatenate([old, vecs]), index_kind(total, cfg))
    if len(vecs):
        saved.index.add(vecs)
    return saved.index


# ---------------------------------------------------------------------------------------------- the stage


class FaissDedupFilter(Stage):
    name: ClassVar[str] = "semantic_dedup"

    def __init__(self, cfg: SemanticDedupConfig, embedder: Embedder | None = None):
        self.cfg = cfg
        self._embedder = embedder  # tests inject a fake; otherwise loaded on first use
        self.summary: dict[str, Any] = {}

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from synth.quality.embed import load_embedder

            self._embedder = load_embedder(self.cfg.model)
        return self._embedder

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        dropped: set[int] = set()
        for table, members in by_table(docs).items():
            members = sorted(members, key=lambda d: d.id)
            # Embedding and search are seconds to minutes of CPU: off the event loop.
            drops, stats = await asyncio.to_thread(self._dedup_table, table, members)
            for d, kept_id, reason in drops:
                dropped.add(id(d))
                ctx.drop(d, self.name, reason, kept_id)
            self.summary[table] = stats
        return [d for d in docs if id(d) not in dropped]

    def _dedup_table(self, table: str, docs: list[Doc]) -> tuple[list[tuple[Doc, str, str]], dict[str, Any]]:
        import numpy as np

        cfg, emb = self.cfg, self.embedder
        t0 = time.perf_counter()
        vecs = np.ascontiguousarray(emb.encode([d.text for d in docs], batch_size=cfg.batch_size), np.float32)
        assert vecs.shape == (len(docs), emb.dim), f"embedder returned {vecs.shape} for {len(docs)} texts"
        stats: dict[str, Any] = {"in": len(docs), "model": emb.name, "threshold": cfg.threshold}
        stats["embed_s"] = round(time.perf_counter() - t0, 3)
        drops: list[tuple[Doc, str, str]] = []

        saved = None
        folder = cfg.index_dir / table if cfg.index_dir is not None else None
        new = np.arange(len(docs))
        if folder is not None:
            saved = SavedIndex.load(folder, emb.name, emb.dim)
            if saved is None:
                saved = SavedIndex(build_index(vecs[:0], "flat"), [], emb.name, emb.dim)
            stats["earlier"] = len(saved.ids)
            known = set(saved.ids)
            new = np.array([i for i, d in enumerate(docs) if d.id not in known], dtype=np.int64)
            stats["already_indexed"] = len(docs) - len(new)
            if saved.index.ntotal and len(new):
                t = time.perf_counter()
                # The nearest earlier record is the one to point at; any match above the threshold drops.
                hits = search_pairs(saved.index, vecs[new], 1, cfg.threshold, self_search=False)
                stats["earlier_search_s"] = round(time.perf_counter() - t, 3)
                is_dup = np.zeros(len(new), dtype=bool)
                for q, j, sim in hits:
                    is_dup[int(q)] = True
                    earlier = saved.ids[int(j)]
                    drops.append(
                        (docs[new[int(q)]], earlier, f"cosine {sim:.3f} to {earlier} (an earlier run)")
                    )
                new = new[~is_dup]
            stats["dropped_vs_earlier"] = len(drops)

        sub = vecs[new]
        kind = index_kind(len(sub), cfg)
        t = time.perf_counter()
        index = build_index(sub, kind) if len(sub) else None
        stats["index"] = kind
        stats["index_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        pairs = search_pairs(index, sub, cfg.k, cfg.threshold) if index is not None else np.zeros((0, 3))
        stats["search_s"] = round(time.perf_counter() - t, 3)
        stats["pairs"] = unique_pairs(pairs)

        labels = components(len(sub), pairs)
        groups: dict[int, list[int]] = defaultdict(list)
        for k in np.unique(pairs[:, :2].astype(np.int64)) if len(pairs) else []:
            groups[int(labels[k])].append(int(k))
        stats["components"] = len(groups)
        keep_new = np.ones(len(sub), dtype=bool)
        for group in groups.values():
            keep = min(group, key=lambda k: keep_rank(docs[new[k]], cfg.keep_by))
            kept = docs[new[keep]]
            for k in group:
                if k == keep:
                    continue
                keep_new[k] = False
                sim = float(sub[k] @ sub[keep])
                via = f" (duplicate group of {len(group)})" if len(group) > 2 else ""
                drops.append((docs[new[k]], kept.id, f"cosine {sim:.3f} to {kept.id}{via}"))
        stats["dropped"] = len(drops)

        if saved is not None and folder is not None:
            t = time.perf_counter()
            kept_new = new[keep_new]
            saved.index = _grow(saved, vecs[kept_new], cfg)
            saved.ids += [docs[i].id for i in kept_new]
            saved.save(folder)
            stats["saved"] = len(saved.ids)
            stats["save_s"] = round(time.perf_counter() - t, 3)
        return drops, stats
