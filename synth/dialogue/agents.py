"""The two LLM roles of a consultation: the doctor and the patient. Each is a template, a schema and a history.

Each role keeps its own chat history, rendered so that the conversation so far stays an unchanged prefix of
every later request: a fixed system prompt, then messages only ever appended (what the role hears as `user`,
what it said — the model's own text, verbatim — as `assistant`). A server's prefix cache then makes turn n
cost only its new tokens. What a role hears between two of its turns is joined into one `user` message when it
speaks next, so roles alternate strictly whatever a chat template demands.

The roles see only what they should: the doctor, the patient's words and the results it asked for; the
patient, its own facts and the doctor's questions (never the diagnosis, the exam or the tests).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.case import CaseCard, Demographics
from schemas.common import TeacherCall
from synth.cases.checks import names_diagnosis
from synth.jobs import call_record
from synth.prompts import PromptTemplate, load_template
from synth.teachers.base import ChatMessage, Completion, SamplingParams
from synth.teachers.teacher import Teacher

DoctorAction = Literal["ask", "request_test", "final_diagnosis"]


class DDxGuess(BaseModel):
    model_config = ConfigDict(extra="forbid")

    diagnosis: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    probability: float = Field(ge=0.0, le=1.0)


def _require_diagnosis(schema: dict[str, Any]) -> None:
    schema.setdefault("required", []).append("diagnosis")


class DoctorOutput(BaseModel):
    """One doctor turn. Small and flat so that a 135M model under a JSON grammar can fill it."""

    # The docstring is the schema's description, sent to the teacher: keep explanations in comments.
    # `diagnosis` is required of a teacher (the JSON Schema lists it, so a grammar makes the model write it) but
    # defaults to "" in Python: a doctor that is not a teacher (train's replay parses a reply) may leave it out,
    # and the director then takes a short `text` as the name (synth/dialogue/ddx.py).

    model_config = ConfigDict(extra="forbid", json_schema_extra=_require_diagnosis)

    reasoning: str = Field(min_length=1, max_length=240)
    ddx: list[DDxGuess] = Field(min_length=1, max_length=4)
    action: DoctorAction
    diagnosis: str = Field(default="", max_length=60)
    text: str = Field(min_length=1, max_length=150)
    confidence: float = Field(ge=0.0, le=1.0)
    plan: str = Field(max_length=150)


class PatientReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, max_length=300)


def describe_patient(d: Demographics) -> str:
    """'45-year-old woman', '8-month-old boy', 'patient': what anyone in the room can see."""
    noun = {"female": "woman", "male": "man"}.get(d.sex, "patient")
    if d.age_years is None:
        return noun
    if d.age_years < 18 and noun != "patient":
        noun = {"woman": "girl", "man": "boy"}[noun]
    age = f"{round(d.age_years)}-year-old" if d.age_years >= 2 else f"{round(d.age_years * 12)}-month-old"
    return f"{age} {noun}"


class _Role:
    """A role's history and its teacher calls; `_say` sends the history and appends the reply."""

    role: str

    def __init__(self, teacher: Teacher, template: PromptTemplate, params: SamplingParams, system: str):
        self.teacher = teacher
        self.template = template
        self.params = params
        self.messages: list[ChatMessage] = [{"role": "system", "content": system}]
        self.pending: list[str] = []
        self.calls: list[TeacherCall] = []

    def hear(self, **variables: str) -> str:
        text = self.template.render_user(**variables)
        self.pending.append(text)
        return text

    def _flush(self) -> None:
        if self.pending:
            self.messages.append({"role": "user", "content": "\n\n".join(self.pending)})
            self.pending = []

    async def _complete(self, messages: list[ChatMessage], schema: type[BaseModel]) -> Completion:
        c = await self.teacher.complete(messages, self.params, schema, tag=self.template.tag)
        self.calls.append(call_record(self.role, c, self.template.ref, self.params))
        return c


class DoctorAgent(_Role):
    role = "doctor"

    def __init__(
        self, teacher: Teacher, params: SamplingParams, card: CaseCard, min_turns: int, max_turns: int
    ):
        template = load_template("doctor")
        super().__init__(
            teacher, template, params, template.render_system(min_turns=min_turns, max_turns=max_turns)
        )
        self.hear(kind="opening", patient=describe_patient(card.demographics), text=card.opening_statement)
        self._attempt: list[ChatMessage] = []  # the request of the turn in progress, re-asks appended

    async def act(self) -> DoctorOutput:
        self._flush()
        self._attempt = list(self.messages)
        c = await self._complete(self._attempt, DoctorOutput)
        self.messages.append({"role": "assistant", "content": c.text})
        self._attempt.append({"role": "assistant", "content": c.text})
        assert isinstance(c.parsed, DoctorOutput)
        return c.parsed

    async def reask(self, problems: str) -> DoctorOutput:
        """Ask the last turn again after a reply that broke the snapshot contract (`problems`: what to fix).

        Like a patient's leak regeneration, the bad reply and the note are appended to the request, so it is
        a new request (the request cache would hand back the same reply otherwise); the history keeps only
        the latest reply, so what later turns see is the accepted exchange.
        """
        note = self.template.render_user(kind="reask", text=problems)
        self._attempt.append({"role": "user", "content": note})
        c = await self._complete(list(self._attempt), DoctorOutput)
        self._attempt.append({"role": "assistant", "content": c.text})
        self.messages[-1] = {"role": "assistant", "content": c.text}
        assert isinstance(c.parsed, DoctorOutput)
        return c.parsed


class PatientAgent(_Role):
    role = "patient"

    def __init__(self, teacher: Teacher, params: SamplingParams, card: CaseCard, persona: str):
        template = load_template("patient")
        system = template.render_system(
            patient=f"a {describe_patient(card.demographics)}",
            opening=card.opening_statement,
            facts=[f.lay_text or f.text for f in card.facts],
            persona=persona,
        )
        super().__init__(teacher, template, params, system)
        # The opening statement comes from the card: the patient has already said it.
        self.messages += [
            {
                "role": "user",
                "content": self.template.render_user(kind="question", text="What brings you in today?"),
            },
            {"role": "assistant", "content": PatientReply(answer=card.opening_statement).model_dump_json()},
        ]
        self.terms = [card.answer.diagnosis, *card.answer.aliases]

    async def answer(self, question: str, retries: int) -> tuple[str, str | None, int]:
        """(answer, the diagnosis term it still names or None, regenerations used).

        A regeneration appends the leaked answer and a note, so it is a new request: the request cache would
        otherwise hand back the same leaking answer. Only the clean exchange stays in the history.
        """
        self.hear(kind="question", text=question)
        self._flush()
        asked = list(self.messages)
        attempt: list[ChatMessage] = asked
        used = 0
        while True:
            c = await self._complete(attempt, PatientReply)
            assert isinstance(c.parsed, PatientReply)
            leaked = names_diagnosis(c.parsed.answer, self.terms)
            if leaked is None or used >= retries:
                self.messages.append({"role": "assistant", "content": c.text})
                return c.parsed.answer, leaked, used
            used += 1
            note = self.template.render_user(kind="leak")
            attempt = [*attempt, {"role": "assistant", "content": c.text}, {"role": "user", "content": note}]
