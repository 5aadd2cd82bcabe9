"""Problems and reasoning statistics over an output folder: what the search found, at what depth, by which
strategy, and which verifier stage decided. (Screen drops are in the quarantine, counted by `synth status`.)

Read with polars lazy scans of the typed shards, never the records as Python objects."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


def reasoning_report(out_dir: str | Path) -> dict[str, Any]:
    """The statistics from lazy scans of the typed shards: only the step fields used are read."""
    import polars as pl

    from synth.store.shards import scan_table

    out = Path(out_dir)
    plf = scan_table(out, "problems")
    problems = int(plf.select(pl.len()).collect().item()) if plf is not None else 0
    lf = scan_table(out, "reasoning")
    n = searched = hinted = steps = 0
    depth: Counter[str] = Counter()
    used: Counter[str] = Counter()
    won: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    if lf is not None:
        step = pl.element().struct.field
        df = lf.select(
            "success", "label_hinted",
            pl.col("steps").list.eval(pl.struct(step("attempt"), step("iteration"), step("strategy"),
                                                step("verdict"), step("verdict_stage"))),
        ).collect()  # fmt: skip
        n = df.height
        flat = df.select(pl.col("steps").explode()).unnest("steps").drop_nulls("strategy")
        steps = flat.height
        used.update(dict(flat.group_by("strategy").len().iter_rows()))
        won.update(dict(flat.filter(pl.col("verdict") == "true").group_by("strategy").len().iter_rows()))
        stages.update(dict(flat.group_by("verdict_stage").len().iter_rows()))
        hinted = int((df["success"] & df["label_hinted"]).sum())
        found = df.filter(pl.col("success") & ~pl.col("label_hinted"))
        searched = found.height
        last = found.select(
            pl.col("steps").list.filter(pl.element().struct.field("verdict") == "true").list.last()
        ).unnest("steps")
        for attempt, iteration in last.select("attempt", "iteration").iter_rows():
            depth[f"attempt {attempt}, depth {iteration}"] += 1
    return {
        "problems": problems,
        "traces": n,
        "verified_by_search": searched,
        "label_hinted": hinted,
        "unverified": n - searched - hinted,
        "success_rate": (searched / n) if n else 0.0,
        "verified_at": dict(sorted(depth.items())),
        "strategies": {k: {"used": used[k], "verified": won[k]} for k in sorted(used)},
        "verdict_stages": dict(stages.most_common()),
        "mean_steps": (steps / n) if n else 0.0,
    }


def render_reasoning_report(report: dict[str, Any], console: Any = None) -> None:
    from rich.table import Table

    from synth.console import make_console

    console = console or make_console()
    table = Table(title="Problems and reasoning", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value")
    rows = [
        ("problems kept by the screens", str(report["problems"])),
        ("reasoning traces", str(report["traces"])),
        (
            "verified by search",
            f"{report['verified_by_search']} ({report['success_rate']:.1%}); label-hinted "
            f"{report['label_hinted']}; unverified {report['unverified']}",
        ),
        ("verified at", ", ".join(f"{k}: {v}" for k, v in report["verified_at"].items()) or "-"),
        (
            "strategies (verified / used)",
            ", ".join(f"{k}: {v['verified']}/{v['used']}" for k, v in report["strategies"].items()) or "-",
        ),
        ("verdict by", ", ".join(f"{k}: {v}" for k, v in report["verdict_stages"].items()) or "-"),
        ("mean steps per trace", f"{report['mean_steps']:.2f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
