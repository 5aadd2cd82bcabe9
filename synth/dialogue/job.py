"""Job: simulated consultations — one work item is one consultation of one case, its turns run in sequence.

Many items run at once (the runner's concurrency); inside one, doctor and patient alternate. Every teacher call
goes through the request cache, so an interrupted consultation replays its finished turns from the cache at no
cost and continues where it stopped. Item ids are `<case id>-<k>` for the k-th consultation of a case: stable
whatever the source, so a rerun skips what is done.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from schemas.case import CaseCard
from schemas.common import Record
from schemas.consultation import Consultation
from synth.dialogue.agents import DoctorAgent, DoctorOutput, PatientAgent
from synth.dialogue.config import ConsultationsConfig, ImportedCases
from synth.dialogue.director import Director
from synth.dialogue.evaluate import evaluate
from synth.jobs import Estimate, Job, RunContext, WorkItem, ids_stream_key
from synth.prompts import load_template
from synth.teachers.base import SamplingParams
from synth.teachers.teacher import Teacher


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def load_cases(cfg: ConsultationsConfig, output: Path) -> list[CaseCard]:
    """The cases to consult on, deterministic order, without duplicates, at most `limit`."""
    if cfg.cases == "from_run":
        from synth.store.shards import iter_records

        # Shard order follows completion order, which varies between runs: sort by the content id.
        cards = sorted(iter_records(output, "cases", CaseCard), key=lambda c: c.id)
    elif cfg.cases == "seeds":
        from synth.cases.seeds import load_seed_cases  # type: ignore[import-not-found,unused-ignore]

        cards = list(load_seed_cases())
    else:
        assert isinstance(cfg.cases, ImportedCases)
        from synth.cases.importers import import_cases

        result = import_cases(cfg.cases.path, cfg.cases.format)
        if result.skips:
            # Never silently: the importer keeps every skipped line with its reason.
            reasons = Counter(s.code for s in result.skips)
            print(
                f"[consultations] {cfg.cases.path}: {result.skipped} of {result.read} records not used "
                f"({', '.join(f'{k}: {v}' for k, v in reasons.most_common())})",
                file=sys.stderr,
            )
        cards = result.cards
    seen: set[str] = set()
    unique = []
    for c in cards:
        if c.id not in seen:
            seen.add(c.id)
            unique.append(c)
    return unique[: cfg.limit] if cfg.limit else unique


class ConsultationJob(Job):
    name = "consultations"
    table = "consultations"
    record_type = Consultation

    def __init__(self, cfg: ConsultationsConfig, seed: int, output: Path):
        self.cfg = cfg
        self.seed = seed
        self.output = output
        self._cases: list[CaseCard] | None = None

    def cases(self) -> list[CaseCard]:
        # Read on first use, not at construction: with `from_run` the cases are written by an earlier job
        # of the same run.
        if self._cases is None:
            self._cases = load_cases(self.cfg, self.output)
        return self._cases

    def items(self) -> Iterator[WorkItem]:
        return self._stream(0)

    def stream_key(self) -> str:
        # Item i is the (i % per_case)-th consultation of case i // per_case: the same while the case list (in
        # its order) and per_case are; n only cuts the stream.
        return ids_stream_key(self.name, (c.id for c in self.cases()), per_case=self.cfg.per_case)

    def items_from(self, start: int) -> Iterator[WorkItem]:
        return self._stream(start)

    def _stream(self, start: int) -> Iterator[WorkItem]:
        # Neither `items`, `items_from` nor `total` is called here: a Ray partition replaces all three on the
        # instance (its `total` counts its `items`).
        cases, per_case = self.cases(), self.cfg.per_case
        for i in range(start, self._count()):
            case = cases[i // per_case]
            yield WorkItem(id=f"{case.id}-{i % per_case}", payload=case)

    def total(self) -> int:
        return self._count()

    def _count(self) -> int:
        total = len(self.cases()) * self.cfg.per_case
        return min(total, self.cfg.n) if self.cfg.n is not None else total

    def teacher_names(self) -> list[str]:
        names = [self.cfg.doctor, self.cfg.patient] + ([self.cfg.judge] if self.cfg.judge else [])
        return sorted(set(names))

    def persona(self, item: WorkItem) -> str:
        return self.cfg.personas[_stable_int(f"persona:{item.id}") % len(self.cfg.personas)]

    def item_seed(self, item: WorkItem) -> int:
        return _stable_int(f"{self.seed}:{item.id}") % 2**31

    def _params(self, teacher: Teacher, override: SamplingParams | None, seed: int) -> SamplingParams:
        return (override or teacher.params).model_copy(update={"seed": seed})

    async def process(self, item: WorkItem, ctx: RunContext) -> list[Record]:
        card: CaseCard = item.payload
        cfg, seed, persona = self.cfg, self.item_seed(item), self.persona(item)
        doctor_teacher, patient_teacher = ctx.teacher(cfg.doctor), ctx.teacher(cfg.patient)
        doctor = DoctorAgent(
            doctor_teacher,
            self._params(doctor_teacher, cfg.doctor_params, seed),
            card,
            cfg.min_turns,
            cfg.max_turns,
        )
        patient = PatientAgent(
            patient_teacher, self._params(patient_teacher, cfg.patient_params, seed), card, persona
        )
        transcript = await Director(cfg, card, doctor, patient).run()
        judge = ctx.teacher(cfg.judge) if cfg.judge else None
        evaluation, judge_calls = await evaluate(transcript, card, judge, seed)
        assert transcript.termination is not None
        # Calls in the order they happened within each role; the roles interleave turn by turn.
        calls = doctor.calls + patient.calls + judge_calls
        record = Consultation(
            case_id=card.id,
            turns=transcript.turns,
            termination=transcript.termination,
            final=transcript.final,
            evaluation=evaluation,
            persona=persona,
            doctor_turns=sum(t.speaker == "doctor" for t in transcript.turns),
            scores={
                "leakage_regenerations": float(transcript.leakage_regenerations),
                "snapshot_reasks": float(transcript.snapshot_reasks),
            },
            provenance=ctx.provenance(self.name, calls, seed=seed),
        )
        return [record]

    def estimate(self, todo: list[WorkItem], teachers: dict[str, Teacher]) -> Estimate:
        """Rough: a consultation is taken to run halfway between min and max turns, a patient turn per doctor
        turn, each prompt the whole history so far (≈ system prompt + 60 tokens a turn)."""
        cfg, n = self.cfg, len(todo)
        doctor, patient = teachers[cfg.doctor], teachers[cfg.patient]
        turns = (cfg.min_turns + cfg.max_turns) // 2
        system = len(load_template("doctor").system) // 4 + len(load_template("patient").system) // 4 + 150
        per_turn = 2 * system + 60 * turns  # doctor + patient prompts at the average history length
        cached = 0
        for item in todo:
            d = DoctorAgent(
                doctor,
                self._params(doctor, cfg.doctor_params, self.item_seed(item)),
                item.payload,
                cfg.min_turns,
                cfg.max_turns,
            )
            d._flush()
            if doctor.cache is not None and doctor.cache.contains(
                doctor.key_for(doctor.request_for(d.messages, d.params, DoctorOutput), d.template.tag)
            ):
                cached += 1
        max_calls = (cfg.max_turns + 1) * (1 + doctor.max_reasks) * (
            1 + cfg.snapshot_retries
        ) + cfg.max_turns * ((1 + patient.max_reasks) * (1 + cfg.leakage_retries))
        max_tokens = (cfg.doctor_params or doctor.params).max_tokens + (
            cfg.patient_params or patient.params
        ).max_tokens
        return Estimate(
            job=self.name,
            items_total=self.total(),
            items_todo=n,
            requests=n * (2 * turns + (1 if cfg.judge else 0)),
            requests_max=n * (max_calls + (1 if cfg.judge else 0)),
            prompt_tokens=n * turns * per_turn,
            completion_tokens_max=n * (cfg.max_turns + 1) * max_tokens,
            cached_requests=cached,
            teachers=self.teacher_names(),
        )
