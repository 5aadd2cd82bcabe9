"""The hidden patient: a CaseCard holds everything the simulators know and the answer the verifier checks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.common import Provenance, Record, content_id

Sex = Literal["female", "male", "other", "unknown"]
FactCategory = Literal[
    "chief_complaint",
    "history_present_illness",
    "past_medical_history",
    "medications",
    "allergies",
    "family_history",
    "social_history",
    "review_of_systems",
    "other",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Demographics(_Strict):
    age_years: float | None = Field(default=None, ge=0, le=120)
    sex: Sex = "unknown"
    description: str | None = Field(default=None, description="free text as the source gave it")


class Fact(_Strict):
    """One atomic fact the patient knows; `lay_text` is how the patient would say it."""

    id: str = Field(min_length=1)
    category: FactCategory = "other"
    text: str = Field(min_length=1, description="clinical wording")
    lay_text: str | None = Field(default=None, description="patient's own words")
    key: bool = Field(default=False, description="a fact a good consultation must elicit")


class Finding(_Strict):
    """An exam finding or a test result."""

    name: str = Field(min_length=1)
    result: str = Field(min_length=1)
    system: str | None = Field(default=None, description="organ system for exam findings")
    abnormal: bool | None = None


class DifferentialEntry(_Strict):
    diagnosis: str = Field(min_length=1)
    rationale: str | None = None


class Answer(_Strict):
    diagnosis: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    icd10: str | None = None
    differential: list[DifferentialEntry] = Field(
        default_factory=list, description="ranked plausible alternatives, most likely first"
    )
    options: dict[str, str] | None = Field(default=None, description="MCQ options if the source had them")
    correct_option: str | None = None

    @model_validator(mode="after")
    def _option_consistent(self) -> Answer:
        if self.correct_option is not None and (not self.options or self.correct_option not in self.options):
            raise ValueError(f"correct_option {self.correct_option!r} is not one of the options")
        return self


class CaseSource(_Strict):
    dataset: str = Field(description="'synthetic', 'seed', 'agentclinic', 'mediq', 'medqa', ...")
    source_id: str | None = None
    licence: str | None = None


class CaseCard(Record):
    """A hidden case. The patient simulator sees `facts`; the examiner sees `exam` and `tests`."""

    id: str = ""
    specialty: str | None = None
    acuity: Literal["low", "moderate", "high"] | None = None
    prevalence: Literal["common", "rare"] | None = None
    demographics: Demographics
    opening_statement: str = Field(min_length=1, description="what the patient says first")
    facts: list[Fact] = Field(min_length=1)
    exam: list[Finding] = Field(default_factory=list)
    tests: list[Finding] = Field(default_factory=list)
    default_test_result: str = "Within normal limits."
    answer: Answer
    source: CaseSource
    provenance: Provenance | None = None

    @field_validator("facts")
    @classmethod
    def _unique_fact_ids(cls, facts: list[Fact]) -> list[Fact]:
        seen: set[str] = set()
        for f in facts:
            if f.id in seen:
                raise ValueError(f"duplicate fact id {f.id!r}")
            seen.add(f.id)
        return facts

    @model_validator(mode="after")
    def _fill_id(self) -> CaseCard:
        if not self.id:
            # Content only: the same case from the same source always gets the same id, whoever made it.
            object.__setattr__(
                self,
                "id",
                content_id(
                    "case",
                    self.source.dataset,
                    self.source.source_id,
                    self.opening_statement,
                    [f.text for f in self.facts],
                    self.answer.diagnosis,
                ),
            )
        return self
