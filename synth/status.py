"""`synth status`: done / running / quarantined (with reasons), tokens and requests per teacher.

Record counts come from the shards themselves (a polars lazy scan reads only Parquet metadata and one column),
the rest from the run state; nothing is loaded whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synth.runner import run_is_active
from synth.store.state import TRANSIENT_KINDS, RunState


def _shard_counts(out: Path) -> dict[str, dict[str, int]]:
    import polars as pl

    counts: dict[str, dict[str, int]] = {}
    data = out / "data"
    if not data.is_dir():
        return counts
    for table_dir in sorted(p for p in data.iterdir() if p.is_dir()):
        files = sorted(table_dir.glob("*.parquet"))
        if not files:
            continue
        n = pl.scan_parquet([str(f) for f in files]).select(pl.len()).collect().item()
        counts[table_dir.name] = {
            "records": int(n),
            "shards": len(files),
            "bytes": sum(f.stat().st_size for f in files),
        }
    return counts


def collect_status(out: Path) -> dict[str, Any]:
    from synth.executors import partition_layout

    state: Any
    if partition_layout(out):  # a Ray run: its partitions' states, read as one
        from synth.executors.status import MergedState

        state = MergedState(out)
    else:
        state = RunState(out / "state.sqlite")
    try:
        pid = run_is_active(out)
        progress = None
        if pid is not None and (out / "progress.json").exists():
            try:
                progress = json.loads((out / "progress.json").read_text())
            except json.JSONDecodeError:
                progress = None
        runs = state.runs()
        consultations = None
        if (out / "data" / "consultations").is_dir():
            from synth.dialogue.report import consultation_report

            consultations = consultation_report(out)
        reasoning = None
        if (out / "data" / "problems").is_dir() or (out / "data" / "reasoning").is_dir():
            from synth.problems.report import reasoning_report

            reasoning = reasoning_report(out)
        return {
            "output": str(out),
            "running": {"pid": pid, "progress": progress} if pid is not None else None,
            "last_run": {"run_id": runs[-1][0], "status": runs[-1][3]} if runs else None,
            "runs": len(runs),
            "items": state.counts(),
            "tables": _shard_counts(out),
            "quarantine": [
                {
                    "job": j,
                    "stage": s,
                    "error_type": e,
                    "count": n,
                    "example": m,
                    "retried_next_run": e in TRANSIENT_KINDS,
                }
                for j, s, e, n, m in state.quarantine_reasons()
            ],
            "teachers": [
                {"teacher": t, "backend": b, "model": m, **s} for t, b, m, s in state.teacher_totals()
            ],
            "consultations": consultations,
            "reasoning": reasoning,
        }
    finally:
        state.close()


def render_status(st: dict[str, Any]) -> None:
    from rich.table import Table

    from synth.console import make_console

    c = make_console()
    c.print(f"[bold]{st['output']}[/bold]")
    if st["running"]:
        p = st["running"]["progress"] or {}
        c.print(
            f"[green]running[/green] (pid {st['running']['pid']}): job {p.get('job', '?')}, "
            f"in flight {p.get('in_flight', '?')}, {p.get('requests_per_s', '?')} req/s, "
            f"ETA {p.get('eta_s') or '?'} s"
        )
    elif st["last_run"]:
        c.print(
            f"not running; last run {st['last_run']['run_id']}: {st['last_run']['status']} "
            f"({st['runs']} run(s) in all)"
        )
    t = Table(title="Items")
    for col in ("job", "done", "quarantined"):
        t.add_column(col)
    for job, counts in st["items"].items():
        t.add_row(job, str(counts.get("done", 0)), str(counts.get("quarantined", 0)))
    c.print(t)
    if st["tables"]:
        t = Table(title="Records written")
        for col in ("table", "records", "shards", "MB"):
            t.add_column(col)
        for name, v in st["tables"].items():
            t.add_row(name, str(v["records"]), str(v["shards"]), f"{v['bytes'] / 2**20:.2f}")
        c.print(t)
    if st["quarantine"]:
        t = Table(title="Quarantine (by reason)")
        for col in ("job", "stage", "type", "count", "example"):
            t.add_column(col, overflow="fold")
        for q in st["quarantine"]:
            kind = q["error_type"] + (" (retried next run)" if q["retried_next_run"] else "")
            t.add_row(q["job"], q["stage"], kind, str(q["count"]), (q["example"] or "")[:160])
        c.print(t)
    if st["teachers"]:
        t = Table(title="Teachers")
        for col in (
            "teacher",
            "backend",
            "model",
            "requests",
            "cache hits",
            "tokens in",
            "tokens out",
            "re-asks",
            "failures",
        ):
            t.add_column(col)
        for r in st["teachers"]:
            fails = ", ".join(f"{k}: {v}" for k, v in sorted(r.get("failures", {}).items())) or "-"
            t.add_row(
                r["teacher"],
                r["backend"],
                r["model"],
                str(r.get("requests", 0)),
                str(r.get("cache_hits", 0)),
                f"{r.get('prompt_tokens', 0):,}",
                f"{r.get('completion_tokens', 0):,}",
                str(r.get("reasks", 0)),
                fails,
            )
        c.print(t)
    if st.get("consultations") and st["consultations"].get("n"):
        from synth.dialogue.report import render_consultation_report

        render_consultation_report(st["consultations"], c)
    if st.get("reasoning"):
        from synth.problems.report import render_reasoning_report

        render_reasoning_report(st["reasoning"], c)
