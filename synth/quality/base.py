"""What a quality stage is: a step over a list of `Doc`s that keeps some and drops the rest with a reason.

One record type flows through (a `Doc` wraps any stored record with the text stages look at, its group and
its scores); a pipeline is a plain list of stages; a stage never knows who runs it. Three kinds:

- `Filter`: fill in `check(doc) -> reason | None` (None keeps); the base class records the drops.
- `Transform`: fill in `apply(doc) -> doc` (e.g. PHI scrubbing); nothing is dropped.
- `Stage` itself for corpus-level work (dedup, selection by score): `run(docs, ctx)` returns the kept docs
  and calls `ctx.drop(doc, stage, reason, duplicate_of=...)` for every other one.

Every drop lands in the ledger; `ctx.score(doc, name, value)` records a score that travels with the record.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from schemas.case import CaseCard
from schemas.common import Record
from schemas.consultation import Consultation
from schemas.problem import ReasoningTrace, VerifiableProblem


@dataclass
class Doc:
    """One record in the filter."""

    table: str  # consultations | problems | reasoning | cases ...
    id: str
    record: Record
    text: str  # what text stages read: the whole generated text of the record
    group: str  # the case / problem it belongs to (dedup keeps one per component, publish splits by it)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return type(self.record).__name__


@dataclass(frozen=True)
class Drop:
    record_id: str
    table: str
    stage: str
    reason: str
    duplicate_of: str | None = None


@dataclass
class StageContext:
    """What a stage may use: teachers (for judge stages), a work folder (indexes), the seed, the drop sink."""

    teachers: dict[str, Any] = field(default_factory=dict)
    work_dir: Path | None = None
    seed: int = 0
    concurrency: int = 32  # judge calls in flight
    drops: list[Drop] = field(default_factory=list)
    on_drop: Callable[[Drop], None] | None = None

    def drop(self, doc: Doc, stage: str, reason: str, duplicate_of: str | None = None) -> None:
        d = Drop(doc.id, doc.table, stage, reason, duplicate_of)
        self.drops.append(d)
        if self.on_drop is not None:
            self.on_drop(d)

    def teacher(self, name: str) -> Any:
        if name not in self.teachers:
            raise KeyError(f"teacher {name!r} is not configured (have: {sorted(self.teachers)})")
        return self.teachers[name]

    @staticmethod
    def score(doc: Doc, name: str, value: float) -> None:
        doc.scores[name] = float(value)


class Stage(abc.ABC):
    """A corpus-level step. `name` is how the ledger and the funnel call it."""

    name: ClassVar[str]

    @abc.abstractmethod
    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]: ...


class Filter(Stage):
    """Keep or drop each doc on its own."""

    @abc.abstractmethod
    def check(self, doc: Doc) -> str | None:
        """The reason to drop `doc`, or None to keep it."""

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        kept = []
        for d in docs:
            reason = self.check(d)
            if reason is None:
                kept.append(d)
            else:
                ctx.drop(d, self.name, reason)
        return kept


class Transform(Stage):
    """Rewrite each doc (its record and text); drops nothing."""

    @abc.abstractmethod
    def apply(self, doc: Doc) -> Doc: ...

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        return [self.apply(d) for d in docs]


# ------------------------------------------------------------------------------- records → text and group


def consultation_text(c: Consultation) -> str:
    """The dialogue as it would be trained on: speaker-tagged turns (the doctor's private reasoning apart)."""
    return "\n".join(f"{t.speaker}: {t.text}" for t in c.turns)


def case_text(c: CaseCard) -> str:
    """A card as text stages read it: what the patient says and knows, the findings, the answer and the
    differential — one line each, so dedup compares content and never ids or provenance."""
    lines = [c.opening_statement]
    for f in c.facts:
        lines.append(f.text if not f.lay_text else f"{f.text} | {f.lay_text}")
    lines += [f"{x.name}: {x.result}" for x in [*c.exam, *c.tests]]
    lines.append(c.answer.diagnosis)
    lines += [d.diagnosis for d in c.answer.differential]
    return "\n".join(lines)


def record_text(record: Record) -> str:
    if isinstance(record, CaseCard):
        return case_text(record)
    if isinstance(record, Consultation):
        return consultation_text(record)
    if isinstance(record, VerifiableProblem):
        return f"{record.question}\n{record.ground_truth}"
    if isinstance(record, ReasoningTrace):
        parts = [record.question, record.natural_thinking or "", record.final_response or ""]
        if not record.natural_thinking:
            parts += [t for s in record.steps for t in s.thinking]
        return "\n".join(p for p in parts if p)
    # any other record: its string fields, in order
    return "\n".join(v for v in record.model_dump(mode="json").values() if isinstance(v, str))


def record_group(record: Record) -> str:
    if isinstance(record, Consultation):
        return record.case_id
    if isinstance(record, ReasoningTrace):
        return record.problem_id
    return str(getattr(record, "id", ""))


def make_doc(table: str, record: Record) -> Doc:
    scores = dict(getattr(record, "scores", {}) or {})
    return Doc(
        table=table,
        id=str(getattr(record, "id", "")),
        record=record,
        text=record_text(record),
        group=record_group(record),
        scores=scores,
    )
