"""Typed verdicts and the lexical stage of verification (free, deterministic, no teacher).

`verify_lexical` compares a diagnosis name with the hidden answer and its aliases (consultations);
`verify_answer_lexical` compares any short answer — or a long conclusion, cut to its answer phrase — with a short
ground truth (problems, RL rewards, evaluation). synth/verify/verifier.py asks an LLM judge when these are unsure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.matching.answer import compare_answer_any, normalise_answer
from schemas.matching.lexical import compare_any

Stage = Literal["lexical", "judge", "none"]
VerdictValue = Literal["true", "false", "unsure"]
_TO_BOOL: dict[str, bool | None] = {"true": True, "false": False, "unsure": None}


@dataclass(frozen=True)
class Verdict:
    """correct: True / False, or None when undecided (lexical unsure and no judge, or the judge unsure)."""

    correct: bool | None
    stage: Stage
    reason: str
    # TeacherCall records of a judge, when one decided (synth fills them; empty for the lexical stage)
    calls: list[Any] = field(default_factory=list)


def verify_lexical(predicted: str, gold: str, aliases: Sequence[str] | None = None) -> Verdict:
    r = compare_any(predicted, [gold, *(aliases or [])])
    correct = {"match": True, "no_match": False, "unsure": None}[r.outcome]
    return Verdict(correct, "lexical", r.reason)


@dataclass(frozen=True)
class AnswerVerdict:
    """The verdict on one candidate answer, the stage that decided it and what the comparison saw."""

    verdict: VerdictValue
    stage: Stage
    reason: str
    candidate_normalised: str
    reference_normalised: str
    calls: list[Any] = field(default_factory=list)
    definite: bool = False  # a lexical "false" no judge may overturn

    @property
    def correct(self) -> bool | None:
        return _TO_BOOL[self.verdict]

    def as_dict(self) -> dict[str, str]:
        return {
            "verdict": self.verdict,
            "stage": self.stage,
            "reason": self.reason,
            "candidate_normalised": self.candidate_normalised,
            "reference_normalised": self.reference_normalised,
        }


def verify_answer_lexical(
    candidate: str, reference: str, aliases: Sequence[str] | None = None
) -> AnswerVerdict:
    """The lexical stage alone: what `verify_answer` returns when no judge is configured."""
    if not candidate.strip():
        return AnswerVerdict("false", "none", "no answer given", "", normalise_answer(reference))
    if not reference.strip():
        return AnswerVerdict("unsure", "none", "no reference answer", normalise_answer(candidate), "")
    r = compare_answer_any(candidate, [reference, *(aliases or [])])
    verdict: VerdictValue = {"match": "true", "no_match": "false", "unsure": "unsure"}[r.outcome]  # type: ignore[assignment]
    return AnswerVerdict(verdict, "lexical", r.reason, r.candidate, r.reference, definite=r.definite)
