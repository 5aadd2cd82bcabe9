"""Consultations: end-to-end throughput through the real Runner, and vLLM prefix caching turn by turn.

Two measurements of the consultation job (synth/dialogue/), each through `Runner` + `build_jobs`:

throughput  The OpenAI-compatible stub (tests/servers/openai_stub.py) runs in its own process, pinned to one core,
            answering every request after a fixed latency (100 ms). The run (openai backend, request cache on a
            temp output folder) runs in another process, pinned to the other core: ~512 consultations over the
            shipped seed cases at run concurrency 256. Turns are sequential inside a consultation, so the server
            sees at most one request per consultation in flight: the stub's in-flight count, sampled every 100 ms,
            shows whether the engine keeps the server saturated (in-flight ≈ concurrency) or is the bottleneck.
            `--latency-ms 100,250,500,1000,2000` runs the same workload once per latency (a fresh stub each) and
            adds a sweep table: the latency from which the engine keeps the server saturated.
            `--profile` samples the run with py-spy (pip install py-spy) and lists where its time goes.

prefix      The `vllm` backend in this process (embedded model, enforce_eager), a few consultations, every
            request recorded by a thin backend wrapper: per role and turn, prompt tokens against prompt tokens
            served from vLLM's prefix cache (RawCompletion.cached_prompt_tokens).

Run from the repository root:
    python benchmarks/consultations.py throughput [--per-case 8] [--concurrency 256] [--latency-ms 100[,250,...]]
                                                  [--profile]
    python benchmarks/consultations.py prefix [--cases 4] [--min-turns 4] [--max-turns 6]
    python benchmarks/consultations.py all
Each prints a Markdown table and writes it, with the raw JSON, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout: make `synth` and `tests` importable
    sys.path.insert(0, str(ROOT))

from benchmarks._procs import RESULTS, pin, proc_cpu_s, summarise_profile, write_results  # noqa: E402


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# -- throughput: the run, in its own process -------------------------------------------------------------------


def _throughput_config(args: argparse.Namespace, out: Path, url: str) -> Any:
    from synth.config import RunConfig

    return RunConfig.model_validate(
        {
            "run": {
                "output": str(out),
                "seed": 7,
                "concurrency": args.concurrency,
                "cache": {"enabled": not args.no_cache},
            },
            "teachers": {
                "default": {
                    "backend": "openai",
                    "model": "stub-model",
                    "base_url": url,
                    "api_key_env": None,
                    "max_concurrency": args.concurrency,
                    "params": {"temperature": 0.7, "max_tokens": 512},
                }
            },
            "consultations": {
                "cases": "seeds",
                "per_case": args.per_case,
                "min_turns": args.min_turns,
                "max_turns": args.max_turns,
                # the stub's differentials are arbitrary: re-asking them would measure the contract's re-asks,
                # not the consultation path, and break comparison with the figures in docs/benchmarks.md
                "snapshot_retries": 0,
            },
        }
    )


async def _throughput_run(args: argparse.Namespace) -> dict[str, Any]:
    from synth.progress import LogDisplay
    from synth.runner import Runner, build_jobs

    out = Path(tempfile.mkdtemp(prefix="consultations-bench-"))
    try:
        cfg = _throughput_config(args, out, args.url)
        jobs = build_jobs(cfg)
        (job,) = jobs
        total = job.total()
        drawn: dict[str, float] = {}
        items = job.items

        def counted_items():  # type: ignore[no-untyped-def]
            # When the last item is drawn the run starts to drain: in-flight can only fall from there on.
            yield from items()
            drawn["last"] = time.time()

        job.items = counted_items  # type: ignore[method-assign]
        runner = Runner(cfg, display=LogDisplay(every_s=5.0, stream=sys.stderr), argv=["benchmark"])
        ru0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
        result = await runner.run(jobs)
        t1, ru1 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
        (res,) = result.jobs
        stats = [t.stats for t in runner.teachers.values()]
        return {
            "consultations": total,
            "done": res.done,
            "quarantined": res.quarantined,
            "failures": dict(res.failures),
            "t_start": t0,
            "t_end": t1,
            "t_last_drawn": drawn.get("last", t1),
            "wall_s": t1 - t0,
            "client_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "peak_rss_mib": ru1.ru_maxrss / 1024,
            "requests": sum(s.requests for s in stats),
            "cache_hits": sum(s.cache_hits for s in stats),
            "reasks": sum(s.reasks for s in stats),
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


# -- throughput: the orchestrator ------------------------------------------------------------------------------


def _sample_stats(
    base: str, stop: threading.Event, samples: list[tuple[float, int, int]], every_s: float
) -> None:
    url = base.rsplit("/v1", 1)[0] + "/stats"
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                stats = json.load(resp)
                samples.append((time.time(), int(stats["in_flight"]), int(stats["total"])))
        except OSError:
            pass
        stop.wait(every_s)


def throughput_once(args: argparse.Namespace, latency_ms: float) -> dict[str, Any]:
    """One run against a fresh stub answering after `latency_ms`: the row of results."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_core, client_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    load_before = _load()
    stub_cmd = [sys.executable, "-m", "tests.servers.openai_stub", "--port", "0"]
    stub_cmd += ["--latency-ms", str(latency_ms), "--max-lifetime-s", "1200"]
    server = subprocess.Popen(stub_cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    samples: list[tuple[float, int, int]] = []
    stop = threading.Event()
    try:
        pin(server.pid, server_core)
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"stub server did not start: {url!r}"
        sampler = threading.Thread(target=_sample_stats, args=(url, stop, samples, args.sample_ms / 1000))
        sampler.start()
        cmd = [sys.executable, __file__, "throughput", "--worker", "--url", url]
        for flag in ("per_case", "concurrency", "min_turns", "max_turns"):
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        cmd += ["--no-cache"] if args.no_cache else []
        profile = None
        if args.profile:
            py_spy = shutil.which("py-spy")
            assert py_spy, "--profile needs py-spy on PATH (pip install py-spy)"
            profile = RESULTS / f"consultations-profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
            RESULTS.mkdir(parents=True, exist_ok=True)
            spy = [py_spy, "record", "--idle", "--format", "raw", "--rate", "100", "-o", str(profile), "--"]
            cmd = [*spy, *cmd]
        cpu0 = proc_cpu_s(server.pid)
        worker = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=(lambda: pin(0, client_core)) if client_core is not None else None,
        )
        out, _ = worker.communicate(timeout=900)
        server_cpu = proc_cpu_s(server.pid) - cpu0
        assert worker.returncode == 0, "the consultation run failed"
        # py-spy, when profiling, prints its own lines after the result.
        row = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
    finally:
        stop.set()
        server.kill()
        server.wait()
    row["server_cpu_pct"] = 100 * server_cpu / row["wall_s"]
    window = [n for t, n, _ in samples if row["t_start"] <= t <= row["t_end"]]
    full = [n for t, n, _ in samples if row["t_start"] <= t <= row["t_last_drawn"]]
    # The server's request rate before the run starts to drain: the steady state, free of the final tail.
    counts = [(t, total) for t, _, total in samples if row["t_start"] <= t <= row["t_last_drawn"]]
    rps = (counts[-1][1] - counts[0][1]) / (counts[-1][0] - counts[0][0]) if len(counts) > 1 else float("nan")
    mean = lambda v: statistics.fmean(v) if v else float("nan")  # noqa: E731
    row["in_flight"] = {
        **{"samples": len(window), "mean": mean(window), "p50": _pct(window, 0.5), "p90": _pct(window, 0.9)},
        **{"max": max(window, default=0), "full_phase_samples": len(full)},
        **{
            "full_phase_mean": mean(full),
            "full_phase_p50": _pct(full, 0.5),
            "full_phase_p90": _pct(full, 0.9),
            "full_phase_rps": rps,
        },
    }
    row.update(
        {k: getattr(args, k) for k in ("concurrency", "per_case", "min_turns", "max_turns", "no_cache")}
    )
    row["latency_ms"] = latency_ms
    # the raw series, for reading where in-flight dips (ramp-up, drain, bursts)
    row["in_flight_series"] = [
        (round(t - row["t_start"], 3), n) for t, n, _ in samples if row["t_start"] <= t <= row["t_end"]
    ]
    row.update(load_before=load_before, load_after=_load(), profile=str(profile) if profile else None)
    if profile is not None and profile.exists():
        row["profile_top"] = summarise_profile(profile)
    return row


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One run per latency in `--latency-ms` (a comma-separated list), the same workload each time."""
    rows = []
    for latency_ms in [float(x) for x in str(args.latency_ms).split(",") if x.strip()]:
        row = throughput_once(args, latency_ms)
        print("\n" + render_throughput(row), flush=True)
        rows.append(row)
    table = "\n".join(render_throughput(r) for r in rows)
    if len(rows) > 1:
        table = render_sweep(rows) + "\n" + table
        print("\n" + render_sweep(rows))
    raw: dict[str, Any] = rows[0] if len(rows) == 1 else {"runs": rows}
    print(f"raw results: {write_results('consultations-throughput', table, raw)}", file=sys.stderr)
    return rows


def render_throughput(r: dict[str, Any]) -> str:
    inf = r["in_flight"]
    per_consultation = r["requests"] / max(1, r["done"] + r["quarantined"])
    ideal_cpm = 60 * r["concurrency"] / max(1e-9, per_consultation * r["latency_ms"] / 1000)
    lines = [
        f"{r['consultations']} consultations (shipped seed cases × {r['per_case']}, min_turns {r['min_turns']}, "
        f"max_turns {r['max_turns']}), openai backend, run concurrency {r['concurrency']}, stub latency "
        f"{r['latency_ms']:.0f} ms; stub and run pinned to separate cores; Python {sys.version.split()[0]}; "
        f"load average (1/5/15 min) {r['load_before']} before, {r['load_after']} after.",
        "",
        "| consultations | done | quarantined | wall s | consultations/min | latency-bound limit/min "
        "| requests/consultation | requests/s | client CPU ms/request | client CPU % | server CPU % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['consultations']} | {r['done']} | {r['quarantined']} | {r['wall_s']:.1f} "
        f"| {60 * r['done'] / r['wall_s']:.0f} | {ideal_cpm:.0f} | {per_consultation:.1f} "
        f"| {r['requests'] / r['wall_s']:.0f} | {1000 * r['client_cpu_s'] / r['requests']:.2f} "
        f"| {100 * r['client_cpu_s'] / r['wall_s']:.0f} | {r['server_cpu_pct']:.0f} |",
        "",
        "| server in-flight (sampled every ~100 ms) | samples | mean | p50 | p90 | max | of concurrency |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| whole run | {inf['samples']} | {inf['mean']:.0f} | {inf['p50']:.0f} | {inf['p90']:.0f} "
        f"| {inf['max']} | {inf['mean'] / r['concurrency']:.2f} |",
        f"| until the last consultation started | {inf['full_phase_samples']} | {inf['full_phase_mean']:.0f} "
        f"| {inf['full_phase_p50']:.0f} | {inf.get('full_phase_p90', float('nan')):.0f} | – "
        f"| {inf['full_phase_mean'] / r['concurrency']:.2f} |"
        if inf["full_phase_samples"]
        else "| until the last consultation started | 0 | – | – | – | – | – |",
    ]
    if r.get("failures"):
        lines += ["", f"Quarantined by reason: {r['failures']}"]
    if r.get("profile_top"):
        lines += ["", "| where the run's time goes (py-spy, inclusive % of samples) | % |", "|---|---:|"]
        lines += [f"| `{k}` | {v} |" for k, v in r["profile_top"]["inclusive_pct"]]
    return "\n".join(lines) + "\n"


def render_sweep(rows: list[dict[str, Any]]) -> str:
    """One line per latency: where the engine keeps the server saturated and where its CPU is the limit."""
    r0 = rows[0]
    lines = [
        f"Latency sweep: {r0['consultations']} consultations (seed cases × {r0['per_case']}, min_turns "
        f"{r0['min_turns']}, max_turns {r0['max_turns']}) at run concurrency {r0['concurrency']}, one run per "
        "stub latency; in-flight is the stub's count until the last consultation started.",
        "",
        "| stub latency ms | wall s | consultations/min (whole run) | requests/s (whole run) "
        "| requests/s until the last started | consultations/min at that rate | latency-bound limit/min "
        "| requests/consultation | client CPU ms/request | client CPU % | in-flight mean / p50 / p90 "
        "| mean ÷ concurrency | load avg before |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        inf, n = r["in_flight"], max(1, r["done"] + r["quarantined"])
        per_consultation = r["requests"] / n
        ideal_cpm = 60 * r["concurrency"] / max(1e-9, per_consultation * r["latency_ms"] / 1000)
        full = inf["full_phase_samples"] > 0
        flight = (
            f"{inf['full_phase_mean']:.0f} / {inf['full_phase_p50']:.0f} / {inf['full_phase_p90']:.0f}"
            if full
            else "–"
        )
        share = f"{inf['full_phase_mean'] / r['concurrency']:.2f}" if full else "–"
        rps = inf.get("full_phase_rps", float("nan"))
        lines.append(
            f"| {r['latency_ms']:.0f} | {r['wall_s']:.1f} | {60 * r['done'] / r['wall_s']:,.0f} "
            f"| {r['requests'] / r['wall_s']:.0f} | {rps:.0f} | {60 * rps / per_consultation:,.0f} "
            f"| {ideal_cpm:,.0f} | {per_consultation:.1f} "
            f"| {1000 * r['client_cpu_s'] / r['requests']:.2f} | {100 * r['client_cpu_s'] / r['wall_s']:.0f} "
            f"| {flight} | {share} | {r['load_before'].split(' / ')[0]} |"
        )
    return "\n".join(lines) + "\n"


# -- prefix caching: the vllm backend, every request recorded --------------------------------------------------

_REASK = "That answer does not match the required JSON schema"
_LEAK = "Note: you named a diagnosis"


class RecordingBackend:
    """Wraps a backend and records, per request, the role, the turn and the prompt/cached token counts."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.kind = inner.kind
        self.model = inner.model
        self.log: list[dict[str, Any]] = []

    async def generate(self, request: Any) -> Any:
        msgs = request.messages
        users = [m["content"] for m in msgs if m["role"] == "user"]
        turns = sum(not (u.startswith(_REASK) or u.startswith(_LEAK)) for u in users)
        role = "doctor" if request.schema_name == "DoctorOutput" else "patient"
        last = users[-1] if users else ""
        kind = "reask" if last.startswith(_REASK) else "leak_retry" if last.startswith(_LEAK) else "turn"
        conversation = hashlib.sha256((msgs[0]["content"] + msgs[1]["content"]).encode()).hexdigest()[:12]
        t0 = time.perf_counter()
        raw = await self.inner.generate(request)
        self.log.append(
            {
                "role": role,
                # Doctor: one user message per turn (the opening is turn 1); the patient's history starts with
                # the canned "what brings you in" exchange, so its first real answer is turn 1.
                "turn": turns if role == "doctor" else turns - 1,
                "kind": kind,
                "conversation": f"{role}-{conversation}",
                "prompt_tokens": raw.prompt_tokens,
                "cached_prompt_tokens": raw.cached_prompt_tokens or 0,
                "completion_tokens": raw.completion_tokens,
                "finish_reason": raw.finish_reason,
                "latency_s": time.perf_counter() - t0,
            }
        )
        return raw

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _prefix_run(args: argparse.Namespace) -> dict[str, Any]:
    from synth.config import RunConfig
    from synth.progress import LogDisplay
    from synth.runner import Runner, build_jobs
    from synth.teachers.vllm_backend import VLLMBackend

    out = Path(tempfile.mkdtemp(prefix="consultations-prefix-"))
    try:
        cfg = RunConfig.model_validate(
            {
                "run": {"output": str(out), "seed": 7, "concurrency": args.cases},
                "teachers": {
                    "default": {
                        "backend": "vllm",
                        "model": "embedded",
                        "enforce_eager": True,
                        "max_model_len": 4096,
                        "engine_args": {"block_size": args.block_size} if args.block_size else {},
                        "params": {"temperature": 0.7, "max_tokens": args.doctor_max_tokens},
                    }
                },
                "consultations": {
                    "cases": "seeds",
                    "limit": args.cases,
                    "per_case": 1,
                    "min_turns": args.min_turns,
                    "max_turns": args.max_turns,
                    "doctor_params": {"temperature": 0.7, "max_tokens": args.doctor_max_tokens},
                    "patient_params": {"temperature": 0.7, "max_tokens": args.patient_max_tokens},
                },
            }
        )
        inner = VLLMBackend(cfg.teachers["default"])  # type: ignore[arg-type]
        backend = RecordingBackend(inner)
        t0 = time.perf_counter()
        await inner.start()
        startup = time.perf_counter() - t0
        engine: Any = inner._engine
        block_size = getattr(
            getattr(getattr(engine, "vllm_config", None), "cache_config", None), "block_size", None
        )
        print(f"vllm started in {startup:.1f} s (block size {block_size})", file=sys.stderr, flush=True)
        display = LogDisplay(every_s=10.0, stream=sys.stderr)
        runner = Runner(cfg, display=display, argv=["benchmark"], backends={"default": backend})
        t1 = time.perf_counter()
        res = (await runner.run(build_jobs(cfg))).jobs[0]
        wall = time.perf_counter() - t1
        stats = runner.teachers["default"].stats
        settings = ("cases", "min_turns", "max_turns", "doctor_max_tokens", "patient_max_tokens")
        return {
            **{k: getattr(args, k) for k in settings},
            "startup_s": startup,
            "wall_s": wall,
            "block_size": block_size,
            "done": res.done,
            "quarantined": res.quarantined,
            "failures": dict(res.failures),
            "teacher_prompt_tokens": stats.prompt_tokens,
            "teacher_cached_prompt_tokens": stats.cached_prompt_tokens,
            "requests": backend.log,
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def analyse_prefix(log: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (role, turn): prompt tokens, tokens served from the prefix cache, tokens computed, and the growth of
    the prompt since the same conversation's previous request (what a perfect prefix cache would compute)."""
    previous: dict[str, int] = {}
    rows: dict[tuple[str, int], dict[str, float]] = {}
    for r in log:
        prev = previous.get(r["conversation"])
        previous[r["conversation"]] = r["prompt_tokens"]
        if r["kind"] != "turn":
            continue
        row = rows.setdefault(
            (r["role"], r["turn"]), {"n": 0, "prompt": 0, "cached": 0, "growth": 0, "with_prev": 0}
        )
        row["n"] += 1
        row["prompt"] += r["prompt_tokens"]
        row["cached"] += r["cached_prompt_tokens"]
        if prev is not None:
            row["growth"] += r["prompt_tokens"] - prev
            row["with_prev"] += 1
    prompt = sum(r["prompt_tokens"] for r in log)
    cached = sum(r["cached_prompt_tokens"] for r in log)
    return {
        "requests": len(log),
        "reasks": sum(r["kind"] == "reask" for r in log),
        "leak_retries": sum(r["kind"] == "leak_retry" for r in log),
        "truncated": sum(r["finish_reason"] == "length" for r in log),
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached,
        "hit_rate": cached / prompt if prompt else float("nan"),
        "per_turn": [
            {"role": k[0], "turn": k[1], **v}
            for k, v in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0] == "patient"))
        ],
    }


