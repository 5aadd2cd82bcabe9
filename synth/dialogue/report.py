"""Consultation statistics over an output folder: accuracy, top-k, turns, terminations, leakage, and the
per-turn evaluation of the doctor's differentials (calibration, when the truth enters and leads, volatility,
premature closure, lucky guesses, broken snapshots; the truth's probability by turn, also as a PNG plot).

Read with a polars lazy scan of the `consultations` shards' typed columns (only the `evaluation` struct,
`termination` and `doctor_turns` are read), so the report costs one scan whatever the corpus size and never
loads the turns themselves. The per-turn statistics
(`per_turn_stats`) take the same columns from any frame of records, so the dataset card reuses them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

BUCKET = 5  # width of the turn histogram's buckets
MAX_LINES = 100  # per group in the truth-probability plot: enough to see the spread, few enough to draw fast


def _fields() -> list[Any]:
    import polars as pl

    ev = pl.col("evaluation").struct.field
    return [
        ev("correct").alias("correct"),
        ev("verdict_stage").alias("stage"),
        ev("top_k_hit").alias("top_k_hit"),
        pl.col("doctor_turns"),
        pl.col("termination").struct.field("reason").alias("termination"),
        ev("questions_asked").alias("questions"),
        ev("tests_ordered").alias("tests"),
        ev("key_fact_recall").alias("recall"),
        ev("leakage_flags").list.len().alias("leaks"),
        *_per_turn_fields(),
    ]


def _per_turn_fields() -> list[Any]:
    import polars as pl

    ev = pl.col("evaluation").struct.field
    curve = ev("per_turn").list.eval(
        pl.struct(pl.element().struct.field("doctor_turn"), pl.element().struct.field("truth_probability"))
    )
    return [
        pl.col("id").alias("cid"),
        curve.alias("per_turn"),
        ev("brier").alias("brier"),
        ev("log_score").alias("log_score"),
        ev("truth_first_listed").alias("first_listed"),
        ev("truth_first_leading").alias("first_leading"),
        ev("leader_changes").alias("leader_changes"),
        ev("truth_dropped").alias("truth_dropped"),
        ev("premature_closure").alias("premature"),
        ev("lucky_guess").alias("lucky"),
        ev("snapshot_flags").alias("flags"),
        ev("broken_snapshots").list.len().alias("broken"),
        ev("snapshot_reasks").alias("reasks"),
    ]


def per_turn_frame(records: list[Any]) -> Any:
    """The columns per_turn_stats reads, from Consultation records (the dataset card's), in the shard types."""
    import polars as pl
    import pyarrow as pa

    from schemas.arrow import arrow_schema, encode_record
    from schemas.consultation import Consultation

    table = pa.Table.from_pylist([encode_record(c) for c in records], schema=arrow_schema(Consultation))
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df.select(pl.col("evaluation").struct.field("correct").alias("correct"), *_per_turn_fields())


def _dist(values: Any) -> dict[str, float] | None:
    s = values.drop_nulls()
    if not len(s):
        return None
    return {
        "n": len(s),
        "mean": round(float(s.mean()), 4),
        "p10": round(float(s.quantile(0.1)), 4),
        "median": round(float(s.median()), 4),
        "p90": round(float(s.quantile(0.9)), 4),
    }


def per_turn_stats(df: Any) -> dict[str, Any]:
    """Statistics of the per-turn evaluation over consultations that have one ({"evaluated": 0} if none).

    Consultations written before the per-turn evaluation existed (schema 1.0) have no `per_turn` and are
    counted out, never as zeros.
    """
    import polars as pl

    ev = df.filter(pl.col("per_turn").list.len() > 0)
    m = ev.height
    if m == 0:
        return {"evaluated": 0}
    flags: Counter[str] = Counter()
    for kv in ev["flags"].drop_nulls().to_list():
        flags.update({e["key"]: e["value"] for e in kv})
    curve = (
        ev.select(pl.col("correct"), pl.col("per_turn"))
        .explode("per_turn")
        .unnest("per_turn")
        .group_by("correct", "doctor_turn")
        .agg(pl.col("truth_probability").mean().alias("p"), pl.len().alias("n"))
        .sort("doctor_turn")
    )
    by_turn: dict[str, dict[str, float]] = {"correct": {}, "incorrect": {}, "undecided": {}}
    for correct, turn, prob, _n in curve.iter_rows():
        group = {True: "correct", False: "incorrect"}.get(correct, "undecided")
        by_turn[group][str(turn)] = round(prob, 4)
    decided = ev["premature"].drop_nulls()
    return {
        "evaluated": m,
        "truth_listed_rate": round(ev["first_listed"].is_not_null().sum() / m, 4),
        "truth_leading_rate": round(ev["first_leading"].is_not_null().sum() / m, 4),
        "truth_first_listed": _dist(ev["first_listed"]),
        "truth_first_leading": _dist(ev["first_leading"]),
        "brier": _dist(ev["brier"]),
        "log_score": _dist(ev["log_score"]),
        "mean_leader_changes": round(float(ev["leader_changes"].fill_null(0).mean()), 4),  # type: ignore[arg-type]
        "mean_truth_dropped": round(float(ev["truth_dropped"].fill_null(0).mean()), 4),  # type: ignore[arg-type]
        "premature_closure": {"flagged": int(decided.sum()), "decided": len(decided)},
        "lucky_guesses": int(ev["lucky"].fill_null(False).sum()),
        "correct": int(ev["correct"].fill_null(False).sum()),
        "broken_snapshots": {
            "consultations": int((ev["broken"] > 0).sum()),
            "turns": int(ev["broken"].sum()),
            "by_flag": dict(sorted(flags.items())),
        },
        "snapshot_reasks": int(ev["reasks"].fill_null(0).sum()),
        "truth_probability_by_turn": {k: v for k, v in by_turn.items() if v},
    }


def _scan(out_dir: str | Path) -> Any:
    from synth.store.shards import scan_table

    lf = scan_table(Path(out_dir), "consultations")
    return None if lf is None else lf.select(_fields()).collect()


def consultation_report(out_dir: str | Path, k: int = 3) -> dict[str, Any]:
    """Statistics of every consultation written under out_dir; {"n": 0} when there is none."""
    import polars as pl

    df = _scan(out_dir)
    if df is None:
        return {"n": 0}
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
        "accuracy": round(correct.fill_null(False).sum() / n, 4),
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
        "per_turn": per_turn_stats(df),
    }


