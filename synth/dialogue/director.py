"""The director: runs one consultation turn by turn and decides when it ends.

- Turn budget on doctor turns: a final diagnosis before `min_turns` is answered by a system note asking to go
  on (recorded as a turn); after `max_turns` doctor turns without one, the doctor is told to commit and called
  once more — whatever it then does is taken as its final answer (termination "forced_final").
- Loops: a question (or test request) the doctor already made, after normalisation, counts as a repeat; at
  `loop_repeats` repeats the doctor is told to commit now (termination "loop_detected").
- Leakage: a patient answer that names the hidden diagnosis or an alias is regenerated with a note, up to
  `leakage_retries` times, then kept and flagged; or the whole consultation is quarantined ("Leakage").
- Snapshot contract (synth/dialogue/ddx.py): a doctor turn whose differential breaks it, or whose final
  diagnosis is no name, is re-asked with the errors up to `snapshot_retries` times; what still breaks it is
  recorded as written with typed flags on the turn. A doctor without `reask` (train's replay of a model under
  evaluation) is never re-asked: its first answer is what is measured, flags and all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from schemas.case import CaseCard
from schemas.consultation import DDxItem, FinalDiagnosis, Termination, TerminationReason, Turn
from schemas.matching.lexical import normalise, tokens
from synth.dialogue.agents import DoctorAgent, DoctorOutput, PatientAgent
from synth.dialogue.config import ConsultationsConfig
from synth.dialogue.ddx import FinalName, Problem, final_name, final_problems, reask_note, snapshot_problems
from synth.dialogue.examiner import Examiner, split_requests
from synth.jobs import ItemFailed

# Words too common to show that a patient turn conveyed a fact.
_FILLER = frozenset(
    "i im my me it its is was am are be been have has had do did does for at about this that there they he she"  # noqa: SIM905
    " we you your our get got very really just some bit lot so but or if when then than".split()
)


def fact_tokens(text: str) -> frozenset[str]:
    return frozenset(t for t in tokens(text) if t not in _FILLER)


# A card's fact wordings are tokenised again at every patient turn of every consultation over it; at hundreds
# of concurrent consultations that was 5-10 % of the event loop's time (docs/benchmarks.md, Consultations).
_wording_tokens = lru_cache(maxsize=8192)(fact_tokens)


def revealed_facts(card: CaseCard, said: str, threshold: float = 0.6) -> list[str]:
    """Facts whose words (lay or clinical wording) the patient turn mostly repeats."""
    have = fact_tokens(said)
    out = []
    for f in card.facts:
        for wording in (f.lay_text, f.text):
            want = _wording_tokens(wording or "")
            if want and len(want & have) / len(want) >= threshold:
                out.append(f.id)
                break
    return out


@dataclass
class Transcript:
    turns: list[Turn] = field(default_factory=list)
    termination: Termination | None = None
    final: FinalDiagnosis | None = None
    questions_asked: int = 0
    tests_ordered: int = 0
    repeated_questions: int = 0
    repeats: int = 0
    leakage_flags: list[int] = field(default_factory=list)
    leakage_regenerations: int = 0
    snapshot_reasks: int = 0

    def add(self, **kw: object) -> Turn:
        turn = Turn(index=len(self.turns), **kw)  # type: ignore[arg-type]
        self.turns.append(turn)
        return turn


def _ddx(out: DoctorOutput) -> list[DDxItem]:
    # As written, in the doctor's order: an unsorted snapshot is flagged, never re-sorted.
    return [DDxItem(diagnosis=d.diagnosis, probability=d.probability) for d in out.ddx]


def problems_of(out: DoctorOutput) -> list[Problem]:
    """How a doctor reply breaks the snapshot contract (its final diagnosis too, when it gives one)."""
    problems = snapshot_problems(out.ddx)
    if out.action == "final_diagnosis":
        problems += final_problems(out.diagnosis, out.text)
    return problems


@dataclass
class _Reply:
    out: DoctorOutput
    problems: list[Problem]
    reasks: int

    @property
    def flags(self) -> list[str]:
        return [p.flag for p in self.problems]


class Director:
    def __init__(self, cfg: ConsultationsConfig, card: CaseCard, doctor: DoctorAgent, patient: PatientAgent):
        self.cfg = cfg
        self.card = card
        self.doctor = doctor
        self.patient = patient
        self.examiner = Examiner(card)

    async def run(self) -> Transcript:
        cfg, t = self.cfg, Transcript()
        opening = self.card.opening_statement
        t.add(
            speaker="patient",
            act="answer",
            text=opening,
            revealed_fact_ids=revealed_facts(self.card, opening),
        )
        seen: Counter[tuple[str, str]] = Counter()
        doctor_turns = 0
        while True:
            if doctor_turns >= cfg.max_turns:
                return await self._force(t, "force", "forced_final")
            reply = await self._act(t)
            out = reply.out
            doctor_turns += 1
            if out.action == "final_diagnosis":
                name = final_name(out.diagnosis, out.text, out.ddx, committed=True)
                self._doctor_turn(t, reply, name.name, statement=out.text)
                if doctor_turns >= cfg.min_turns:
                    return self._finish(t, out, name, "final_diagnosis")
                t.add(speaker="system", act="note", text=self.doctor.hear(kind="premature"))
                continue
            key = (out.action, normalise(out.text))
            seen[key] += 1
            if seen[key] > 1:
                t.repeats += 1
                t.repeated_questions += out.action == "ask"
            if out.action == "ask":
                t.questions_asked += 1
                self._doctor_turn(t, reply, out.text)
            else:
                requested = split_requests(out.text, cfg.max_tests_per_request) or [out.text]
                t.tests_ordered += len(requested)
                self._doctor_turn(t, reply, out.text, tests=requested)
            if t.repeats >= cfg.loop_repeats:
                return await self._force(t, "loop", "loop_detected")
            if out.action == "ask":
                await self._patient_turn(t, out.text)
            else:
                result = self.examiner.answer(requested)
                t.add(speaker="examiner", act="result", text=result)
                self.doctor.hear(kind="result", text=result)

    async def _act(self, t: Transcript) -> _Reply:
        """The doctor's next reply, re-asked while it breaks the snapshot contract (bounded)."""
        out = await self.doctor.act()
        problems = problems_of(out)
        used = 0
        reask = getattr(self.doctor, "reask", None)
        while problems and reask is not None and used < self.cfg.snapshot_retries:
            used += 1
            out = await reask(reask_note(problems))
            problems = problems_of(out)
        t.snapshot_reasks += used
        return _Reply(out, problems, used)

    def _doctor_turn(
        self,
        t: Transcript,
        reply: _Reply,
        text: str,
        tests: list[str] | None = None,
        act: str | None = None,
        statement: str | None = None,
    ) -> None:
        out = reply.out
        t.add(
            speaker="doctor",
            act=act or out.action,
            text=text,
            statement=statement if statement is not None and statement.strip() != text else None,
            reasoning=out.reasoning,
            ddx=_ddx(out),
            tests_requested=tests or [],
            snapshot_flags=list(dict.fromkeys(reply.flags)),
            reasks=reply.reasks,
        )

    async def _patient_turn(self, t: Transcript, question: str) -> None:
        cfg = self.cfg
        retries = cfg.leakage_retries if cfg.leakage == "regenerate" else 0
        answer, leaked, used = await self.patient.answer(question, retries)
        t.leakage_regenerations += used
        if leaked is not None and cfg.leakage == "quarantine":
            raise ItemFailed(
                "Leakage", "patient", f"patient turn names the diagnosis ({leaked!r}): {answer[:200]}"
            )
        turn = t.add(
            speaker="patient",
            act="answer",
            text=answer,
            revealed_fact_ids=revealed_facts(self.card, answer),
            leakage=leaked is not None,
        )
        if leaked is not None:
            t.leakage_flags.append(turn.index)
        self.doctor.hear(kind="patient", text=answer)

    async def _force(self, t: Transcript, note: str, reason: TerminationReason) -> Transcript:
        t.add(speaker="system", act="note", text=self.doctor.hear(kind=note))
        reply = await self._act(t)
        out = reply.out
        # Told to commit, the doctor's answer is final whatever its action: a question is not answered any
        # more, and its leading differential entry stands as the diagnosis (name source "leader").
        committed = out.action == "final_diagnosis"
        name = final_name(out.diagnosis, out.text, out.ddx, committed=committed)
        self._doctor_turn(
            t, reply, name.name, act="final_diagnosis", statement=out.text if committed else None
        )
        return self._finish(t, out, name, reason)

    def _finish(
        self, t: Transcript, out: DoctorOutput, name: FinalName, reason: TerminationReason
    ) -> Transcript:
        statement = out.text.strip() if out.action == "final_diagnosis" else ""
        t.final = FinalDiagnosis(
            diagnosis=name.name,
            differential=_ddx(out),
            confidence=out.confidence,
            plan=out.plan.strip() or None,
            statement=statement if statement and statement != name.name else None,
            name_source=name.source,
            flags=list(name.flags),
        )
        t.termination = Termination(reason=reason, turn=len(t.turns) - 1)
        return t
