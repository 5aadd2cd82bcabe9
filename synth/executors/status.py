"""`synth status` of a Ray run: the partitions' run states read as one (counts, quarantine, teachers, runs)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from synth.store.state import Quarantined, RunState, sum_teacher_stats


class MergedState:
    """The reporting side of RunState, summed over OUT/partitions/*/state.sqlite (read-only)."""

    def __init__(self, out: Path):
        self.out = out
        self.states = [RunState(p) for p in sorted((out / "partitions").glob("p*/state.sqlite"))]

    def close(self) -> None:
        for s in self.states:
            s.close()

    def finished_ids(self, job: str, *, retry_quarantined: bool = False) -> set[str]:
        """What a rerun skips, over every partition (the dry run of a Ray run asks)."""
        return set().union(*(s.finished_ids(job, retry_quarantined=retry_quarantined) for s in self.states))

    def counts(self) -> dict[str, dict[str, int]]:
        items: dict[str, Counter[str]] = {}
        for state in self.states:
            for job, counts in state.counts().items():
                items.setdefault(job, Counter()).update(counts)
        return {job: dict(c) for job, c in items.items()}

    def quarantine_reasons(self) -> list[tuple[str, str, str, int, str]]:
        reasons: dict[tuple[str, str, str], tuple[int, str]] = {}
        for state in self.states:
            for job, stage, err, n, example in state.quarantine_reasons():
                had, ex = reasons.get((job, stage, err), (0, example))
                reasons[(job, stage, err)] = (had + n, min(ex, example))
        rows = [(j, s, e, n, ex) for (j, s, e), (n, ex) in reasons.items()]
        return sorted(rows, key=lambda r: -r[3])

    def quarantined(self, job: str | None = None) -> list[Quarantined]:
        return sorted((q for s in self.states for q in s.quarantined(job)), key=lambda q: (q.job, q.item_id))

    def teacher_totals(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        return sum_teacher_stats(row for state in self.states for row in state.teacher_totals())

    def runs(self) -> list[tuple[str, float, float | None, str]]:
        """The driver's runs (from OUT/manifest.json): one per `synth run`, whatever its partitions."""
        manifest = self.out / "manifest.json"
        runs = json.loads(manifest.read_text()).get("runs", []) if manifest.exists() else []
        return [(r["run_id"], 0.0, None, r.get("status", "?")) for r in runs]
