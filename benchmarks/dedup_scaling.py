"""Semantic dedup after embedding: FAISS build + k=10 search + components at 10k / 100k (/ 1M) 384-d vectors.

Synthetic unit vectors shaped like sentence embeddings of one domain: n/1000 topic centres, each vector its
centre plus as much noise again (two vectors of one topic have cosine ≈ 0.5, as two unrelated medical texts
under MiniLM), and 5% of the vectors replaced by a near-duplicate of another vector at cosine 0.90-0.99.
With the threshold at 0.9 the duplicate pairs are exactly the planted ones (checked by exact search where it
is affordable). For each index (flat = exact IndexFlatIP; ivf = IndexIVFFlat, nlist ≈ 4√n; hnsw =
IndexHNSWFlat, M = 32) it reports build and search time, the recall of the planted pairs, the resident memory
the index added, and for ivf / hnsw the recall at other nprobe / efSearch values (search again, same index).
Everything runs on `--threads` FAISS threads (2: the size of the machine this was written on).

At 1M, exact search of all vectors is hours: flat is timed on `--exact-queries` queries against the full index
and extrapolated (marked ~), and HNSW is skipped unless `--kinds` names it (its build is the slow part).

Run from the repository root:
    python benchmarks/dedup_scaling.py [--sizes 10000,100000] [--million] [--kinds flat,ivf,hnsw] [--threads 2]
Prints a Markdown report and writes it, with the raw JSON, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks._procs import write_results  # noqa: E402
from synth.quality import semantic  # noqa: E402

DIM = 384
THRESHOLD = 0.9


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def make_vectors(n: int, seed: int, dup_frac: float = 0.05) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(10, n // 1000), DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        v = centres[rng.integers(0, len(centres), m)] + rng.standard_normal(
            (m, DIM), dtype=np.float32
        ) / np.sqrt(DIM)
        x[s : s + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    n_dup = int(n * dup_frac)
    perm = rng.permutation(n)
    src, dst = perm[:n_dup], perm[n_dup : 2 * n_dup]  # each duplicate replaces a vector of its own
    cos = rng.uniform(0.90, 0.99, n_dup).astype(np.float32)
    noise = rng.standard_normal((n_dup, DIM), dtype=np.float32)
    noise -= np.sum(noise * x[src], axis=1, keepdims=True) * x[src]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    x[dst] = cos[:, None] * x[src] + np.sqrt(1 - cos**2)[:, None] * noise
    x[dst] /= np.linalg.norm(x[dst], axis=1, keepdims=True)
    return x, {(int(min(a, b)), int(max(a, b))) for a, b in zip(src, dst, strict=True)}


def pair_set(pairs: np.ndarray) -> set[tuple[int, int]]:
    return {(int(min(i, j)), int(max(i, j))) for i, j, _ in pairs}


def run_kind(
    x: np.ndarray, kind: str, truth: set[tuple[int, int]], k: int, exact_queries: int | None
) -> dict[str, Any]:
    import faiss

    n = len(x)
    before = rss_mb()
    t = time.perf_counter()
    index = semantic.build_index(x, kind)
    build = time.perf_counter() - t
    mem = rss_mb() - before
    r: dict[str, Any] = {"kind": kind, "n": n, "build_s": build, "index_mb": mem}
    if kind == "flat" and exact_queries and exact_queries < n:
        q = np.arange(exact_queries)
        t = time.perf_counter()
        sims, nbrs = index.search(x[q], k + 1)
        secs = time.perf_counter() - t
        found = {
            (int(min(i, j)), int(max(i, j)))
            for i, row, srow in zip(q, nbrs, sims, strict=True)
            for j, s in zip(row, srow, strict=True)
            if j != i and s >= THRESHOLD
        }
        sub_truth = {p for p in truth if p[0] < exact_queries or p[1] < exact_queries}
        r.update(
            search_s=secs * n / exact_queries,
            extrapolated=True,
            recall=len(found & sub_truth) / max(len(sub_truth), 1),
        )
        r["exact_found_outside_planted"] = len(found - truth)
        return r
    t = time.perf_counter()
    pairs = semantic.search_pairs(index, x, k, THRESHOLD)
    r["search_s"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = semantic.components(n, pairs)
    r["components_s"] = time.perf_counter() - t
    r["groups"] = len(np.unique(labels[np.unique(pairs[:, :2].astype(np.int64))])) if len(pairs) else 0
    found = pair_set(pairs)
    r["recall"] = len(found & truth) / len(truth)
    r["found_outside_planted"] = len(found - truth)
    sweep = {}
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        r["nlist"] = ivf.nlist
        for nprobe in (4, 8, 32):
            ivf.nprobe = nprobe
            t = time.perf_counter()
            got = pair_set(semantic.search_pairs(index, x, k, THRESHOLD))
            sweep[f"nprobe={nprobe}"] = {
                "search_s": time.perf_counter() - t,
                "recall": len(got & truth) / len(truth),
            }
    if kind == "hnsw" and n <= 200_000:
        for ef in (16, 32, 128):
            index.hnsw.efSearch = ef
            t = time.perf_counter()
            got = pair_set(semantic.search_pairs(index, x, k, THRESHOLD))
            sweep[f"efSearch={ef}"] = {
                "search_s": time.perf_counter() - t,
                "recall": len(got & truth) / len(truth),
            }
    r["sweep"] = sweep
    r["total_s"] = build + r["search_s"] + r["components_s"]
    del index
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument(
        "--million", action="store_true", help="add the 1M run (flat subsampled; ~5-10 min on 2 cores)"
    )
    ap.add_argument("--kinds", default="flat,ivf,hnsw")
    ap.add_argument("--million-hnsw", action="store_true", help="also build HNSW at 1M (slow on 2 cores)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--exact-queries", type=int, default=5000, help="flat queries timed at 1M")
    args = ap.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.million else [])
    rows: list[dict[str, Any]] = []
    load = os.getloadavg()
    for n in sizes:
        x, truth = make_vectors(n, seed=n)
        for kind in args.kinds.split(","):
            if n >= 1_000_000 and kind == "hnsw" and not args.million_hnsw:
                continue
            r = run_kind(x, kind, truth, args.k, args.exact_queries if n >= 1_000_000 else None)
            r["planted_pairs"] = len(truth)
            r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "sweep"}, default=str), flush=True)
        del x
    load_after = os.getloadavg()

    lines = [
        f"# Semantic dedup after embedding: {DIM}-d, threshold {THRESHOLD}, k={args.k}, {args.threads} FAISS threads",
        "",
        f"Load average before / after: {load[0]:.2f} / {load_after[0]:.2f} (other work on the same 2 cores adds noise).",
        "",
        "| vectors | index | build s | search s | components s | total s | recall of dup pairs | RSS added by index MB | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ext = "~" if r.get("extrapolated") else ""
        comp = f"{r['components_s']:.2f}" if "components_s" in r else "-"
        total = f"{r['total_s']:.1f}" if "total_s" in r else f"~{r['build_s'] + r['search_s']:.0f}"
        lines.append(
            f"| {r['n']:,} | {r['kind']}{' (nlist ' + str(r['nlist']) + ')' if 'nlist' in r else ''} | {r['build_s']:.1f} "
            f"| {ext}{r['search_s']:.1f} | {comp} | {total} | {100 * r['recall']:.2f}% | {r['index_mb']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    sweeps = [(r, k, v) for r in rows for k, v in r.get("sweep", {}).items()]
    if sweeps:
        lines += [
            "",
            "Search-time setting sweeps (same index, search again):",
            "",
            "| vectors | index | setting | search s | recall |",
            "|---|---|---|---|---|",
        ]
        for r, k, v in sweeps:
            lines.append(
                f"| {r['n']:,} | {r['kind']} | {k} | {v['search_s']:.1f} | {100 * v['recall']:.2f}% |"
            )
    lines += [
        "",
        f"Defaults in synth/quality/semantic.py: nprobe={semantic.IVF_NPROBE}, efSearch={semantic.HNSW_EF_SEARCH}.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    write_results("dedup_scaling", report, {"load": [load, load_after], "rows": rows})


if __name__ == "__main__":
    main()
