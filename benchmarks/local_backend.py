"""Throughput of the `local` backend on the embedded model: batch 1 against batch N, with and without grammar.

Each case sends the same N requests (prompts varying by specialty, fixed seeds): at batch 1 one after another
through a backend with max_batch_size=1, at batch N all at once through a backend with max_batch_size=N. The
"json" cases ask for a small nested schema (grammar-constrained decoding), the "text" cases for free text.
One model load serves all cases; a short warm-up runs first.

    python benchmarks/local_backend.py                  # N=8, max_tokens=96
    python benchmarks/local_backend.py --n 8 --max-tokens 96 --threads 1 --json out.json

Reported per case: wall time, completion tokens, completion tokens/s, generate calls, and for json cases how
many outputs validate. CPU figures move a lot with other load on the machine: the load average is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from synth.teachers.base import Request, SamplingParams  # noqa: E402
from synth.teachers.config import LocalTeacherConfig  # noqa: E402
from synth.teachers.local_backend import LocalBackend  # noqa: E402

SPECIALTIES = [
    "cardiology",
    "neurology",
    "pulmonology",
    "nephrology",
    "dermatology",
    "oncology",
    "rheumatology",
]


class Finding(BaseModel):
    name: str = Field(max_length=16)
    present: bool


class Case(BaseModel):
    diagnosis: str = Field(max_length=32)
    urgency: Literal["low", "medium", "high"]
    age: int = Field(ge=0, le=110)
    findings: list[Finding] = Field(max_length=2)


def _requests(n: int, max_tokens: int, structured: bool) -> list[Request]:
    out = []
    for i in range(n):
        topic = SPECIALTIES[i % len(SPECIALTIES)]
        text = (
            f"Describe a typical {topic} patient as JSON."
            if structured
            else f"Write a detailed paragraph about a typical {topic} patient."
        )
        out.append(
            Request(
                messages=({"role": "user", "content": text},),
                params=SamplingParams(temperature=0.7, max_tokens=max_tokens, seed=i),
                json_schema=Case.model_json_schema() if structured else None,
            )
        )
    return out


async def _case(backend: LocalBackend, batch: int, requests: list[Request]) -> dict:
    backend.cfg.max_batch_size = batch
    calls = backend.stats.batches
    t0 = time.perf_counter()
    if batch == 1:
        outs = [await backend.generate(r) for r in requests]
    else:
        outs = await asyncio.gather(*(backend.generate(r) for r in requests))
    wall = time.perf_counter() - t0
    tokens = sum(o.completion_tokens for o in outs)
    valid = None
    if requests[0].json_schema is not None:
        valid = 0
        for o in outs:
            try:
                Case.model_validate_json(o.text)
                valid += 1
            except ValidationError:
                pass
    return {
        "batch": batch,
        "structured": requests[0].json_schema is not None,
        "requests": len(requests),
        "wall_s": round(wall, 2),
        "completion_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 1),
        "generate_calls": backend.stats.batches - calls,
        "length_stops": sum(o.finish_reason == "length" for o in outs),
        "valid": valid,
    }


async def main(n: int, max_tokens: int) -> list[dict]:
    backend = LocalBackend(LocalTeacherConfig(backend="local", max_batch_size=n))
    t0 = time.perf_counter()
    await backend.start()
    print(f"load {time.perf_counter() - t0:.1f}s  load average {os.getloadavg()[0]:.2f}", flush=True)
    await backend.generate(_requests(1, 8, structured=True)[0])  # warm-up: kernels and grammar compile
    results = []
    for structured in (False, True):
        for batch in (1, n):
            r = await _case(backend, batch, _requests(n, max_tokens, structured))
            r["load_average"] = round(os.getloadavg()[0], 2)
            print(json.dumps(r), flush=True)
            results.append(r)
    await backend.aclose()
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--n", type=int, default=8, help="requests per case, and the batch size of the batched case"
    )
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads (1 avoids thrashing when other processes share the CPU)",
    )
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    res = asyncio.run(main(args.n, args.max_tokens))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
