"""Is a predicted diagnosis the hidden answer? Lexical stage first, an optional LLM judge second.

The lexical stage is free and deterministic, so it decides whenever it can; the judge (a teacher) is asked only
when lexical matching is unsure or says no and a judge is configured — synonyms no table holds ("Addison's
disease" / "primary adrenal insufficiency") are exactly its job. The verdict says which stage decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from schemas.common import TeacherCall
from synth.teachers.teacher import Teacher
from synth.verify.lexical import compare_any

Stage = Literal["lexical", "judge", "none"]


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
