"""Embedding throughput on CPU: sentences/s for ~60-word and ~300-word medical texts, per embedder.

Embedders: the embedded all-MiniLM-L6-v2 through sentence-transformers (torch) at batch sizes 16 and 64, whole
text (window by window) and first window only; the same model exported to ONNX with int8 weights on ONNX
Runtime (synth/quality/embed_onnx.py, the CPU default; its one-off export is timed apart); and
`minilm-static`, the static model distilled from it (synth/quality/embed.py; distillation timed apart).
Besides texts per wall-clock second, each row gives texts per CPU-second of this process: on a shared machine
the wall clock measures the neighbours too, the CPU time much less so. Texts are built from the
shipped seed cases (patient answers and exam results, joined until the word count is reached). torch and
the tokenizers use `--threads` threads (2 here).

Run from the repository root:
    python benchmarks/embedding_throughput.py [--n60 512] [--n300 192] [--threads 2]
Prints a Markdown report and writes it, with the raw JSON, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._procs import write_results  # noqa: E402


def texts(n: int, words: int, seed: int) -> list[str]:
    pieces: list[str] = []
    for path in sorted((ROOT / "datasets" / "seeds" / "cases").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            card = json.loads(line)
            pieces += [card["opening_statement"]] + [f["lay_text"] for f in card["facts"]]
            pieces += [f"{e['name']}: {e['result']}" for e in card["exam"] + card["tests"]]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            parts.append(rng.choice(pieces))
        out.append(" ".join(" ".join(parts).split()[:words]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n60", type=int, default=512)
    ap.add_argument("--n300", type=int, default=192)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # the tokenizers' thread pool
    import torch

    torch.set_num_threads(args.threads)
    from schemas.embedded import embedded_minilm_path
    from synth.quality.embed import (
        StaticEmbedder,
        TransformerEmbedder,
        static_model_path,
    )
    from synth.quality.embed_onnx import OnnxEmbedder, onnx_model_path

    sets = {60: texts(args.n60, 60, 1), 300: texts(args.n300, 300, 2)}
    t = time.perf_counter()
    static_path = static_model_path()
    distill_s = time.perf_counter() - t
    minilm = TransformerEmbedder(str(embedded_minilm_path()), name="all-MiniLM-L6-v2")
    first = TransformerEmbedder(str(embedded_minilm_path()), name="first-window", max_windows=1)
    first.model = minilm.model  # same weights, no second load
    static = StaticEmbedder(static_path, name="minilm-static")
    t = time.perf_counter()
    onnx_path = onnx_model_path()
    export_s = time.perf_counter() - t
    onnx = OnnxEmbedder(onnx_path, name="all-MiniLM-L6-v2", threads=args.threads)
    runs: list[tuple[str, Any, int]] = [
        ("MiniLM torch, whole text", minilm, 16),
        ("MiniLM torch, whole text", minilm, 64),
        ("MiniLM torch, first window only", first, 64),
        ("MiniLM ONNX int8, whole text (CPU default)", onnx, 16),
        ("MiniLM ONNX int8, whole text (CPU default)", onnx, 64),
        ("minilm-static", static, 64),
    ]
    rows = []
    load = os.getloadavg()
    for label, emb, bs in runs:
        emb.encode(sets[60][:32], batch_size=bs)  # warm-up: first-call allocations
        row: dict[str, Any] = {"embedder": label, "batch_size": bs}
        for words, ts in sets.items():
            t, cpu = time.perf_counter(), time.process_time()
            emb.encode(ts, batch_size=bs)
            row[f"per_s_{words}"] = len(ts) / (time.perf_counter() - t)
            row[f"per_cpu_s_{words}"] = len(ts) / max(time.process_time() - cpu, 1e-9)
        rows.append(row)
        print(json.dumps(row), flush=True)
    load_after = os.getloadavg()
    windows = len(minilm.windows(sets[300])[0]) / len(sets[300])
    lines = [
        f"# Embedding throughput, {args.threads} threads (texts/s)",
        "",
        f"Load average before / after: {load[0]:.2f} / {load_after[0]:.2f}. ~300-word texts are "
        f"{windows:.2f} MiniLM windows each on average (256 word pieces). minilm-static distillation (once, "
        f"cached): {distill_s:.1f} s{' (already cached)' if distill_s < 1 else ''}; ONNX export + "
        f"quantisation (once, cached): {export_s:.1f} s{' (already cached)' if export_s < 1 else ''}.",
        "",
        "| embedder | batch | ~60 words /s | ~300 words /s | ~60 words /CPU-s | ~300 words /CPU-s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['embedder']} | {r['batch_size']} | {r['per_s_60']:.1f} | {r['per_s_300']:.1f} "
            f"| {r['per_cpu_s_60']:.1f} | {r['per_cpu_s_300']:.1f} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    write_results("embedding_throughput", report, {"load": [load, load_after], "rows": rows})


if __name__ == "__main__":
    main()
