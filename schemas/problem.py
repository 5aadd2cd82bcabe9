"""Verifiable problems (MCQ rewritten open-ended, with a short ground truth) and searched reasoning."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import Provenance, Record, content_id

Verdict = Literal["true", "false", "unsure"]
Strategy = Literal["init", "explore_new_path", "backtrack", "verify", "correct", "label_hint"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceMCQ(_Strict):
    dataset: str
    source_id: str | None = None
    question: str
    options: dict[str, str]
    answer_idx: str
    answer: str


class ScreenVerdict(_Strict):
    screen: str = Field(description="which screen: rule, judge, too_easy, ...")
    passed: bool
    reason: str | None = None


class VerifiableProblem(Record):
    id: str = ""
    question: str = Field(min_length=1)
    ground_truth: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    source: SourceMCQ | None = None
    screens: list[ScreenVerdict] = Field(default_factory=list)
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _fill_id(self) -> VerifiableProblem:
        if not self.id:
            object.__setattr__(self, "id", content_id("prob", self.question, self.ground_truth))
        return self


class SearchStep(_Strict):
    iteration: int = Field(ge=0)
    strategy: Strategy
    thinking: list[str] = Field(default_factory=list, description="inner-thinking steps")
    conclusion: str
    verification: str | None = None
    verdict: Verdict
    verdict_stage: Literal["lexical", "judge"] = "lexical"


class ReasoningTrace(Record):
    id: str = ""
    problem_id: str
    steps: list[SearchStep] = Field(min_length=1)
    success: bool
    label_hinted: bool = Field(default=False, description="fallback that saw the answer; kept out of SFT")
    natural_thinking: str | None = None
    final_response: str | None = None
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _fill_id(self) -> ReasoningTrace:
        if not self.id:
            object.__setattr__(
                self, "id", content_id("trace", self.problem_id, [s.conclusion for s in self.steps])
            )
        return self
