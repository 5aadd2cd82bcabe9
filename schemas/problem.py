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
    dataset: str = Field(description="file or dataset the question came from")
    source_id: str | None = Field(default=None, description="the question's id in its dataset, if it had one")
    line: int | None = Field(default=None, description="line (JSONL/JSON) or row (Parquet, datasets) number")
    question: str
    options: dict[str, str]
    answer_idx: str
    answer: str


class ScreenVerdict(_Strict):
    screen: str = Field(description="which screen: rule, judge, too_easy, ...")
    passed: bool
    reason: str | None = None
    details: dict[str, str] = Field(
        default_factory=dict, description="what the screen saw, e.g. each probe teacher's answer and verdict"
    )


class VerifiableProblem(Record):
    id: str = ""
    question: str = Field(min_length=1)
    ground_truth: str = Field(min_length=1, description="short, unique, objective answer")
    aliases: list[str] = Field(default_factory=list)
    source: SourceMCQ | None = None
    screens: list[ScreenVerdict] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict, description="quality scores (synth filter)")
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _fill_id(self) -> VerifiableProblem:
        if not self.id:
            object.__setattr__(self, "id", content_id("prob", self.question, self.ground_truth))
        return self


class SearchStep(_Strict):
    attempt: int = Field(default=0, ge=0, description="restart number: each attempt starts a fresh chain")
    iteration: int = Field(ge=0, description="0: the initial chain; n: the n-th continuation of it")
    strategy: Strategy
    thinking: list[str] = Field(default_factory=list, description="inner-thinking steps")
    conclusion: str
    verification: str | None = Field(default=None, description="the chain's own check of its conclusion")
    verdict: Verdict = Field(description="the engine's verifier: conclusion against the ground truth")
    verdict_stage: Literal["lexical", "judge", "none"] = "lexical"
    verdict_reason: str | None = None


class ReasoningTrace(Record):
    id: str = ""
    problem_id: str
    question: str = Field(min_length=1, description="the open-ended question (copied from the problem)")
    ground_truth: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    steps: list[SearchStep] = Field(min_length=1, description="every step of every attempt, in order")
    success: bool = Field(description="a step's conclusion verified true")
    label_hinted: bool = Field(
        default=False,
        description="the verified step saw the answer (fallback, off by default): flagged, never silent",
    )
    natural_thinking: str | None = Field(default=None, description="the successful path as natural thinking")
    final_response: str | None = None
    scores: dict[str, float] = Field(default_factory=dict, description="quality scores (synth filter)")
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _fill_id(self) -> ReasoningTrace:
        if not self.id:
            object.__setattr__(
                self, "id", content_id("trace", self.problem_id, [s.conclusion for s in self.steps])
            )
        return self
