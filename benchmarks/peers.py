"""Peers, side by side in one run: the engine against bespokelabs-curator, distilabel, a bare AsyncOpenAI loop and
a raw aiohttp loop (the ceiling), on the same workloads against the same stub server.

The OpenAI-compatible stub (tests/servers/openai_stub.py, fixed latency, 100 ms by default) runs in its own
process pinned to one core; every cell — one tool, one workload, one N, one concurrency — runs in a fresh process
pinned to the other core (benchmarks/peers/clients.py; the engine's arm in benchmarks/peers/engine_arm.py).
The engine runs with the project's environment; each peer with its own virtual environment under .peers/, made
by `--setup` (pinned versions, never part of the project's own set-up). Workloads: `single` (N chat requests
answered into a pydantic schema) and `multi` (consultations: doctor and patient turns, each request carrying the
growing history; N is the number of requests aimed at, about 8 per consultation).

Per cell: requests/s, client CPU ms per request (the client process's user+sys CPU from its first request to its
results, per request), peak RSS, start-up CPU (everything before the first request: interpreter, imports,
set-up), each also as a ratio to the aiohttp loop's cell; the requests the server counted (a cross-check of the
client's own count) and the server's CPU share. Writes benchmarks/results/peers-<time>.{md,json} and a plot.

    python benchmarks/peers.py --setup                # once: the peers' virtual environments
    python benchmarks/peers.py --quick                # N=2000, concurrency 256, both workloads, every tool
    python benchmarks/peers.py [--n 2000,20000] [--concurrency 64,256,1024] [--workloads single,multi]
                               [--tools engine,curator,distilabel,openai,aiohttp] [--latency-ms 100]
    python benchmarks/peers.py --from-json benchmarks/results/peers-<time>.json [--plot PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from benchmarks._procs import RESULTS, pin, proc_cpu_s, start_stub, write_results  # noqa: E402

TOOLS = ["engine", "curator", "distilabel", "openai", "aiohttp"]
WORKLOADS = ["single", "multi"]
PEERS_DIR = ROOT / ".peers"
# The peers' environments, pinned. The bare loops get the engine's own openai and aiohttp versions, so what
# differs between them and the engine is the code on top, not the library underneath.
VENVS: dict[str, list[str]] = {
    "curator": ["bespokelabs-curator==0.1.31", "openai==2.30.0", "aiohttp==3.13.5"],
    "distilabel": ["distilabel[openai,instructor]==1.5.3", "openai==3.3.0", "instructor==1.17.0"],
    "bare": ["openai==3.57.0", "aiohttp==3.14.5", "pydantic==2.14.4"],
}
VENV_OF = {"curator": "curator", "distilabel": "distilabel", "openai": "bare", "aiohttp": "bare"}
CLIENTS = ROOT / "benchmarks" / "peers" / "clients.py"
PLOT = ROOT / "docs" / "img" / "peers.png"


def setup() -> None:
    """Create .peers/<name> for each peer and install its pinned packages (needs a package index)."""
    for name, packages in VENVS.items():
        venv = PEERS_DIR / name
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *packages], check=True)
        print(f"{venv}: {' '.join(packages)}")


def python_for(tool: str) -> Path:
    if tool == "engine":
        return Path(sys.executable)
    py = PEERS_DIR / VENV_OF[tool] / "bin" / "python"
    if not py.exists():
        raise SystemExit(f"{py} is missing: run `python benchmarks/peers.py --setup` first")
    return py


def offline_env(tool: str, tmp: Path) -> dict[str, str]:
    """Every peer talks to 127.0.0.1 only: telemetry off, no model-price or tokenizer downloads, no hub."""
    env = dict(os.environ)
    env.update(
        PEERS_TMP=str(tmp),
        TMPDIR=str(tmp),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(tmp / "hf"),
        NO_PROXY="127.0.0.1,localhost",
        PYTHONWARNINGS="ignore",
    )
    if tool == "curator":
        site = next((PEERS_DIR / "curator" / "lib").glob("python*/site-packages"))
        env.update(
            TELEMETRY_ENABLED="false",  # curator's PostHog telemetry
            BESPOKE_CURATOR_TRACKER_DISABLED="1",
            CURATOR_DISABLE_CACHE="true",  # a fresh run every time: no answers from its own cache
            CURATOR_CACHE_DIR=str(tmp / "curator"),
            CURATOR_DISABLE_RICH_DISPLAY="1",  # no terminal here: a live display would only cost CPU
            LITELLM_LOCAL_MODEL_COST_MAP="True",  # litellm's price map from the package, not fetched
            # curator counts tokens with tiktoken's cl100k_base: the copy litellm ships, not a download
            TIKTOKEN_CACHE_DIR=str(site / "litellm" / "litellm_core_utils" / "tokenizers"),
        )
    if tool == "distilabel":
        env.update(DISTILABEL_TELEMETRY_DISABLED="1", DISTILABEL_CACHE_DIR=str(tmp / "distilabel"))
    return env


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/stats", timeout=10) as resp:
        return dict(json.load(resp))


def run_cell(
    tool: str, workload: str, n: int, c: int, url: str, server_pid: int, core: int | None, timeout: float
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"peers-{tool}-"))
    before, cpu0, load0 = _stats(url)["total"], proc_cpu_s(server_pid), os.getloadavg()[0]
    cmd = [str(python_for(tool)), str(CLIENTS), "--tool", tool, "--workload", workload, "--url", url]
    cmd += ["--n", str(n), "--concurrency", str(c)]
    base = {"tool": tool, "workload": workload, "n": n, "concurrency": c}
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=offline_env(tool, tmp),
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=(lambda: pin(0, core)) if core is not None else None,
        )
    except subprocess.TimeoutExpired:
        return {**base, "failed": f"ran past {timeout:.0f} s"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**base, "failed": f"exit {proc.returncode}: {tail[:300]}"}
    row: dict[str, Any] = json.loads(lines[-1])
    row["server_requests"] = _stats(url)["total"] - before
    row["server_cpu_pct"] = 100 * (proc_cpu_s(server_pid) - cpu0) / max(1e-9, row["wall_s"])
    row["load_before"] = round(load0, 2)
    row["load_after"] = round(os.getloadavg()[0], 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setup", action="store_true", help="create the peers' virtual environments and exit")
    ap.add_argument("--quick", action="store_true", help="N=2000 at concurrency 256 only")
    ap.add_argument("--n", default="2000,20000", help="requests per cell, comma-separated")
    ap.add_argument("--concurrency", default="64,256,1024")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--cell-timeout-s", type=float, default=900.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--plot", type=Path, default=PLOT)
    ap.add_argument(
        "--from-json", type=Path, help="render the table and plot of an earlier run's results JSON"
    )
    args = ap.parse_args()
    if args.setup:
        setup()
        return
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
        print(render(rows, args))
        plot(rows, args.plot)
        return
    if args.quick:
        args.n, args.concurrency = "2000", "256"
    tools = [t for t in args.tools.split(",") if t]
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = sorted(set(tools) - set(TOOLS)) + sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"unknown tool or workload: {', '.join(unknown)}")
    for tool in tools:
        python_for(tool)  # fail before the first cell, not in the middle of the matrix
    rows = run_matrix(args, tools, workloads)
    table = render(rows, args)
    print("\n" + table)
    path = write_results("peers", table, rows, args.out)
    print(f"raw results: {path}", file=sys.stderr)
    if args.plot:
        plot(rows, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)


def run_matrix(args: argparse.Namespace, tools: list[str], workloads: list[str]) -> list[dict[str, Any]]:
    server, url, client_core = start_stub(args.latency_ms, ["--max-lifetime-s", "36000"])
    rows: list[dict[str, Any]] = []
    # Each cell as it finishes, so that a matrix cut short (hours at 20k) still leaves its figures.
    args.out.mkdir(parents=True, exist_ok=True)
    partial = args.out / f"peers-partial-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    try:
        # The aiohttp ceiling first in each group, then the others: ratios compare cells run minutes apart at
        # most, so a burst of outside load hits one group, not one tool across the whole run.
        order = ["aiohttp", *[t for t in tools if t != "aiohttp"]] if "aiohttp" in tools else tools
        for n in (int(x) for x in args.n.split(",")):
            for workload in workloads:
                for c in (int(x) for x in args.concurrency.split(",")):
                    for tool in order:
                        row = run_cell(
                            tool, workload, n, c, url, server.pid, client_core, args.cell_timeout_s
                        )
                        rows.append(row)
                        with partial.open("a") as f:
                            f.write(json.dumps(row) + "\n")
                        print(_line(row), flush=True)
    finally:
        server.kill()
        server.wait()
    return rows


def _line(r: dict[str, Any]) -> str:
    head = f"{r['tool']:>10} {r['workload']:<6} n={r['n']:<6} c={r['concurrency']:<5}"
    if "failed" in r:
        return f"{head} FAILED {r['failed']}"
    return (
        f"{head} {r['rps']:7.0f} req/s  {r['cpu_ms_per_req']:.2f} ms CPU/req  {r['peak_rss_mib']:.0f} MiB  "
        f"start {r['startup_cpu_s']:.2f} s  items {r['items']}  requests {r['requests']} (server "
        f"{r['server_requests']})  errors {r['errors']}  server {r['server_cpu_pct']:.0f}%  load {r['load_before']}"
    )


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "–"


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    ceiling = {
        (r["workload"], r["n"], r["concurrency"]): r
        for r in rows
        if r["tool"] == "aiohttp" and "failed" not in r
    }
    loads = [r["load_before"] for r in rows if "load_before" in r]
    lines = [
        f"Stub latency {args.latency_ms:.0f} ms; stub and client pinned to separate cores; Python "
        f"{sys.version.split()[0]}; {os.cpu_count()} cores; 1-min load average before each cell "
        f"{min(loads, default=0):.2f}–{max(loads, default=0):.2f} (other work on the machine shows up there). "
        "Ratios are to the aiohttp loop's cell (same workload, N, concurrency). multi: items are consultations.",
        "",
        "| tool | workload | N | conc. | req/s | × aiohttp | CPU ms/req | × aiohttp | peak RSS MiB | × aiohttp "
        "| start-up CPU s | × aiohttp | items | requests (server) | errors | server CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        key = (r["workload"], r["n"], r["concurrency"])
        if "failed" in r:
            lines.append(
                f"| {r['tool']} | {key[0]} | {key[1]} | {key[2]} | failed: {r['failed']} |" + " |" * 11
            )
            continue
        b = ceiling.get(key)
        lines.append(
            f"| {r['tool']} | {key[0]} | {key[1]} | {key[2]} | {r['rps']:.0f} | {_ratio(r['rps'], b and b['rps'])} "
            f"| {r['cpu_ms_per_req']:.2f} | {_ratio(r['cpu_ms_per_req'], b and b['cpu_ms_per_req'])} "
            f"| {r['peak_rss_mib']:.0f} | {_ratio(r['peak_rss_mib'], b and b['peak_rss_mib'])} "
            f"| {r['startup_cpu_s']:.2f} | {_ratio(r['startup_cpu_s'], b and b['startup_cpu_s'])} "
            f"| {r['items']} | {r['requests']} ({r['server_requests']}) | {r['errors']} | {r['server_cpu_pct']:.0f} |"
        )
    failed = [
        f"{r['tool']} {r['workload']} N={r['n']} c={r['concurrency']}: {r['failed']}"
        for r in rows
        if "failed" in r
    ]
    errors = [f"{r['tool']} {r['workload']}: {r['error_samples'][0]}" for r in rows if r.get("error_samples")]
    if failed or errors:
        lines += ["", "Failures:", *[f"- {x}" for x in failed + errors]]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Requests/s and CPU ms per request per tool, one panel pair per workload, at the largest N run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "failed" not in r]
    if not ok:
        return
    n = max(r["n"] for r in ok)
    workloads = [w for w in WORKLOADS if any(r["workload"] == w for r in ok)]
    concs = sorted({r["concurrency"] for r in ok})
    tools = [t for t in TOOLS if any(r["tool"] == t for r in ok)]
    fig, axes = plt.subplots(2, len(workloads), figsize=(6 * len(workloads), 7), squeeze=False)
    width = 0.8 / max(1, len(tools))
    for col, w in enumerate(workloads):
        for row, (metric, label) in enumerate(
            [("rps", "requests/s"), ("cpu_ms_per_req", "client CPU ms/request")]
        ):
            ax = axes[row][col]
            for k, tool in enumerate(tools):
                vals = [
                    next(
                        (
                            r[metric]
                            for r in ok
                            if (r["tool"], r["workload"], r["n"], r["concurrency"]) == (tool, w, n, c)
                        ),
                        0.0,
                    )
                    for c in concs
                ]
                color = f"C{TOOLS.index(tool)}"  # one colour per tool across every plot
                ax.bar([i + k * width for i in range(len(concs))], vals, width, label=tool, color=color)
            ax.set_xticks(
                [i + width * (len(tools) - 1) / 2 for i in range(len(concs))], [str(c) for c in concs]
            )
            ax.set_xlabel("concurrency")
            ax.set_ylabel(label)
            ax.set_title(f"{w}: {label}, N={n}")
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
