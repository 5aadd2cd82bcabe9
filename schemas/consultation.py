"""A multi-turn differential-diagnosis consultation over one hidden CaseCard.

Schema 1.1 added what verifies the doctor's hidden reasoning, all with defaults so 1.0 records still read:
typed snapshot flags and re-ask counts on doctor turns, the final diagnosis as a name apart from the doctor's
own words, and the per-turn evaluation against the hidden answer (`TurnScore`, and the consultation-level
calibration, volatility and premature-closure fields of `Evaluation`). Definitions: docs/quality.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import Provenance, Record, content_id

Speaker = Literal["doctor", "patient", "examiner", "system"]
Act = Literal["ask", "request_test", "result", "answer", "final_diagnosis", "note"]
TerminationReason = Literal["final_diagnosis", "turn_limit", "forced_final", "loop_detected", "error"]
#: how a doctor turn broke the snapshot contract (synth/dialogue/ddx.py); kept as written, never repaired
SnapshotFlag = Literal[
    "duplicate_diagnoses",  # two entries the matcher calls the same diagnosis
    "probability_sum_above_one",  # the probabilities add up to more than 1 (beyond a rounding tolerance)
    "sentence_name",  # an entry is a sentence, not a diagnosis name
    "unsorted",  # not most likely first
    "final_is_sentence",  # a final diagnosis given without a short name (the name was extracted or is missing)
]
#: where the final diagnosis name came from
NameSource = Literal["diagnosis", "text", "extracted", "leader", "sentence"]


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
    statement: str | None = Field(
        default=None, description="final-diagnosis turns: the doctor's own words when `text` is the name"
    )
    snapshot_flags: list[SnapshotFlag] = Field(
        default_factory=list, description="how this turn still broke the snapshot contract after re-asks"
    )
    reasks: int = Field(default=0, ge=0, description="re-asks of this doctor turn for a broken snapshot")

    @model_validator(mode="after")
    def _doctor_fields(self) -> Turn:
        if self.speaker != "doctor" and (
            self.reasoning is not None or self.ddx is not None or self.snapshot_flags or self.reasks
        ):
            raise ValueError("only doctor turns carry reasoning, a DDx snapshot and its flags")
        return self


class Termination(_Strict):
    reason: TerminationReason
    turn: int = Field(ge=0)


class FinalDiagnosis(_Strict):
    diagnosis: str = Field(description="the diagnosis name (the plan and the doctor's words are apart)")
    differential: list[DDxItem] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    plan: str | None = None
    statement: str | None = Field(default=None, description="what the doctor said with it, as written")
    name_source: NameSource | None = Field(
        default=None,
        description="diagnosis: the doctor's name field; text: its text was a short name; extracted: the one "
        "differential entry its sentence names; leader: its leading entry (told to commit, it did not); "
        "sentence: no name could be found, the sentence as written",
    )
    flags: list[SnapshotFlag] = Field(default_factory=list, description="final_is_sentence when no name came")


class TurnScore(_Strict):
    """One doctor turn's snapshot against the hidden answer (lexical match; "unsure" is not a hit)."""

    turn: int = Field(ge=0, description="index of the doctor turn in `turns`")
    doctor_turn: int = Field(ge=1, description="1-based number of the doctor turn")
    truth_rank: int | None = Field(default=None, ge=1, description="rank by probability; None: not listed")
    truth_probability: float = Field(ge=0.0, le=1.0, description="0 when the truth is not listed")
    leader: str | None = Field(default=None, description="the most probable entry (first of ties)")
    leader_is_truth: bool = False
    brier: float = Field(ge=0.0, description="multiclass Brier score of this snapshot (+ 'other' mass)")
    log_score: float = Field(ge=0.0, description="-ln max(p(truth), eps); p(truth) = 'other' when unlisted")


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
    # Per-turn evaluation of the hidden reasoning (schema 1.1; absent from 1.0 records, hence the defaults).
    per_turn: list[TurnScore] = Field(default_factory=list, description="every doctor turn with a snapshot")
    truth_first_listed: int | None = Field(
        default=None, ge=1, description="doctor turn number the truth first enters the differential"
    )
    truth_first_leading: int | None = Field(
        default=None, ge=1, description="doctor turn number the truth first leads the differential"
    )
    brier: float | None = Field(default=None, ge=0.0, description="mean per-turn Brier score")
    log_score: float | None = Field(default=None, ge=0.0, description="mean per-turn log score")
    leader_changes: int = Field(default=0, ge=0, description="snapshots whose leader differs from the last")
    truth_dropped: int = Field(default=0, ge=0, description="snapshots that drop the truth after it appeared")
    premature_closure: bool | None = Field(
        default=None, description="final diagnosis before every key fact was elicited (None: no key facts)"
    )
    key_facts_missing: list[str] = Field(default_factory=list, description="key facts unelicited at the end")
    facts_elicited: dict[str, int] = Field(
        default_factory=dict, description="fact id -> index of the turn that first conveyed it"
    )
    lucky_guess: bool | None = Field(
        default=None, description="correct, but the truth was in no differential before the final turn"
    )
    snapshot_flags: dict[str, int] = Field(
        default_factory=dict, description="doctor turns that stayed broken, by flag (final_is_sentence too)"
    )
    broken_snapshots: list[int] = Field(
        default_factory=list, description="indices of doctor turns whose snapshot stayed broken"
    )
    snapshot_reasks: int = Field(default=0, ge=0, description="doctor re-asks for broken snapshots")


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
