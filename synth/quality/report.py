"""`synth report OUT/`: the filter's funnel (in → out per stage and table), why records were dropped, the
distribution of every score, and the consultations' per-turn evaluation (synth/dialogue/report.py) — as Rich
tables in the terminal and as PNG plots in OUT/plots/ (plots/truth-probability.png: the truth's probability
against the doctor turn, correct vs incorrect consultations).

Scores are read with a polars lazy scan of the shards' typed `scores` column (one scan per table, never the
records as Python objects); the drop reasons come from the ledger.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from synth.quality.pipeline import read_ledger


def score_table(out_dir: Path, table: str) -> Any:
    """A polars DataFrame with one column per score key of a table's records (empty if none).

    Only the `scores` column is read (a list of key/value structs in the typed shards), with a lazy scan.
    """
    import polars as pl

    from synth.store.shards import scan_table

    lf = scan_table(out_dir, table)
    if lf is None or "scores" not in lf.collect_schema().names():
        return pl.DataFrame()
    long = (
        lf.select(pl.col("scores"))
        .with_row_index("row")
        .explode("scores")
        .drop_nulls("scores")
        .unnest("scores")
        .collect()
    )
    if long.height == 0:
        return pl.DataFrame()
    return long.pivot(on="key", index="row", values="value").drop("row").select(sorted(set(long["key"])))


def collect_report(out_dir: str | Path) -> dict[str, Any]:
    out = Path(out_dir)
    funnel_path = out / "funnel.json"
    if not funnel_path.exists():
        raise FileNotFoundError(f"{out}: no funnel.json (not the output of `synth filter`)")
    funnel = json.loads(funnel_path.read_text())
    drops = read_ledger(out)
    reasons: dict[str, Counter[str]] = {}
    for d in drops:
        code = d.reason.split(":", 1)[0].split(" ", 1)[0]
        reasons.setdefault(d.stage, Counter())[code] += 1
    tables = sorted(p.name for p in (out / "data").iterdir() if p.is_dir()) if (out / "data").is_dir() else []
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for t in tables:
        df = score_table(out, t)
        stats = {}
        for col in df.columns:
            s = df[col].drop_nulls()
            if len(s):
                stats[col] = {
                    "n": float(len(s)),
                    "mean": float(s.mean()),  # type: ignore[arg-type]
                    "p10": float(s.quantile(0.1)),  # type: ignore[arg-type]
                    "median": float(s.median()),  # type: ignore[arg-type]
                    "p90": float(s.quantile(0.9)),  # type: ignore[arg-type]
                }
        scores[t] = stats
    consultations = None
    if "consultations" in tables:
        from synth.dialogue.report import consultation_report

        consultations = consultation_report(out)
    return {
        "output": str(out),
        "funnel": funnel,
        "ledger": {"entries": len(drops), "by_stage": {k: dict(v.most_common()) for k, v in reasons.items()}},
        "scores": scores,
        "consultations": consultations,
    }


def write_plots(out_dir: str | Path) -> list[Path]:
    """plots/funnel.png and plots/scores-<table>.png (a histogram per score)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    written = []
    funnel = json.loads((out / "funnel.json").read_text())
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(funnel) + 1.5))
    names = [f["stage"] for f in funnel]
    ax.barh(names, [f["in"] for f in funnel], color="#cccccc", label="in")
    ax.barh(names, [f["out"] for f in funnel], color="#3b7dd8", label="out")
    ax.invert_yaxis()
    ax.set_xlabel("records")
    ax.set_title("Quality filter funnel")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(plots / "funnel.png", dpi=110)
    plt.close(fig)
    written.append(plots / "funnel.png")
    for table_dir in sorted(p for p in (out / "data").iterdir() if p.is_dir()):
        df = score_table(out, table_dir.name)
        cols = [c for c in df.columns if df[c].drop_nulls().len()]
        if not cols:
            continue
        fig, axes = plt.subplots(len(cols), 1, figsize=(7, 2.2 * len(cols)), squeeze=False)
        for ax, col in zip(axes[:, 0], cols, strict=True):
            ax.hist(df[col].drop_nulls().to_list(), bins=20, color="#3b7dd8")
            ax.set_title(f"{table_dir.name}: {col}", fontsize=9)
        fig.tight_layout()
        path = plots / f"scores-{table_dir.name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if (out / "data" / "consultations").is_dir():
        from synth.dialogue.report import truth_probability_plot

        truth = truth_probability_plot(out, plots / "truth-probability.png")
        if truth is not None:
            written.append(truth)
    return written


def render_report(report: dict[str, Any], console: Any = None) -> None:
    from rich.table import Table

    from synth.console import make_console

    console = console or make_console()
    t = Table(title=f"Funnel — {report['output']}")
    for col in ("stage", "in", "out", "dropped", "by table (in → out)", "top reasons"):
        t.add_column(col)
    for f in report["funnel"]:
        by = ", ".join(f"{k}: {v['in']}→{v['out']}" for k, v in f.get("by_table", {}).items())
        stage = "validate" if f["stage"] == "input" else f["stage"]
        reasons = report["ledger"]["by_stage"].get(stage, {})
        if f["stage"] == "input":
            reasons = {**reasons, **report["ledger"]["by_stage"].get("read", {})}
        top = ", ".join(f"{k}: {v}" for k, v in list(reasons.items())[:3]) or "-"
        t.add_row(f["stage"], str(f["in"]), str(f["out"]), str(f["in"] - f["out"]), by or "-", top)
    console.print(t)
    for table, stats in report["scores"].items():
        if not stats:
            continue
        s = Table(title=f"Scores — {table}")
        for col in ("score", "n", "mean", "p10", "median", "p90"):
            s.add_column(col)
        for name, v in stats.items():
            s.add_row(
                name,
                f"{v['n']:.0f}",
                f"{v['mean']:.2f}",
                f"{v['p10']:.2f}",
                f"{v['median']:.2f}",
                f"{v['p90']:.2f}",
            )
        console.print(s)
    if (report.get("consultations") or {}).get("n"):
        from synth.dialogue.report import render_consultation_report

        render_consultation_report(report["consultations"], console)
