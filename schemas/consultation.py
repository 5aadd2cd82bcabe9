"""A multi-turn differential-diagnosis consultation over one hidden CaseCard."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import Provenance, Record, content_id

Speaker = Literal["doctor", "patient", "examiner", "system"]
Act = Literal["ask", "request_test", "result", "answer", "final_diagnosis", "note"]
TerminationReason = Literal["final_diagnosis", "turn_limit", "forced_final", "loop_detected", "error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DDxItem(_Strict):
    diagnosis: str = Field(min_length=1)
    probability: float = Field(ge=0.0, le=1.0)


class Turn(_Strict):
    index: int = Field(ge=0)
    speaker: Speaker
    act: Act
    text: str
    revealed_fact_ids: list[str] = Field(default_factory=list)
    reasoning: str | None = Field(default=None, description="doctor's private reasoning for this turn")
    ddx: list[DDxItem] | None = Field(default=None, description="doctor's differential snapshot")
    tests_requested: list[str] = Field(default_factory=list)
    leakage: bool = False

    @model_validator(mode="after")
    def _doctor_fields(self) -> Turn:
        if self.speaker != "doctor" and (self.reasoning is not None or self.ddx is not None):
            raise ValueError("only doctor turns carry reasoning and a DDx snapshot")
        return self


class Termination(_Strict):
    reason: TerminationReason
    turn: int = Field(ge=0)


class FinalDiagnosis(_Strict):
    diagnosis: str
    differential: list[DDxItem] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    plan: str | None = None


class Evaluation(_Strict):
    correct: bool | None = None
    verdict_stage: Literal["lexical", "judge", "none"] = "none"
    verdict_reason: str | None = Field(default=None, description="why the deciding stage said so")
    top_k_hit: int | None = Field(default=None, description="rank of the answer in the final differential")
    key_fact_recall: float | None = Field(default=None, ge=0.0, le=1.0)
    questions_asked: int = 0
    tests_ordered: int = 0
    repeated_questions: int = 0
    leakage_flags: list[int] = Field(default_factory=list, description="indices of leaking patient turns")


class Consultation(Record):
    id: str = ""
    case_id: str
    turns: list[Turn] = Field(min_length=1)
    termination: Termination
    final: FinalDiagnosis | None = None
    evaluation: Evaluation = Field(default_factory=Evaluation)
    scores: dict[str, float] = Field(default_factory=dict)
    persona: str | None = None
    doctor_turns: int = Field(default=0, ge=0, description="doctor turns, the forced final one included")
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _fill_id(self) -> Consultation:
        if not self.id:
            object.__setattr__(
                self, "id", content_id("consult", self.case_id, [(t.speaker, t.text) for t in self.turns])
            )
        return self