def render_consultation_report(report: dict[str, Any], console: Any = None) -> None:
    """The report as a Rich table (printed to `console`, or stdout)."""
    from rich.table import Table

    from synth.console import make_console

    console = console or make_console()
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
    rows += per_turn_rows(report.get("per_turn") or {"evaluated": 0}, report["n"])
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _fmt(d: dict[str, float] | None, digits: int = 3) -> str:
    if not d:
        return "-"
    return (
        " / ".join(f"{d[k]:.{digits}f}" for k in ("mean", "p10", "median", "p90")) + " (mean/p10/median/p90)"
    )


def per_turn_rows(pt: dict[str, Any], n: int) -> list[tuple[str, str]]:
    """(metric, value) rows of per_turn_stats, shared by the terminal report and the dataset card."""
    if not pt.get("evaluated"):
        return [("per-turn evaluation", f"none of {n} consultations (written before it existed)")]
    broken = pt["broken_snapshots"]
    pc = pt["premature_closure"]
    curve = "; ".join(
        f"{group}: " + " ".join(f"{t}:{p:.2f}" for t, p in list(points.items())[:12])
        for group, points in pt["truth_probability_by_turn"].items()
    )
    return [
        ("per-turn evaluation", f"{pt['evaluated']} of {n} consultations"),
        ("truth ever listed / leading", f"{pt['truth_listed_rate']:.1%} / {pt['truth_leading_rate']:.1%}"),
        ("doctor turn truth first listed", _fmt(pt["truth_first_listed"], 1)),
        ("doctor turn truth first leads", _fmt(pt["truth_first_leading"], 1)),
        ("Brier score (turn mean)", _fmt(pt["brier"])),
        ("log score (turn mean)", _fmt(pt["log_score"])),
        (
            "leader changes / truth dropped",
            f"{pt['mean_leader_changes']:g} / {pt['mean_truth_dropped']:g} (mean)",
        ),
        ("premature closure", f"{pc['flagged']} of {pc['decided']} with key facts"),
        ("lucky guesses", f"{pt['lucky_guesses']} of {pt['correct']} correct"),
        (
            "broken snapshots (kept, flagged)",
            f"{broken['consultations']} consultations, {broken['turns']} doctor turns"
            + (
                f" ({', '.join(f'{k}: {v}' for k, v in broken['by_flag'].items())})"
                if broken["by_flag"]
                else ""
            ),
        ),
        ("snapshot re-asks", str(pt["snapshot_reasks"])),
        ("truth probability by doctor turn", curve or "-"),
    ]


def truth_probability_plot(out_dir: str | Path, path: Path) -> Path | None:
    """PNG of the truth's probability against the doctor turn, correct vs incorrect consultations: up to
    MAX_LINES thin lines per group (the first by id) and the group's mean in bold. None when nothing has a
    per-turn evaluation."""
    import polars as pl

    df = _scan(out_dir)
    if df is None:
        return None
    df = df.filter(pl.col("per_turn").list.len() > 0).sort("cid")
    if df.height == 0:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    stats = per_turn_stats(df)["truth_probability_by_turn"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for value, group, colour in ((True, "correct", "#2e8b57"), (False, "incorrect", "#c0392b")):
        sub = df.filter(pl.col("correct") == value).head(MAX_LINES)
        for curve in sub["per_turn"].to_list():
            ax.plot([p["doctor_turn"] for p in curve], [p["truth_probability"] for p in curve],
                    color=colour, alpha=0.15, linewidth=0.8)  # fmt: skip
        mean = stats.get(group)
        if mean:
            ax.plot([int(t) for t in mean], list(mean.values()), color=colour, linewidth=2.5,
                    label=f"{group} (n={df.filter(pl.col('correct') == value).height}, mean)")  # fmt: skip
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # turns are whole numbers
    ax.set_xlabel("doctor turn")
    ax.set_ylabel("probability of the true diagnosis")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("The truth in the doctor's differential, turn by turn")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
