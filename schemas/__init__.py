"""The record contract shared by the generator (synth) and the consumer (train)."""

from schemas.case import Answer, CaseCard, CaseSource, Demographics, DifferentialEntry, Fact, Finding
from schemas.common import SCHEMA_VERSION, Provenance, Record, TeacherCall, TemplateRef, content_id
from schemas.consultation import (
    Consultation,
    DDxItem,
    Evaluation,
    FinalDiagnosis,
    Termination,
    Turn,
    TurnScore,
)
from schemas.failure import LedgerEntry, QuarantineRecord
from schemas.preference import JudgeVerdict, PreferencePair, RubricScores
from schemas.problem import ReasoningTrace, ScreenVerdict, SearchStep, SourceMCQ, VerifiableProblem
from schemas.views import DPOExample, Message, RLExample, RMExample, SFTExample

#: every record type, by the name its JSON Schema is exported under
RECORD_TYPES: dict[str, type[Record]] = {
    "case_card": CaseCard,
    "consultation": Consultation,
    "verifiable_problem": VerifiableProblem,
    "reasoning_trace": ReasoningTrace,
    "sft": SFTExample,
    "dpo": DPOExample,
    "rl": RLExample,
    "quarantine": QuarantineRecord,
    "ledger_entry": LedgerEntry,
    "preference_pair": PreferencePair,
    "rm": RMExample,
}

__all__ = [
    "RECORD_TYPES",
    "SCHEMA_VERSION",
    "Answer",
    "CaseCard",
    "CaseSource",
    "Consultation",
    "DDxItem",
    "DPOExample",
    "Demographics",
    "DifferentialEntry",
    "Evaluation",
    "Fact",
    "FinalDiagnosis",
    "Finding",
    "JudgeVerdict",
    "LedgerEntry",
    "Message",
    "PreferencePair",
    "Provenance",
    "QuarantineRecord",
    "RLExample",
    "RMExample",
    "ReasoningTrace",
    "Record",
    "RubricScores",
    "SFTExample",
    "ScreenVerdict",
    "SearchStep",
    "SourceMCQ",
    "TeacherCall",
    "TemplateRef",
    "Termination",
    "Turn",
    "TurnScore",
    "VerifiableProblem",
    "content_id",
]
