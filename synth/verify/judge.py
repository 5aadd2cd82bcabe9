"""The LLM judge: asked only when the lexical stage cannot decide, and only when a judge teacher is configured.

Two templates: diagnosis_judge (consultations: a diagnosis name) and answer_judge (any short answer).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import TeacherCall
from synth.jobs import call_record
from synth.prompts import load_template
from synth.teachers.teacher import Teacher


class JudgeVerdict(BaseModel):
    """What the judge fills in (small and flat: a tiny model can fill it under a grammar)."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["true", "false", "unsure"]
    reason: str = Field(min_length=1, max_length=300)


async def judge_diagnosis(
    teacher: Teacher, predicted: str, gold: str, aliases: list[str], *, seed: int | None = None
) -> tuple[JudgeVerdict, TeacherCall]:
    template = load_template("diagnosis_judge")
    params = teacher.params.model_copy(update={"temperature": 0.0, "max_tokens": 200, "seed": seed})
    msgs = template.messages(predicted=predicted, gold=gold, aliases=aliases)
    c = await teacher.complete(msgs, params, JudgeVerdict, tag=template.tag)
    assert isinstance(c.parsed, JudgeVerdict)
    return c.parsed, call_record("diagnosis_judge", c, template.ref, params)


async def judge_answer(
    teacher: Teacher,
    candidate: str,
    reference: str,
    aliases: list[str],
    *,
    question: str | None = None,
    seed: int | None = None,
) -> tuple[JudgeVerdict, TeacherCall]:
    """The general judge: any short medical answer (drug, test, number with units...) against its reference."""
    template = load_template("answer_judge")
    params = teacher.params.model_copy(update={"temperature": 0.0, "max_tokens": 200, "seed": seed})
    msgs = template.messages(candidate=candidate, reference=reference, aliases=aliases, question=question)
    c = await teacher.complete(msgs, params, JudgeVerdict, tag=template.tag)
    assert isinstance(c.parsed, JudgeVerdict)
    return c.parsed, call_record("answer_judge", c, template.ref, params)
