"""Leakage: drop a consultation in which the patient names the hidden diagnosis or one of its aliases.

The simulator already regenerates leaking patient answers and flags the ones it had to keep
(`evaluation.leakage_flags`); this stage does not take the flags on trust. It re-reads every patient turn
with the simulator's own matcher (`synth.cases.checks.names_diagnosis`: normalised whole words, so
"appendicitis" is caught in "is it appendicitis?" and "AF" is not caught inside "after") against the case
card's diagnosis and aliases, and drops on a match or on a flag.

The cards come from the constructor (the pipeline passes the input run's cases table plus the shipped
seeds), or from the run folder named by `hidden_answers`, falling back to the shipped seed cards. A
consultation whose card is not found cannot be checked: it is kept only when the simulator raised no flag,
and counted in `summary["unchecked"]` so the funnel shows what went unverified.
"""

from __future__ import annotations

from typing import Any, ClassVar

from schemas.case import CaseCard
from schemas.consultation import Consultation
from synth.cases.checks import names_diagnosis
from synth.quality.base import Doc, Filter
from synth.quality.config import LeakageConfig


def load_cards(cfg: LeakageConfig) -> dict[str, CaseCard]:
    """The shipped seed cards, overlaid with the cases table of the `hidden_answers` run folder if given."""
    from synth.cases.seeds import load_seed_cases  # type: ignore[import-not-found,unused-ignore]

    cards = {c.id: c for c in load_seed_cases()}
    if cfg.hidden_answers is not None:
        from synth.store.shards import iter_records, shard_paths

        if not shard_paths(cfg.hidden_answers, "cases"):
            raise FileNotFoundError(
                f"leakage: {cfg.hidden_answers} has no cases table (data/cases/*.parquet)"
            )
        cards.update({c.id: c for c in iter_records(cfg.hidden_answers, "cases", CaseCard)})
    return cards


class LeakageFilter(Filter):
    name: ClassVar[str] = "leakage"

    def __init__(self, cfg: LeakageConfig, cases: dict[str, CaseCard] | None = None):
        self.cfg = cfg
        self.cases = dict(cases) if cases is not None else load_cards(cfg)
        self.summary: dict[str, Any] = {"checked": 0, "unchecked": 0, "leaking": 0, "unknown_cases": []}

    def check(self, doc: Doc) -> str | None:
        c = doc.record
        if not isinstance(c, Consultation):
            return None
        card = self.cases.get(c.case_id)
        flagged = sorted(set(c.evaluation.leakage_flags))
        if card is None:
            self.summary["unchecked"] += 1
            unknown = self.summary["unknown_cases"]
            if c.case_id not in unknown and len(unknown) < 20:
                unknown.append(c.case_id)
            if flagged:
                self.summary["leaking"] += 1
                return (
                    f"leakage: patient turn {flagged[0]} flagged by the simulator "
                    f"(case {c.case_id} unknown, text not re-checked)"
                )
            return None
        self.summary["checked"] += 1
        terms = [card.answer.diagnosis, *card.answer.aliases]
        for t in c.turns:
            if t.speaker != "patient":
                continue
            term = names_diagnosis(t.text, terms)
            if term is not None:
                self.summary["leaking"] += 1
                return f"leakage: patient turn {t.index} names the diagnosis ({term!r})"
        if flagged:
            self.summary["leaking"] += 1
            return f"leakage: patient turn {flagged[0]} flagged by the simulator"
        return None
