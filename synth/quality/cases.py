"""The case-card gates as a filter stage: a card that fails any gate is dropped, its reason the gate codes.

`{stage: case_gates, min_facts: null}` runs `synth.cases.gates.gate_card` on every record of the `cases`
table with the profile of the card's source (imported MCQ cases may lack findings; synthesized ones are also
compared with their prompt). The ledger reason is the gate message, `code: detail` joined with "; "
(`names_diagnosis: fact f1 names the diagnosis ('bppv'); too_thin: 1 distinct facts ...`), so a ledger is
grouped by code with `synth.cases.gates.gate_codes`. The summary counts drops per code (a card can count under
several). Other tables pass untouched.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from schemas.case import CaseCard
from synth.cases.gates import format_problems, gate_card, profile_for
from synth.quality.base import Doc, Filter
from synth.quality.config import CaseGatesConfig


class CaseGateFilter(Filter):
    name: ClassVar[str] = "case_gates"

    def __init__(self, cfg: CaseGatesConfig | None = None):
        self.cfg = cfg
        self.summary: dict[str, int] = {}

    def check(self, doc: Doc) -> str | None:
        card = doc.record
        if not isinstance(card, CaseCard):
            return None
        min_facts = self.cfg.min_facts if self.cfg is not None else None
        problems = gate_card(card, profile_for(card, min_facts))
        if not problems:
            return None
        counts = Counter(self.summary)
        counts.update(p.code for p in problems)
        self.summary = dict(counts)
        return format_problems(problems)
