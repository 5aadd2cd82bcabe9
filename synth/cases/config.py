"""Configuration of the case sources."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from synth.teachers.base import SamplingParams


class SamplerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str | None = Field(default=None, description="YAML sampler table; default: the shipped one")
    specialties: list[str] | None = Field(default=None, description="restrict to these specialties")
    rare_fraction: float = Field(default=0.3, ge=0, le=1)
    sexes: list[Literal["female", "male"]] = Field(default=["female", "male"], min_length=1)


class CaseSynthesisConfig(BaseModel):
    """LLM synthesis of new case cards: sampler → teacher (structured output) → consistency checks."""

    model_config = ConfigDict(extra="forbid")

    teacher: str = "default"
    n: int = Field(ge=1, description="how many cases to attempt")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    params: SamplingParams | None = Field(default=None, description="overrides the teacher's sampling")
    judge: str | None = Field(
        default=None, description="teacher that checks the findings support the diagnosis; none: lexical only"
    )
    min_facts: int = Field(default=3, ge=1)


class CasesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    synthesize: CaseSynthesisConfig | None = None
