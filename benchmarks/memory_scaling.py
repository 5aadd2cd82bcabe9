"""Memory with the corpus: peak RSS and req/s of one run at N items, and the resume start-up with all N done.

The same job at each N — case synthesis (`cases.synthesize.n: N`), the engine's full path: Runner, Teacher over
the openai backend (aiohttp), request cache, run state, shards — against the OpenAI-compatible stub
(tests/servers/openai_stub.py) with a small latency, the stub pinned to one core and each run in a fresh
process pinned to another. Per N:

- run: wall time, items/s and req/s, peak RSS (getrusage of the run's process), done/quarantined counts;
- resume: the same command again on the finished folder, in a fresh process: the time from the process start
  until the runner has decided there is nothing to send and the process exits (and, inside it, the time spent
  in `Runner.run`), its peak RSS, and the requests it sent (must be 0).

`--tracemalloc A,B` runs one N under tracemalloc and prints the allocation sites that grew most between the
moment A items were done and the moment B were (the evidence behind docs/benchmarks.md, "Memory with the
corpus"). tracemalloc slows the run several times: use it with N of ~50k, not 1M.

`--job consultations`: the same for multi-turn items — N consultations over the seed cases, 4–8 doctor turns,
~7.6 requests each — where what a run holds per item in flight and between flushes is far larger.

Run from the repository root:  python benchmarks/memory_scaling.py [--n 10000,100000,1000000]
                               python benchmarks/memory_scaling.py --job consultations --n 1000,10000,50000
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
from typing import Any

T_START = time.monotonic()  # before the heavy imports: the resume start-up is measured from here

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout: make `synth` and `tests` importable
    sys.path.insert(0, str(ROOT))

from benchmarks._procs import pin, proc_cpu_s, start_stub, write_results  # noqa: E402


def _job_section(job: str, n: int) -> dict[str, Any]:
    if job == "cases":
        return {"cases": {"synthesize": {"n": n}}}
    # N consultations over the shipped seed cases, 4-8 doctor turns (~7.6 requests each against the stub), the
    # peers' multi-turn limits; the stub's differentials are arbitrary, so the snapshot re-asks are off.
    return {
        "consultations": {
            "cases": "seeds",
            "per_case": n,
            "n": n,
            "min_turns": 4,
            "max_turns": 8,
            "snapshot_retries": 0,
        }
    }


def _config(out: Path, url: str, n: int, concurrency: int, job: str = "cases") -> Any:
    from synth.config import RunConfig

    return RunConfig.model_validate(
        {
            "run": {"output": str(out), "concurrency": concurrency, "seed": 0},
            "teachers": {
                "default": {
                    "backend": "openai",
                    "model": "stub-model",
                    "base_url": url,
                    "api_key_env": None,
                    "max_concurrency": concurrency,
                }
            },
            **_job_section(job, n),
        }
    )


class _Probe:
    """A progress display (the runner's own hook) that takes tracemalloc snapshots at two done counts."""

    def __init__(self, at: tuple[int, int], top: int):
        self.at, self.top = at, top
        self.snaps: list[Any] = []
        self.report: list[str] = []

    def start(self, snap: Any) -> None:
        pass

    def update(self, snap: Any) -> None:
        import gc
        import tracemalloc

        done = snap.done + snap.quarantined
        if len(self.snaps) < 2 and done >= self.at[len(self.snaps)]:
            gc.collect()
            self.snaps.append((done, tracemalloc.take_snapshot()))
            if len(self.snaps) == 2:
                (a, s0), (b, s1) = self.snaps
                stats = s1.compare_to(s0, "lineno")
                total = sum(s.size_diff for s in stats)
                self.report.append(f"tracemalloc growth from {a} to {b} items done: {total / 2**20:+.2f} MiB")
                for s in stats[: self.top]:
                    frame = s.traceback[0]
                    where = "/".join(Path(frame.filename).parts[-3:])
                    self.report.append(
                        f"  {s.size_diff / 2**10:+10.1f} KiB {s.count_diff:+8d} blocks  {where}:{frame.lineno}"
                    )

    def stop(self, snap: Any) -> None:
        pass


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    import tracemalloc

    from synth.progress import LogDisplay
    from synth.runner import Runner, build_jobs

    cfg = _config(args.output, args.url, args.worker_n, args.concurrency, args.job)
    probe: _Probe | None = None
    display: Any = LogDisplay(every_s=30.0)
    if args.tracemalloc:
        a, b = (int(x) for x in args.tracemalloc.split(","))
        probe = _Probe((a, b), args.top)
        display = probe
        tracemalloc.start(1)
    runner = Runner(cfg, display=display, argv=["memory_scaling"])
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    res = await runner.run(build_jobs(cfg))
    run_s = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    job = res.jobs[0]
    requests = sum(t.stats.requests for t in runner.teachers.values())
    return {
        "n": args.worker_n,
        "phase": args.phase,
        "status": res.status,
        "done": job.done,
        "skipped": job.skipped,
        "quarantined": job.quarantined,
        "requests": requests,
        "run_s": run_s,
        "items_per_s": (job.done + job.quarantined) / run_s,
        "req_per_s": requests / run_s,
        "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "peak_rss_mib": ru1.ru_maxrss / 1024,
        "since_start_s": time.monotonic() - T_START,
        "tracemalloc": probe.report if probe else None,
    }


def _spawn(
    args: argparse.Namespace, url: str, n: int, out: Path, phase: str, core: int | None
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker-n",
        str(n),
        "--url",
        url,
        "--output",
        str(out),
        "--phase",
        phase,
    ]
    cmd += ["--concurrency", str(args.concurrency), "--top", str(args.top), "--job", args.job]
    if args.tracemalloc:
        cmd += ["--tracemalloc", args.tracemalloc]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=args.timeout_s,
        preexec_fn=(lambda: pin(0, core)) if core is not None else None,
    )
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"run at N={n} ({phase}) failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_wall_s"] = wall  # process start to exit, as the orchestrator saw it
    return row


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="10000,100000,1000000", help="comma-separated item counts")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument(
        "--job",
        choices=["cases", "consultations"],
        default="cases",
        help="cases: case synthesis, one request an item; consultations: multi-turn, ~7.6 requests an item",
    )
    ap.add_argument("--latency-ms", type=float, default=5.0)
    ap.add_argument("--tracemalloc", help="A,B: one run under tracemalloc, growth between A and B items done")
    ap.add_argument("--top", type=int, default=15, help="allocation sites shown with --tracemalloc")
    ap.add_argument("--no-resume", action="store_true", help="skip the resume measurement")
    ap.add_argument("--timeout-s", type=float, default=3600.0, help="per run")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--work", type=Path, help="folder for the runs' output (default: a temporary one)")
    # internal: one run in this process
    ap.add_argument("--worker-n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--phase", default="run", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker_n:
        row = asyncio.run(_worker(args))
        row["since_start_s"] = time.monotonic() - T_START
        print(json.dumps(row))
        return

    # The stub ends itself after 30 min by default (so a forgotten one goes away); a 1M run takes longer, and
    # twice the stub's exit mid-run was read as an unreachable teacher.
    lifetime = args.timeout_s * 2 * len(args.n.split(",")) + 600
    server, url, client_core = start_stub(args.latency_ms, ["--max-lifetime-s", str(lifetime)])
    rows: list[dict[str, Any]] = []
    loads = [_load()]
    work = args.work or Path(tempfile.mkdtemp(prefix="memory-scaling-"))
    try:
        ns = [int(x) for x in args.n.split(",")]
        for n in ns:
            out = work / (f"n{n}" if args.job == "cases" else f"{args.job}-n{n}")
            cpu0 = proc_cpu_s(server.pid)
            row = _spawn(args, url, n, out, "run", client_core)
            row["server_cpu_pct"] = 100 * (proc_cpu_s(server.pid) - cpu0) / row["run_s"]
            rows.append(row)
            print(
                f"N={n:>8} run     {row['run_s']:8.1f} s  {row['items_per_s']:7.0f} items/s  "
                f"{row['req_per_s']:7.0f} req/s  peak RSS {row['peak_rss_mib']:6.0f} MiB  "
                f"server {row['server_cpu_pct']:.0f}%  done {row['done']} quarantined {row['quarantined']}",
                flush=True,
            )
            for line in row["tracemalloc"] or []:
                print(line, flush=True)
            if not args.no_resume and not args.tracemalloc:
                r = _spawn(args, url, n, out, "resume", client_core)
                rows.append(r)
                print(
                    f"N={n:>8} resume  process {r['process_wall_s']:.2f} s (Runner.run {r['run_s']:.2f} s)  "
                    f"peak RSS {r['peak_rss_mib']:.0f} MiB  skipped {r['skipped']}  sent {r['requests']}",
                    flush=True,
                )
            loads.append(_load())
    finally:
        server.kill()
        server.wait()
    report = render(rows, args, loads)
    print("\n" + report)
    write_results("memory_scaling", report, {"rows": rows, "load": loads, "args": vars(args)}, args.out)


def render(rows: list[dict[str, Any]], args: argparse.Namespace, loads: list[str]) -> str:
    what = (
        "Case synthesis (`cases.synthesize.n: N`)"
        if args.job == "cases"
        else "Consultations (N over the seed cases, 4-8 doctor turns)"
    )
    lines = [
        f"{what} through the full path, concurrency {args.concurrency}, stub "
        f"latency {args.latency_ms:.0f} ms; stub and run pinned to separate cores; Python "
        f"{sys.version.split()[0]}. Machine load: {'; '.join(loads)}.",
        "",
        "| N | phase | wall s | items/s | req/s | peak RSS MiB | sent | done | earlier | quarantined |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        wall = r["process_wall_s"] if r["phase"] == "resume" else r["run_s"]
        lines.append(
            f"| {r['n']} | {r['phase']} | {wall:.2f} | {r['items_per_s']:.0f} | {r['req_per_s']:.0f} | "
            f"{r['peak_rss_mib']:.0f} | {r['requests']} | {r['done']} | {r['skipped']} | {r['quarantined']} |"
        )
    for r in rows:
        if r.get("tracemalloc"):
            lines += ["", "```", *r["tracemalloc"], "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
