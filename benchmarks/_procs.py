"""Helpers shared by the benchmark scripts: start the stub server on its own core, pin a process to a core, read
a process's CPU time, summarise a py-spy profile, write a run's results."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, report: str, raw: Any, folder: Path = RESULTS) -> Path:
    """folder/<name>-<timestamp>.md (the report) and .json (the raw results); returns the .json path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (folder / f"{name}-{stamp}.md").write_text(report if report.endswith("\n") else report + "\n")
    path = folder / f"{name}-{stamp}.json"
    path.write_text(json.dumps(raw, indent=2, default=str) + "\n")
    return path


def start_stub(
    latency_ms: float, extra: list[str] | None = None
) -> tuple[subprocess.Popen[str], str, int | None]:
    """The OpenAI-compatible stub (tests/servers/openai_stub.py) on the first core of this process's affinity;
    returns (process, its /v1 URL, the core left for the client: None with fewer than two cores, unpinned)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_core, client_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    cmd = [sys.executable, "-m", "tests.servers.openai_stub", "--port", "0", "--latency-ms", str(latency_ms)]
    server = subprocess.Popen(
        [*cmd, *(extra or [])], cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True
    )
    try:
        pin(server.pid, server_core)
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"stub server did not start: {url!r}"
    except BaseException:
        server.kill()
        server.wait()
        raise
    return server, url, client_core


def pin(pid: int, core: int | None) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {core})


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise_profile(path: Path, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """From py-spy's raw (collapsed) stacks of the event loop (the thread that runs the consultations; the cache
    writer thread is left out): the share of its samples per leaf function and per frame anywhere on the stack
    (inclusive). Sampled with --idle, so time the loop spends waiting shows up as `select`."""
    leaf: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not any(f.startswith("BaseEventLoop.run_forever") for f in frames):
            continue
        total += n
        leaf[_short(frames[-1])] += n
        # The frames above the loop's callbacks are on every stack: they say nothing.
        for f in {_short(f) for f in frames if "asyncio/" not in f and "consultations.py" not in f}:
            inclusive[f] += n

    def share(c: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / max(1, total), 1)) for k, v in c.most_common(top)]

    return {"leaf_pct": share(leaf), "inclusive_pct": share(inclusive), "samples": [("total", total)]}


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (module.py)": lines differ within one function.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(Path(where).parts[-2:])})" if where else name