def render_prefix(r: dict[str, Any]) -> str:
    a = r["analysis"]
    lines = [
        f"{r['cases']} consultations over shipped seed cases (min_turns {r['min_turns']}, max_turns "
        f"{r['max_turns']}, doctor max_tokens {r['doctor_max_tokens']}, patient max_tokens "
        f"{r['patient_max_tokens']}), vllm backend in process (embedded SmolLM2-135M-Instruct, enforce_eager, "
        f"prefix caching on, KV block size {r['block_size']}); load average (1/5/15 min) {r['load_before']} "
        f"before, {r['load_after']} after.",
        "",
        f"Engine start-up {r['startup_s']:.0f} s, run {r['wall_s']:.0f} s; {r['done']} consultations done, "
        f"{r['quarantined']} quarantined {r['failures'] or ''}; {a['requests']} requests ({a['reasks']} schema "
        f"re-asks, {a['leak_retries']} leak regenerations, {a['truncated']} cut at max_tokens). "
        f"Prompt tokens {a['prompt_tokens']}, served from the prefix cache {a['cached_prompt_tokens']}: "
        f"**hit rate {100 * a['hit_rate']:.1f} %**.",
        "",
        "| turn | role | requests | prompt tokens (mean) | from prefix cache (mean) | hit % | computed (mean) "
        "| prompt growth since the role's previous request (mean) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in a["per_turn"]:
        n = row["n"]
        growth = f"{row['growth'] / row['with_prev']:.0f}" if row["with_prev"] else "– (first request)"
        lines.append(
            f"| {row['turn']} | {row['role']} | {n} | {row['prompt'] / n:.0f} | {row['cached'] / n:.0f} "
            f"| {100 * row['cached'] / row['prompt']:.0f} | {(row['prompt'] - row['cached']) / n:.0f} | {growth} |"
        )
    return "\n".join(lines) + "\n"


def prefix(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_before = _load()
    r = asyncio.run(_prefix_run(args))
    r.update(load_before=load_before, load_after=_load())
    r["analysis"] = analyse_prefix(r["requests"])
    table = render_prefix(r)
    print("\n" + table)
    print(f"raw results: {write_results('consultations-prefix', table, r)}", file=sys.stderr)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    tp = sub.add_parser("throughput", help="consultations/min and server saturation against the stub")
    tp.add_argument("--per-case", type=int, default=8, help="consultations per seed case (64 cases)")
    tp.add_argument("--concurrency", type=int, default=256)
    tp.add_argument("--min-turns", type=int, default=10)
    tp.add_argument("--max-turns", type=int, default=12)
    tp.add_argument(
        "--latency-ms",
        default="100",
        help="stub latency per request; a comma-separated list runs one run per latency (e.g. 100,250,500,1000,2000)",
    )
    tp.add_argument("--sample-ms", type=float, default=100.0, help="how often the stub's in-flight is read")
    tp.add_argument("--no-cache", action="store_true", help="request cache off (to see what it costs)")
    tp.add_argument("--profile", action="store_true", help="sample the run with py-spy")
    tp.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # internal: the run itself
    tp.add_argument("--url", help=argparse.SUPPRESS)
    pp = sub.add_parser("prefix", help="vLLM prefix-cache hits per turn")
    pp.add_argument("--cases", type=int, default=4, help="consultations (one per seed case), all concurrent")
    pp.add_argument("--min-turns", type=int, default=4)
    pp.add_argument("--max-turns", type=int, default=6)
    pp.add_argument("--doctor-max-tokens", type=int, default=400)
    pp.add_argument("--patient-max-tokens", type=int, default=120)
    pp.add_argument(
        "--block-size", type=int, help="KV-cache block size (prefix-cache granularity); default: vLLM's"
    )
    sub.add_parser("all", help="throughput, then prefix, with the defaults")
    args = ap.parse_args()

    if args.what == "throughput" and args.worker:
        print(json.dumps(asyncio.run(_throughput_run(args))))
    elif args.what == "throughput":
        throughput(args)
    elif args.what == "prefix":
        prefix(args)
    else:
        throughput(ap.parse_args(["throughput"]))
        prefix(ap.parse_args(["prefix"]))


if __name__ == "__main__":
    main()
