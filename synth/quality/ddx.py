"""The `ddx` stage: drop consultations whose hidden reasoning does not support their outcome.

It reads the per-turn evaluation the simulator stored in each record (synth/dialogue/turn_eval.py: every
doctor snapshot matched against the hidden answer). What it drops, each with its reason in the ledger:

- `lucky_guess` (on by default): the final diagnosis is correct, but the truth was in no differential
  before the final turn — a right answer the reasoning never led to is no example to learn from. Recomputed
  here from the stored per-turn scores (first turn with a hit against the final doctor turn), not taken from
  the stored flag;
- `broken_snapshot` (`drop_broken_snapshots`): a doctor turn whose differential or final diagnosis still
  broke the snapshot contract after the re-asks (duplicates, probabilities above 1, sentences as names,
  unsorted, a final diagnosis without a name);
- `premature_closure` (`drop_premature_closure`): the final diagnosis came before every key fact of the case
  was elicited.

Records written before the per-turn evaluation existed (schema 1.0) cannot be judged: they are kept and
counted in `summary["unevaluated"]`, or dropped as `unevaluated` with `require_evaluation`. Other tables pass.
"""

from __future__ import annotations

from typing import Any, ClassVar

from schemas.consultation import Consultation
from synth.quality.base import Doc, Filter
from synth.quality.config import DdxConfig


def final_doctor_turn(c: Consultation) -> int | None:
    """1-based number of the doctor turn that ended the consultation (None without a final diagnosis)."""
    if c.final is None:
        return None
    n = 0
    for t in c.turns:
        n += t.speaker == "doctor"
        if t.index == c.termination.turn:
            return n if t.speaker == "doctor" else None
    return None


def lucky_guess(c: Consultation) -> bool | None:
    """Correct, and no snapshot before the final doctor turn listed the truth; None when not decidable."""
    ev = c.evaluation
    final = final_doctor_turn(c)
    if ev.correct is not True or final is None or not ev.per_turn:
        return None
    return not any(s.truth_rank is not None and s.doctor_turn < final for s in ev.per_turn)


def _evaluated(c: Consultation) -> bool:
    # A 1.0 record has no per-turn scores although its doctor turns carry snapshots.
    return bool(c.evaluation.per_turn) or not any(t.ddx for t in c.turns)


class DdxFilter(Filter):
    name: ClassVar[str] = "ddx"

    def __init__(self, cfg: DdxConfig):
        self.cfg = cfg
        self.summary: dict[str, Any] = {
            "checked": 0,
            "unevaluated": 0,
            "lucky_guess": 0,
            "broken_snapshot": 0,
            "premature_closure": 0,
        }

    def check(self, doc: Doc) -> str | None:
        c = doc.record
        if not isinstance(c, Consultation):
            return None
        cfg, ev = self.cfg, c.evaluation
        if not _evaluated(c):
            self.summary["unevaluated"] += 1
            if cfg.require_evaluation:
                return "unevaluated: no per-turn evaluation (a record written before schema 1.1)"
            return None
        self.summary["checked"] += 1
        if cfg.drop_lucky_guess and lucky_guess(c):
            self.summary["lucky_guess"] += 1
            final = c.final.diagnosis if c.final else ""
            return (
                f"lucky_guess: correct final diagnosis {final!r} at doctor turn {final_doctor_turn(c)} was in "
                "no differential before it"
            )
        if cfg.drop_broken_snapshots:
            broken = [t for t in c.turns if t.snapshot_flags]
            if broken:
                self.summary["broken_snapshot"] += 1
                first = broken[0]
                return (
                    f"broken_snapshot: {len(broken)} doctor turn(s) kept broken after re-asks, first turn "
                    f"{first.index}: {', '.join(first.snapshot_flags)}"
                )
        if cfg.drop_premature_closure and ev.premature_closure:
            self.summary["premature_closure"] += 1
            return (
                f"premature_closure: final diagnosis at turn {c.termination.turn} before key facts "
                f"{', '.join(ev.key_facts_missing)} were elicited"
            )
        return None
