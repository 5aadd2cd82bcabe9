"""Configuration of the verifiable-problems generator: the `problems:` and `reasoning:` sections of a run.

`problems:` turns multiple-choice questions into open-ended problems with a short ground truth and screens
them; `reasoning:` searches a verified chain of thought for every problem the screens kept. Two sections,
two jobs: the second reads what the first wrote, so either can be rerun (or resumed) on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synth.teachers.base import SamplingParams

SearchStrategy = Literal["explore_new_path", "backtrack", "verify", "correct"]
STRATEGIES: tuple[SearchStrategy, ...] = ("explore_new_path", "backtrack", "verify", "correct")
MCQFormat = Literal["auto", "jsonl", "json", "parquet", "datasets"]


class MCQSource(BaseModel):
    """Multiple-choice questions in the MedQA shape (question, options, answer_idx, answer) or MedMCQA's
    (question, opa..opd, cop)."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(
        description="a .jsonl, .json or .parquet file, or a datasets folder; relative to the config"
    )
    format: MCQFormat = Field(default="auto", description="auto: from the extension (a folder: datasets)")
    split: str | None = Field(default=None, description="datasets folder with several splits: which one")
    name: str | None = Field(default=None, description="dataset name in provenance (default: the file name)")


class ProblemsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["seeds"] | MCQSource = Field(
        default="seeds", description="seeds: the shipped seed MCQs; or {path, format}"
    )
    limit: int | None = Field(default=None, ge=1, description="use at most this many questions")

    teacher: str = Field(default="default", description="rewrites each MCQ into an open-ended problem")
    ground_truth: Literal["rewrite", "option"] = Field(
        default="rewrite",
        description="rewrite: the teacher writes a short answer too (it must verify against the correct "
        "option); option: the correct option's text is the answer and the teacher rewrites only the question",
    )
    params: SamplingParams | None = Field(default=None, description="overrides the rewriter's sampling")
    judge: str | None = Field(
        default=None, description="judge screen: pass / too_simple / ambiguous / not_reformulatable"
    )
    probes: list[str] = Field(
        default_factory=list,
        description="too-easy screen: drop a problem that every one of these teachers already answers",
    )
    probe_params: SamplingParams | None = None
    verifier_judge: str | None = Field(
        default=None, description="asked when the lexical verifier cannot decide a probe's answer"
    )

    min_question_chars: int = Field(
        default=40, ge=1, description="rule screen: shorter questions are dropped"
    )
    max_answer_words: int = Field(
        default=8, ge=1, description="rule screen: a longer ground truth is not short"
    )

    @model_validator(mode="after")
    def _unique_probes(self) -> ProblemsConfig:
        if len(set(self.probes)) != len(self.probes):
            raise ValueError(f"probes lists a teacher twice: {self.probes}")
        return self

    def teacher_refs(self) -> list[tuple[str, str]]:
        refs = [("problems.teacher", self.teacher)]
        if self.judge:
            refs.append(("problems.judge", self.judge))
        if self.verifier_judge:
            refs.append(("problems.verifier_judge", self.verifier_judge))
        refs += [(f"problems.probes[{i}]", p) for i, p in enumerate(self.probes)]
        return refs


class ReasoningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teacher: str = Field(default="default", description="writes and continues the chains of thought")
    params: SamplingParams | None = None
    reformat_teacher: str | None = Field(
        default=None, description="rewrites the verified path as natural thinking (default: teacher)"
    )
    reformat_params: SamplingParams | None = None
    verifier_judge: str | None = Field(
        default=None, description="asked when the lexical verifier cannot decide a conclusion"
    )

    max_depth: int = Field(
        default=2, ge=0, description="continuations of a failed chain (after the first) before it restarts"
    )
    max_restarts: int = Field(default=1, ge=0, description="fresh chains after the first one is exhausted")
    strategies: list[SearchStrategy] = Field(default_factory=lambda: list(STRATEGIES), min_length=1)
    max_thinking_steps: int = Field(default=6, ge=1, le=20, description="inner-thinking steps per chain")
    max_step_chars: int = Field(
        default=800, ge=50, description="characters per thinking step (in the response schema)"
    )
    max_reformat_chars: int = Field(
        default=8000, ge=200, description="characters of the natural thinking (final response: a third)"
    )
    label_hint_fallback: bool = Field(
        default=False,
        description="after an exhausted search, one chain that sees the answer (flagged label_hinted)",
    )
    reformat: bool = Field(default=True, description="write natural thinking + final response when verified")

    @model_validator(mode="after")
    def _strategies(self) -> ReasoningConfig:
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"strategies lists one twice: {self.strategies}")
        if self.strategies == ["backtrack"] and self.max_depth > 0:
            raise ValueError(
                "backtrack alone cannot start a search: it is not allowed on the first iteration"
            )
        return self

    def teacher_refs(self) -> list[tuple[str, str]]:
        refs = [("reasoning.teacher", self.teacher)]
        if self.reformat_teacher:
            refs.append(("reasoning.reformat_teacher", self.reformat_teacher))
        if self.verifier_judge:
            refs.append(("reasoning.verifier_judge", self.verifier_judge))
        return refs
