"""Job: synthesize hidden case cards with a teacher — sampler → structured output → checks → CaseCard.

A card that fails a gate (synth/cases/gates.py: duplicate facts, empty facts, the diagnosis named in the
patient's words, a differential that is no diagnosis, ...) is quarantined as `InconsistentCase` at stage
`case_gates`, its message the gate codes with their details (`names_diagnosis: fact f1 names ...; too_thin:
...`, read back by `gate_codes`); one the judge finds unsupported as `UnsupportedFindings`. Neither reaches
the output. The quarantine keeps no card: `benchmarks/case_gates.py collect` replays a run's request cache to
get the cards back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.case import Answer, CaseCard, CaseSource, Demographics, DifferentialEntry, Fact, Finding
from schemas.common import Record, TeacherCall
from synth.cases.config import CaseSynthesisConfig
from synth.cases.gates import format_problems, gate_card, profile_for
from synth.cases.sampler import CaseSampler, CaseSpec
from synth.jobs import Estimate, ItemFailed, Job, RunContext, WorkItem, call_record
from synth.prompts import load_template
from synth.teachers.teacher import Teacher

_FACT_CATEGORIES = Literal[
    "history_present_illness",
    "past_medical_history",
    "medications",
    "allergies",
    "family_history",
    "social_history",
    "review_of_systems",
]


class DraftFact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: _FACT_CATEGORIES
    text: str = Field(min_length=3, max_length=120)
    lay_text: str = Field(min_length=3, max_length=120)
    key: bool


class DraftFinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=40)
    result: str = Field(min_length=2, max_length=100)


class CaseDraft(BaseModel):
    """What the teacher fills in (kept small so even a tiny model can produce it under a grammar)."""

    model_config = ConfigDict(extra="forbid")

    opening_statement: str = Field(min_length=10, max_length=200)
    facts: list[DraftFact] = Field(min_length=3, max_length=6)
    exam: list[DraftFinding] = Field(min_length=1, max_length=3)
    tests: list[DraftFinding] = Field(min_length=1, max_length=3)
    differential: list[Annotated[str, StringConstraints(min_length=3, max_length=60)]] = Field(
        min_length=2, max_length=3
    )
    diagnosis: str = Field(min_length=3, max_length=60)


class SupportVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supported: bool
    reason: str = Field(min_length=3, max_length=300)


def draft_to_card(draft: CaseDraft, spec: CaseSpec) -> CaseCard:
    # The drawn diagnosis is the answer, whatever the model wrote in `diagnosis`: the card is about it.
    return CaseCard(
        specialty=spec.specialty,
        acuity=spec.acuity,  # type: ignore[arg-type]
        prevalence=spec.prevalence,  # type: ignore[arg-type]
        demographics=Demographics(age_years=spec.age, sex=spec.sex),  # type: ignore[arg-type]
        opening_statement=draft.opening_statement.strip(),
        facts=[
            Fact(
                id=f"f{i + 1}",
                category=f.category,
                text=f.text.strip(),
                lay_text=f.lay_text.strip(),
                key=f.key,
            )
            for i, f in enumerate(draft.facts)
        ],
        exam=[Finding(name=f.name.strip(), result=f.result.strip()) for f in draft.exam],
        tests=[Finding(name=t.name.strip(), result=t.result.strip()) for t in draft.tests],
        answer=Answer(
            diagnosis=spec.diagnosis,
            aliases=list(spec.aliases),
            differential=[DifferentialEntry(diagnosis=d.strip()) for d in draft.differential if d.strip()],
        ),
        source=CaseSource(dataset="synthetic", licence="CC-BY-4.0"),
    )


class CaseSynthesisJob(Job):
    name = "case_synthesis"
    table = "cases"
    record_type = CaseCard

    def __init__(self, cfg: CaseSynthesisConfig, seed: int):
        self.cfg = cfg
        self.seed = seed
        self.sampler = CaseSampler(cfg.sampler, seed)
        self.template = load_template("case_synthesis")
        self.judge_template = load_template("case_consistency") if cfg.judge else None

    def items(self) -> Iterator[WorkItem]:
        return self._stream(0)

    def stream_key(self) -> str:
        # Item i is (synth-<seed>-<i>, i) whatever else the config says: n only cuts the stream.
        return f"case_synthesis/1 seed={self.seed}"

    def items_from(self, start: int) -> Iterator[WorkItem]:
        return self._stream(start)

    def _stream(self, start: int) -> Iterator[WorkItem]:
        # Neither `items` nor `items_from` calls the other: a Ray partition replaces both on the instance.
        for i in range(start, self.cfg.n):
            yield WorkItem(id=f"synth-{self.seed}-{i:06d}", payload=i)

    def total(self) -> int:
        return self.cfg.n

    def teacher_names(self) -> list[str]:
        return [self.cfg.teacher] + ([self.cfg.judge] if self.cfg.judge else [])

    def _messages(self, spec: CaseSpec) -> list[dict[str, str]]:
        return self.template.messages(**spec.as_dict())

    def _params(self, teacher: Teacher, item: WorkItem):  # type: ignore[no-untyped-def]
        params = self.cfg.params or teacher.params
        # A per-item seed: identical prompts for two items still give two different cases.
        return params.model_copy(update={"seed": (self.seed * 1_000_003 + item.payload) % 2**31})

    async def process(self, item: WorkItem, ctx: RunContext) -> list[Record]:
        spec = self.sampler.spec(item.payload)
        teacher = ctx.teacher(self.cfg.teacher)
        params = self._params(teacher, item)
        c = await teacher.complete(self._messages(spec), params, CaseDraft, tag=self.template.tag)
        calls: list[TeacherCall] = [call_record("case_synthesis", c, self.template.ref, params)]
        assert isinstance(c.parsed, CaseDraft)
        try:
            card = draft_to_card(c.parsed, spec)
        except ValueError as e:
            raise ItemFailed("RecordInvalid", "case_synthesis", str(e)) from e
        problems = gate_card(card, profile_for(card, self.cfg.min_facts))
        if problems:
            raise ItemFailed("InconsistentCase", "case_gates", format_problems(problems))
        if self.cfg.judge and self.judge_template is not None:
            judge = ctx.teacher(self.cfg.judge)
            jparams = judge.params.model_copy(update={"temperature": 0.0, "max_tokens": 200})
            msgs = self.judge_template.messages(
                diagnosis=spec.diagnosis,
                opening=card.opening_statement,
                exam=[f.model_dump() for f in card.exam],
                tests=[t.model_dump() for t in card.tests],
            )
            v = await judge.complete(msgs, jparams, SupportVerdict, tag=self.judge_template.tag)
            calls.append(call_record("case_consistency", v, self.judge_template.ref, jparams))
            assert isinstance(v.parsed, SupportVerdict)
            if not v.parsed.supported:
                raise ItemFailed("UnsupportedFindings", "consistency_judge", v.parsed.reason)
        card.provenance = ctx.provenance(self.name, calls, seed=params.seed)
        return [card]

    def estimate(self, todo: list[WorkItem], teachers: dict[str, Teacher]) -> Estimate:
        teacher = teachers[self.cfg.teacher]
        prompt_chars = 0
        cached = 0
        max_tokens = 0
        for item in todo:
            spec = self.sampler.spec(item.payload)
            msgs = self._messages(spec)
            params = self._params(teacher, item)
            prompt_chars += sum(len(m["content"]) for m in msgs)
            max_tokens += params.max_tokens
            if teacher.cache is not None and teacher.cache.contains(
                teacher.key_for(teacher.request_for(msgs, params, CaseDraft), self.template.tag)
            ):
                cached += 1
        per_item = 2 if self.cfg.judge else 1
        n = len(todo)
        judge_tokens = 200 * n if self.cfg.judge else 0
        return Estimate(
            job=self.name,
            items_total=self.total(),
            items_todo=n,
            requests=n * per_item,
            requests_max=n * (1 + teacher.max_reasks) + (n if self.cfg.judge else 0),
            prompt_tokens=prompt_chars // 4 + (n * 200 if self.cfg.judge else 0),
            completion_tokens_max=max_tokens * (1 + teacher.max_reasks) + judge_tokens,
            cached_requests=cached,
            teachers=self.teacher_names(),
        )
