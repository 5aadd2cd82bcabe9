"""Configuration of the consultation simulator: the `consultations:` section of a run's YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synth.teachers.base import SamplingParams

Persona = Literal["neutral", "talkative", "vague", "anxious", "low_health_literacy"]
PERSONAS: tuple[Persona, ...] = get_args(Persona)


class ImportedCases(BaseModel):
    """Cases read from a public dataset file (see synth/cases/importers.py)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: Path = Field(alias="import", description="a .jsonl, .json or .parquet file; relative to the config")
    format: Literal["agentclinic", "mediq", "medqa", "casecard"]


class ConsultationsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: Literal["from_run", "seeds"] | ImportedCases = Field(
        default="from_run",
        description="from_run: this run's synthesized cases; seeds: the shipped seed cards; or {import, format}",
    )
    per_case: int = Field(
        default=1, ge=1, description="consultations per case (different personas and seeds)"
    )
    limit: int | None = Field(default=None, ge=1, description="use at most this many cases")
    n: int | None = Field(default=None, ge=1, description="at most this many consultations overall")

    doctor: str = "default"
    patient: str = "default"
    judge: str | None = Field(default=None, description="teacher asked when lexical matching cannot decide")
    doctor_params: SamplingParams | None = Field(default=None, description="overrides the doctor's sampling")
    patient_params: SamplingParams | None = Field(
        default=None, description="overrides the patient's sampling"
    )

    min_turns: int = Field(default=10, ge=1, description="doctor turns before a final diagnosis is accepted")
    max_turns: int = Field(default=40, ge=1, description="doctor turns before a final diagnosis is forced")
    loop_repeats: int = Field(default=3, ge=1, description="repeated questions before the loop is ended")
    max_tests_per_request: int = Field(default=6, ge=1)
    personas: list[Persona] = Field(default_factory=lambda: list(PERSONAS), min_length=1)

    leakage: Literal["regenerate", "quarantine"] = "regenerate"
    leakage_retries: int = Field(
        default=2, ge=0, description="re-asks of a patient turn that named the answer"
    )
    snapshot_retries: int = Field(
        default=1,
        ge=0,
        description="re-asks of a doctor turn whose differential or final diagnosis breaks the snapshot "
        "contract; what still breaks it is kept and flagged",
    )

    @model_validator(mode="after")
    def _turns_ordered(self) -> ConsultationsConfig:
        if self.min_turns > self.max_turns:
            raise ValueError(f"min_turns ({self.min_turns}) is above max_turns ({self.max_turns})")
        return self

    def teacher_refs(self) -> list[tuple[str, str]]:
        refs = [("consultations.doctor", self.doctor), ("consultations.patient", self.patient)]
        if self.judge:
            refs.append(("consultations.judge", self.judge))
        return refs
