"""Configuration of the quality filter: a `filter:` section of a run, or the YAML file of `synth filter`.

The pipeline is a list of stages, in the order they run; each entry names its kind with `stage:` and carries
that stage's own options (unknown keys are errors, as everywhere). The same stage kind may appear twice
(e.g. a cheap near-dup pass before an expensive judge, a stricter one after).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="name in the ledger and funnel (default: the kind)")


class HeuristicsConfig(_Stage):
    stage: Literal["heuristics"]
    min_turns: int = Field(default=4, ge=0, description="consultations: fewer turns are dropped")
    max_turns: int = Field(default=200, ge=1)
    max_repeat_ratio: float = Field(
        default=0.3, ge=0, le=1, description="share of repeated word 5-grams above which text is repetitive"
    )
    min_chars: int = Field(default=20, ge=0, description="a turn or answer shorter than this is empty")
    max_boilerplate_ratio: float = Field(
        default=0.3, ge=0, le=1, description="share of turns that are boilerplate ('As an AI...') allowed"
    )
    language: str | None = Field(default="en", description="expected language (None: no check)")
    min_language_score: float = Field(default=0.5, ge=0, le=1)


class LeakageConfig(_Stage):
    stage: Literal["leakage"]
    hidden_answers: Path | None = Field(
        default=None, description="cases table of the run (default: the input's own data/cases)"
    )


class PhiConfig(_Stage):
    stage: Literal["phi"]
    kinds: list[str] | None = Field(
        default=None,
        description="identifier kinds to scrub (default: all: name, phone, email, address, location, id, dob, "
        "date, age, url, ip)",
    )
    engine: Literal["rules", "presidio", "combined"] = Field(
        default="combined",
        description="rules only, the Presidio + spaCy model only, or both (the default; needs the `phi` extra)",
    )


class DecontaminationConfig(_Stage):
    stage: Literal["decontaminate"]
    benchmarks: list[Path] = Field(
        min_length=1, description="benchmark questions: .jsonl/.json/.parquet files or datasets folders"
    )
    field: str = Field(default="question", description="the text field of a benchmark record")
    chars: int = Field(default=64, ge=16, description="a shared run this long (after normalisation) drops")


class ExactDedupConfig(_Stage):
    stage: Literal["exact_dedup"]


class NearDedupConfig(_Stage):
    stage: Literal["near_dedup"]
    threshold: float = Field(default=0.8, gt=0, le=1, description="estimated Jaccard similarity")
    num_perm: int = Field(default=128, ge=16)
    ngram: int = Field(default=5, ge=1, description="word shingles")
    keep_by: list[str] = Field(
        default_factory=lambda: ["quality", "complexity"],
        description="scores that choose the member of a duplicate group to keep (then the longest, then id)",
    )


class SemanticDedupConfig(_Stage):
    stage: Literal["semantic_dedup"]
    model: str = Field(
        default="all-MiniLM-L6-v2",
        description="the embedded all-MiniLM-L6-v2 (offline), or any sentence-transformers model name or path",
    )
    threshold: float = Field(default=0.9, gt=0, le=1, description="cosine similarity of duplicates")
    index: Literal["auto", "flat", "ivf", "hnsw"] = "auto"
    exact_max: int = Field(default=50_000, ge=1, description="auto: exact search up to this many vectors")
    k: int = Field(default=10, ge=2, description="neighbours examined per record")
    keep_by: list[str] = Field(
        default_factory=lambda: ["quality", "complexity"],
        description="scores that choose the member of a duplicate group to keep (then the longest, then id)",
    )
    index_dir: Path | None = Field(
        default=None, description="incremental: dedup against (and add to) the saved index of earlier runs"
    )
    batch_size: int = Field(default=64, ge=1)


class _Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(default=None, description="keep records scoring at least this")
    top_fraction: float | None = Field(default=None, gt=0, le=1, description="keep the best fraction")

    @model_validator(mode="after")
    def _one(self) -> _Selection:
        if (self.threshold is None) == (self.top_fraction is None):
            raise ValueError("give exactly one of threshold or top_fraction")
        return self


class ComplexityConfig(_Stage):
    stage: Literal["complexity"]
    judge: str | None = Field(default=None, description="teacher for the 1-10 rubric (None: features only)")
    judge_weight: float = Field(default=0.5, ge=0, le=1, description="share of the judge in the final score")
    select: _Selection | None = Field(default=None, description="drop the least complex (None: score only)")
    max_chars: int = Field(default=6000, ge=200, description="text shown to the judge")


class QualityConfig(_Stage):
    stage: Literal["quality"]
    judge: str = Field(description="teacher that rates clinical correctness, realism and coherence")
    min_score: float | None = Field(
        default=None, ge=1, le=10, description="drop records whose mean rating is below this"
    )
    max_chars: int = Field(default=6000, ge=200)


class DdxConfig(_Stage):
    stage: Literal["ddx"]
    drop_lucky_guess: bool = Field(
        default=True, description="drop a correct final diagnosis the truth was in no earlier differential of"
    )
    drop_broken_snapshots: bool = Field(
        default=False, description="drop a consultation with a snapshot still broken after the re-asks"
    )
    drop_premature_closure: bool = Field(
        default=False, description="drop a final diagnosis made before every key fact was elicited"
    )
    require_evaluation: bool = Field(
        default=False, description="drop consultations without a per-turn evaluation (schema 1.0 records)"
    )


class CaseGatesConfig(_Stage):
    stage: Literal["case_gates"]
    min_facts: int | None = Field(
        default=None, ge=1, description="distinct facts a card needs (default: 3; 1 for imported MCQ cases)"
    )


StageConfig = Annotated[
    HeuristicsConfig
    | LeakageConfig
    | PhiConfig
    | DecontaminationConfig
    | ExactDedupConfig
    | NearDedupConfig
    | SemanticDedupConfig
    | ComplexityConfig
    | QualityConfig
    | CaseGatesConfig
    | DdxConfig,
    Field(discriminator="stage"),
]


class FilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: list[str] | None = Field(
        default=None,
        description="tables to filter (default: consultations, problems, reasoning, cases present)",
    )
    stages: list[StageConfig] = Field(min_length=1)
    concurrency: int = Field(default=32, ge=1, description="judge calls in flight")

    @model_validator(mode="after")
    def _unique_names(self) -> FilterConfig:
        names = [s.name or s.stage for s in self.stages]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"stage names must be unique (name a repeated kind with `name:`): {sorted(dup)}")
        return self

    def teacher_refs(self) -> list[tuple[str, str]]:
        refs = []
        for i, s in enumerate(self.stages):
            judge = getattr(s, "judge", None)
            if judge:
                refs.append((f"filter.stages[{i}].judge", judge))
        return refs
