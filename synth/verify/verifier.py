"""Is a predicted answer the hidden one? Lexical stage first, an optional LLM judge second.

The lexical stage is free and deterministic, so it decides whenever it can; the judge (a teacher) is asked only
when lexical matching is unsure or says no and a judge is configured — synonyms no table holds ("Addison's
disease" / "primary adrenal insufficiency") are exactly its job. The verdict says which stage decided.

Two entry points: `verify_diagnosis` (consultations: a diagnosis name, `Verdict`) and `verify_answer` (any
short medical answer or a long conclusion against a short ground truth, `AnswerVerdict` with a typed
"true"/"false"/"unsure" verdict and the normalised forms). For answers, a *definite* lexical no — a different
value of the same kind, a conflicting qualifier, a hedge between several answers — is final: no judge is asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from schemas.common import TeacherCall
from synth.teachers.teacher import Teacher
from synth.verify.answer import compare_answer_any, normalise_answer
from synth.verify.lexical import compare_any

Stage = Literal["lexical", "judge", "none"]
VerdictValue = Literal["true", "false", "unsure"]
_TO_BOOL: dict[str, bool | None] = {"true": True, "false": False, "unsure": None}


@dataclass(frozen=True)
class Verdict:
    """correct: True / False, or None when undecided (lexical unsure and no judge, or the judge unsure)."""

    correct: bool | None
    stage: Stage
    reason: str
    calls: list[TeacherCall] = field(default_factory=list)


def verify_lexical(predicted: str, gold: str, aliases: list[str] | None = None) -> Verdict:
    r = compare_any(predicted, [gold, *(aliases or [])])
    correct = {"match": True, "no_match": False, "unsure": None}[r.outcome]
    return Verdict(correct, "lexical", r.reason)


async def verify_diagnosis(
    predicted: str,
    gold: str,
    aliases: list[str] | None = None,
    *,
    judge: Teacher | None = None,
    seed: int | None = None,
) -> Verdict:
    if not predicted.strip():
        return Verdict(False, "none", "no diagnosis given")
    lexical = verify_lexical(predicted, gold, aliases)
    if lexical.correct is True or judge is None:
        return lexical
    from synth.verify.judge import judge_diagnosis

    v, call = await judge_diagnosis(judge, predicted, gold, list(aliases or []), seed=seed)
    correct = {"true": True, "false": False, "unsure": None}[v.verdict]
    return Verdict(correct, "judge", f"{v.reason} (lexical: {lexical.reason})", [call])


@dataclass(frozen=True)
class AnswerVerdict:
    """The verdict on one candidate answer, the stage that decided it and what the comparison saw."""

    verdict: VerdictValue
    stage: Stage
    reason: str
    candidate_normalised: str
    reference_normalised: str
    calls: list[TeacherCall] = field(default_factory=list)
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
    """The lexical stage alone (free, deterministic): what `verify_answer` returns when no judge is configured."""
    if not candidate.strip():
        return AnswerVerdict("false", "none", "no answer given", "", normalise_answer(reference))
    if not reference.strip():
        return AnswerVerdict("unsure", "none", "no reference answer", normalise_answer(candidate), "")
    r = compare_answer_any(candidate, [reference, *(aliases or [])])
    verdict: VerdictValue = {"match": "true", "no_match": "false", "unsure": "unsure"}[r.outcome]  # type: ignore[assignment]
    return AnswerVerdict(verdict, "lexical", r.reason, r.candidate, r.reference, definite=r.definite)


async def verify_answer(
    candidate: str,
    reference: str,
    aliases: Sequence[str] | None = None,
    judge: Teacher | None = None,
    *,
    question: str | None = None,
    seed: int | None = None,
) -> AnswerVerdict:
    """Verify a candidate answer (short, or a long conclusion) against a short reference answer and its aliases.

    The judge is asked only when the lexical stage is unsure or says a non-definite no; its verdict replaces
    the lexical one and its call is returned in `calls` (for provenance).
    """
    lexical = verify_answer_lexical(candidate, reference, aliases)
    if judge is None or lexical.stage == "none" or lexical.verdict == "true" or lexical.definite:
        return lexical
    from synth.verify.judge import judge_answer

    v, call = await judge_answer(
        judge, candidate, reference, list(aliases or []), question=question, seed=seed
    )
    return AnswerVerdict(
        v.verdict,
        "judge",
        f"{v.reason} (lexical: {lexical.reason})",
        lexical.candidate_normalised,
        lexical.reference_normalised,
        [call],
    )
