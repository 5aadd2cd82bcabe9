"""Preference pairs labelled by a judge teacher against a written rubric (RLAIF, as in HuatuoGPT).

A pair is two responses to one prompt: two consultations of the same case, or two answers to the same problem.
The judge rates both on four rubric axes and names the better one; it is asked twice, with the two responses in
both orders, and a pair is stored only when both verdicts prefer the same response (a position-bias guard).
The stored record keeps both verdicts (scores and rationale) so every label can be audited.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Provenance, Record
from schemas.views import Message

RUBRIC = ("diagnostic_accuracy", "history_completeness", "safety", "communication")


class RubricScores(BaseModel):
    """1 (very poor) to 10 (excellent) on each rubric axis."""

    model_config = ConfigDict(extra="forbid")

    diagnostic_accuracy: int = Field(ge=1, le=10)
    history_completeness: int = Field(ge=1, le=10)
    safety: int = Field(ge=1, le=10)
    communication: int = Field(ge=1, le=10)

    @property
    def total(self) -> float:
        return sum(getattr(self, k) for k in RUBRIC) / len(RUBRIC)


class JudgeVerdict(BaseModel):
    """One judge answer, mapped back from the A/B positions it saw to the pair's own `first`/`second`."""

    model_config = ConfigDict(extra="forbid")

    order: Literal["first_second", "second_first"] = Field(description="which response was shown as A")
    preferred: Literal["first", "second"]
    first: RubricScores
    second: RubricScores
    rationale: str


class PreferencePair(Record):
    """A judged pair kept by the both-orders guard: chosen is the response both verdicts preferred."""

    id: str
    kind: Literal["consultation", "problem"]
    group: str = Field(description="case id or problem id: pairs of one group never cross splits")
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    chosen_id: str = Field(description="the consultation, trace or trace step the chosen response came from")
    rejected_id: str
    chosen_score: float = Field(description="rubric mean of the chosen response over both verdicts")
    rejected_score: float
    verdicts: list[JudgeVerdict] = Field(min_length=2, max_length=2)
    judge: str = Field(description="teacher name of the judge")
    provenance: Provenance | None = None

    @property
    def margin(self) -> float:
        return self.chosen_score - self.rejected_score
