"""Problems and reasoning statistics over an output folder: what the search found, at what depth, by which
strategy, and which verifier stage decided. (Screen drops are in the quarantine, counted by `synth status`.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


def reasoning_report(out_dir: str | Path) -> dict[str, Any]:
    from schemas.problem import ReasoningTrace, VerifiableProblem
    from synth.store.shards import iter_records

    out = Path(out_dir)
    problems = sum(1 for _ in iter_records(out, "problems", VerifiableProblem))
    n = searched = hinted = 0
    depth: Counter[str] = Counter()
    used: Counter[str] = Counter()
    won: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    steps = 0
    for t in iter_records(out, "reasoning", ReasoningTrace):
        n += 1
        steps += len(t.steps)
        for s in t.steps:
            used[s.strategy] += 1
            stages[s.verdict_stage] += 1
            if s.verdict == "true":
                won[s.strategy] += 1
        if t.success and t.label_hinted:
            hinted += 1
        elif t.success:
            searched += 1
            last = next(s for s in reversed(t.steps) if s.verdict == "true")
            depth[f"attempt {last.attempt}, depth {last.iteration}"] += 1
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
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
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
