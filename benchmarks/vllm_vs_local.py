"""The demo workload on the embedded model: the `local` (transformers) backend against in-process vLLM.

N concurrent structured-output requests, each asking for a medical case card as JSON (a ~10-field schema with
lists), prompts varying by specialty. Each backend runs in a fresh subprocess, one after the other (never two
engines at once), so start-up includes its own imports and neither profits from the other's warm caches.

    python benchmarks/vllm_vs_local.py                 # both backends, N=16, max_tokens=300
    python benchmarks/vllm_vs_local.py --n 32 --rounds 2 --backends vllm

Reported per backend: start-up (imports + model load + engine warm-up), wall time of the workload, completion
tokens/s, requests/s, how many outputs validate against the schema and how many hit max_tokens, peak memory, and
the total start-up + workload — what a user of the ~16-item demo waits for. Raw results go to
benchmarks/results/vllm_vs_local.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SPECIALTIES = [
    "cardiology",
    "pulmonology",
    "neurology",
    "gastroenterology",
    "endocrinology",
    "nephrology",
    "infectious disease",
    "rheumatology",
    "haematology",
    "dermatology",
    "paediatrics",
    "obstetrics",
    "psychiatry",
    "urology",
    "emergency medicine",
    "geriatrics",
]


class LabResult(BaseModel):
    name: str
    value: str


class CaseCardDemo(BaseModel):
    """A compact case card: what the demo asks a teacher to invent."""

    specialty: str
    age: int = Field(ge=0, le=110)
    sex: Literal["female", "male"]
    chief_complaint: str
    history: str
    symptoms: list[str] = Field(min_length=1, max_length=6)
    exam_findings: list[str] = Field(max_length=5)
    test_results: list[LabResult] = Field(max_length=4)
    final_diagnosis: str
    differential: list[str] = Field(min_length=1, max_length=4)


def requests_for(n: int, max_tokens: int) -> list:
    from synth.teachers.base import Request, SamplingParams

    schema = CaseCardDemo.model_json_schema()
    out = []
    for i in range(n):
        specialty = SPECIALTIES[i % len(SPECIALTIES)]
        out.append(
            Request(
                messages=(
                    {
                        "role": "system",
                        "content": "You write realistic, concise clinical case cards as JSON.",
                    },
                    {
                        "role": "user",
                        "content": f"Write a case card for a {specialty} patient: age, sex, chief complaint, "
                        "a one-sentence history, symptoms, exam findings, test results, the final diagnosis "
                        "and a short differential.",
                    },
                ),
                params=SamplingParams(temperature=0.7, top_p=0.95, max_tokens=max_tokens, seed=i),
                json_schema=schema,
                schema_name="CaseCardDemo",
            )
        )
    return out


def make_backend(kind: str):
    if kind == "local":
        from synth.teachers.config import LocalTeacherConfig
        from synth.teachers.local_backend import LocalBackend

        return LocalBackend(LocalTeacherConfig(backend="local"))
    from synth.teachers.config import VLLMTeacherConfig
    from synth.teachers.vllm_backend import VLLMBackend

    # enforce_eager: on CPU, graph capture and compilation cost more start-up than a demo ever wins back.
    return VLLMBackend(VLLMTeacherConfig(backend="vllm", enforce_eager=True, max_model_len=2048))


async def run_one(kind: str, n: int, max_tokens: int, rounds: int) -> dict:
    t0 = time.perf_counter()
    backend = make_backend(kind)
    await backend.start()
    startup = time.perf_counter() - t0
    print(f"{kind}: started in {startup:.1f} s", file=sys.stderr, flush=True)
    results: dict = {"backend": kind, "n": n, "max_tokens": max_tokens, "startup_s": startup, "rounds": []}
    try:
        for _ in range(rounds):
            reqs = requests_for(n, max_tokens)
            t1 = time.perf_counter()
            outs = await asyncio.gather(*(backend.generate(r) for r in reqs))
            wall = time.perf_counter() - t1
            valid = 0
            for o in outs:
                try:
                    CaseCardDemo.model_validate_json(o.text)
                    valid += 1
                except ValidationError:
                    pass
            completion = sum(o.completion_tokens for o in outs)
            results["rounds"].append(
                {
                    "wall_s": wall,
                    "completion_tokens": completion,
                    "prompt_tokens": sum(o.prompt_tokens for o in outs),
                    "completion_tok_per_s": completion / wall,
                    "requests_per_s": n / wall,
                    "valid": valid,
                    "truncated": sum(o.finish_reason == "length" for o in outs),
                }
            )
            print(f"{kind}: {results['rounds'][-1]}", file=sys.stderr, flush=True)
    finally:
        await backend.aclose()
    # ru_maxrss is in KiB on Linux; children covers vLLM's engine-core process.
    results["peak_rss_gib"] = {
        "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
    }
    return results


def table(results: list[dict]) -> str:
    lines = [
        "| backend | start-up s | workload wall s | completion tok/s | req/s | valid | hit max_tokens "
        "| start-up + workload s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        first = r["rounds"][0]
        lines.append(
            f"| {r['backend']} | {r['startup_s']:.1f} | {first['wall_s']:.1f} | {first['completion_tok_per_s']:.1f} "
            f"| {first['requests_per_s']:.2f} | {first['valid']}/{r['n']} | {first['truncated']} "
            f"| {r['startup_s'] + first['wall_s']:.1f} |"
        )
        for i, extra in enumerate(r["rounds"][1:], start=2):
            lines.append(
                f"| {r['backend']} (round {i}, warm) | – | {extra['wall_s']:.1f} | "
                f"{extra['completion_tok_per_s']:.1f} | {extra['requests_per_s']:.2f} | {extra['valid']}/{r['n']} "
                f"| {extra['truncated']} | – |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16, help="concurrent requests")
    ap.add_argument("--max-tokens", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=1, help="workload repetitions after one start-up")
    ap.add_argument("--backends", default="local,vllm", help="comma-separated, run in this order")
    ap.add_argument(
        "--json",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "vllm_vs_local.json",
        help="raw results",
    )
    ap.add_argument("--only", choices=["local", "vllm"], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    if args.only:
        res = asyncio.run(run_one(args.only, args.n, args.max_tokens, args.rounds))
        args.out.write_text(json.dumps(res))
        return

    results = []
    for kind in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            cmd = [sys.executable, __file__, "--only", kind, "--out", str(out), "--n", str(args.n)]
            cmd += ["--max-tokens", str(args.max_tokens), "--rounds", str(args.rounds)]
            print(f"running {kind} ...", file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True)
            results.append(json.loads(out.read_text()))
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"raw results: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
