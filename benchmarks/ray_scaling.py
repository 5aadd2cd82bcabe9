"""`synth run --executor ray` on one machine: 1 vs 2 workers against the stub teacher server.

The stub (tests/servers/openai_stub.py) runs in its own process, answering every request after a fixed latency
(default 100 ms). Each cell is a fresh case-synthesis run (request cache off) through the Ray executor on a local
Ray started for it (num_cpus = workers, 100 MB object store, no dashboard); the partitions are 2 x workers.
Measured: the run's wall time (Ray's start excluded, the tasks' own start included), requests per second, and
the CPU seconds the partitions spent per request (each task reports its own process CPU), plus the stub's CPU.

    .venv/bin/python benchmarks/ray_scaling.py --items 3000 --concurrency 256 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._procs import proc_cpu_s, write_results  # noqa: E402


def one_cell(url: str, workers: int, items: int, concurrency: int, stub_pid: int) -> dict[str, Any]:
    import yaml

    from synth.config import load_config
    from synth.executors.ray_executor import RayExecutor, _init_ray
    from synth.progress import LogDisplay
    from synth.runner import build_jobs

    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "bench.yaml"
        teacher = {"backend": "openai", "model": "stub", "base_url": url, "api_key_env": None}
        teacher["max_concurrency"] = concurrency
        run = {"output": str(Path(tmp) / "out"), "executor": "ray", "workers": workers}
        run.update(concurrency=concurrency, cache={"enabled": False}, flush_interval_s=5.0)
        cfg_path.write_text(
            yaml.safe_dump(
                {"run": run, "teachers": {"default": teacher}, "cases": {"synthesize": {"n": items}}}
            )
        )
        cfg = load_config(cfg_path)
        ray = _init_ray(None, workers)
        try:
            executor = RayExecutor(cfg, display=LogDisplay(every_s=60, stream=open(os.devnull, "w")))  # noqa: SIM115
            stub0 = proc_cpu_s(stub_pid)
            t0 = time.perf_counter()
            result = executor.run(build_jobs(cfg))
            wall = time.perf_counter() - t0
            stub_cpu = proc_cpu_s(stub_pid) - stub0
        finally:
            ray.shutdown()
    parts = executor.outcomes[0]
    requests = sum(p["requests"] for p in parts)
    cpu = sum(p["cpu_s"] for p in parts)
    assert result.status == "completed" and result.jobs[0].done == items, result
    return {
        "workers": workers,
        "partitions": len(parts),
        "items": items,
        "requests": requests,
        "wall_s": wall,
        "rps": requests / wall,
        "worker_cpu_ms_per_req": 1000 * cpu / requests,
        "stub_cpu_pct": 100 * stub_cpu / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=256, help="items in flight per partition")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeat", type=int, default=1, help="run every cell N times; keep each cell's best")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cmd = [
        sys.executable,
        "-m",
        "tests.servers.openai_stub",
        "--port",
        "0",
        "--latency-ms",
        str(args.latency_ms),
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    rows: list[dict[str, Any]] = []
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"stub server did not start: {url!r}"
        for _ in range(args.repeat):
            for w in (int(x) for x in args.workers.split(",")):
                row = one_cell(url, w, args.items, args.concurrency, server.pid)
                rows.append(row)
                print(
                    f"workers={w} partitions={row['partitions']} {row['rps']:7.0f} req/s  "
                    f"{row['worker_cpu_ms_per_req']:.2f} ms worker CPU/req  wall {row['wall_s']:.1f}s  "
                    f"stub {row['stub_cpu_pct']:.0f}%",
                    flush=True,
                )
    finally:
        server.kill()
        server.wait()
    best: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["workers"] not in best or row["rps"] > best[row["workers"]]["rps"]:
            best[row["workers"]] = row
    lines = [
        f"{args.items} case-synthesis items per cell, {args.concurrency} in flight per partition, stub latency "
        f"{args.latency_ms:.0f} ms, request cache off; {os.cpu_count()} CPUs; best of {args.repeat}.",
        "",
        "| workers | partitions | requests | wall s | req/s | worker CPU ms/req | stub CPU % |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(best.values(), key=lambda r: r["workers"]):
        lines.append(
            f"| {r['workers']} | {r['partitions']} | {r['requests']} | {r['wall_s']:.1f} | {r['rps']:.0f} | "
            f"{r['worker_cpu_ms_per_req']:.2f} | {r['stub_cpu_pct']:.0f} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    write_results("ray_scaling", table, rows, args.out)


if __name__ == "__main__":
    main()
