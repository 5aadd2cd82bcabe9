"""Consultation statistics over an output folder: accuracy, top-k, turns, terminations, leakage.

Read with polars straight from the `consultations` shards (`record` is the JSON of a Consultation), so the
report costs one scan whatever the corpus size and never loads the turns themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BUCKET = 5  # width of the turn histogram's buckets


def _fields() -> list[Any]:
    import polars as pl

    rec = pl.col("record").str
    return [
        rec.json_path_match("$.evaluation.correct").alias("correct"),
        rec.json_path_match("$.evaluation.verdict_stage").alias("stage"),
        rec.json_path_match("$.evaluation.top_k_hit").cast(pl.Int64, strict=False).alias("top_k_hit"),
        rec.json_path_match("$.doctor_turns").cast(pl.Int64, strict=False).alias("doctor_turns"),
        rec.json_path_match("$.termination.reason").alias("termination"),
        rec.json_path_match("$.evaluation.questions_asked").cast(pl.Int64, strict=False).alias("questions"),
        rec.json_path_match("$.evaluation.tests_ordered").cast(pl.Int64, strict=False).alias("tests"),
        rec.json_path_match("$.evaluation.key_fact_recall").cast(pl.Float64, strict=False).alias("recall"),
        rec.json_path_match("$.evaluation.leakage_flags")
        .str.json_decode(pl.List(pl.Int64))
        .list.len()
        .alias("leaks"),
    ]


def consultation_report(out_dir: str | Path, k: int = 3) -> dict[str, Any]:
    """Statistics of every consultation written under out_dir; {"n": 0} when there is none."""
    import polars as pl

    shards = Path(out_dir) / "data" / "consultations"
    if not any(shards.glob("*.parquet")):
        return {"n": 0}
    df = pl.scan_parquet(str(shards / "*.parquet")).select(_fields()).collect()
    n = df.height
    turns = df["doctor_turns"].drop_nulls()
    hist: dict[str, int] = {}
    for lo, count in (
        df.select(((pl.col("doctor_turns") - 1) // BUCKET * BUCKET + 1).alias("lo"))
        .group_by("lo")
        .len()
        .sort("lo")
        .iter_rows()
    ):
        if lo is not None:
            hist[f"{lo}-{lo + BUCKET - 1}"] = count
    correct = df["correct"]
    return {
        "n": n,
        "accuracy": round((correct == "true").sum() / n, 4),
        "undecided": int(correct.is_null().sum()),
        "verdict_stages": dict(sorted(df.group_by("stage").len().iter_rows())),
        "top_k": k,
        "top_k_hit_rate": round(((df["top_k_hit"] >= 1) & (df["top_k_hit"] <= k)).sum() / n, 4),
        "doctor_turns": {
            "min": int(turns.min()),  # type: ignore[arg-type]
            "median": float(turns.median()),  # type: ignore[arg-type]
            "max": int(turns.max()),  # type: ignore[arg-type]
            "histogram": hist,
        },
        "termination": dict(sorted(df.group_by("termination").len().iter_rows())),
        "mean_questions_asked": round(float(df["questions"].mean()), 2),  # type: ignore[arg-type]
        "mean_tests_ordered": round(float(df["tests"].mean()), 2),  # type: ignore[arg-type]
        "mean_key_fact_recall": round(float(df["recall"].mean() or 0.0), 4),  # type: ignore[arg-type]
        "leakage": {
            "consultations_flagged": int((df["leaks"] > 0).sum()),
            "turns_flagged": int(df["leaks"].sum()),
        },
    }


def render_consultation_report(report: dict[str, Any], console: Any = None) -> None:
    """The report as a Rich table (printed to `console`, or stdout)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="Consultations", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value")
    if not report.get("n"):
        table.add_row("consultations", "0")
        console.print(table)
        return
    t = report["doctor_turns"]
    rows = [
        ("consultations", str(report["n"])),
        ("diagnostic accuracy", f"{report['accuracy']:.1%} ({report['undecided']} undecided)"),
        ("verdict by", ", ".join(f"{k}: {v}" for k, v in report["verdict_stages"].items())),
        (f"top-{report['top_k']} hit rate", f"{report['top_k_hit_rate']:.1%}"),
        ("doctor turns", f"min {t['min']} / median {t['median']:g} / max {t['max']}"),
        ("turn histogram", "  ".join(f"{b}: {c}" for b, c in t["histogram"].items())),
        ("termination", ", ".join(f"{k}: {v}" for k, v in report["termination"].items())),
        ("mean questions asked", f"{report['mean_questions_asked']:g}"),
        ("mean tests ordered", f"{report['mean_tests_ordered']:g}"),
        ("mean key-fact recall", f"{report['mean_key_fact_recall']:.1%}"),
        (
            "leakage",
            f"{report['leakage']['consultations_flagged']} consultations, "
            f"{report['leakage']['turns_flagged']} patient turns flagged",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
