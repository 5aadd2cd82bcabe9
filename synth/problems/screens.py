"""Screens: which questions can become verifiable problems. Rules first (free), then a judge, then probes.

- rule (source): the MCQ asks for the incorrect option ("EXCEPT", "NOT", "least likely"), admits several
  correct answers ("all of the above", "select two"), needs its options ("which of the following
  statements"), or is too short;
- rule (rewrite): the ground truth is not short, or the open question gives it away;
- judge: pass / too_simple / ambiguous / not_reformulatable, from a judge teacher;
- too_easy: every configured probe teacher already answers the open question correctly.

Each screen returns a ScreenVerdict; the job keeps them all in the problem's record, and a dropped problem's
verdicts go to the quarantine with the screen that dropped it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import TeacherCall
from schemas.problem import ScreenVerdict, SourceMCQ
from synth.jobs import call_record
from synth.prompts import load_template
from synth.teachers.base import SamplingParams
from synth.teachers.teacher import Teacher

# A stem that asks for the odd one out: the "answer" is whatever is wrong, never a verifiable fact.
_NEGATIVE_STEM = re.compile(
    r"\b(?:EXCEPT|NOT|LEAST)\b"  # exam convention: the negation in capitals
    r"|\bexcept\b"
    r"|\b(?:is|are|would be|was|were|does|do)\s+not\b[^.?]*\?"
    r"|\b(?:incorrect|false|untrue|wrong|inaccurate)\b[^.?]*\?"
    r"|\bleast\s+(?:likely|appropriate|common|useful|helpful|correct)\b"
    r"|\bcontraindicated\b[^.?]*\?",
)
_MULTI_ANSWER_OPTION = re.compile(
    r"^\s*(?:all|none|both|neither)\s+(?:of\s+the\s+above|of\s+these|a\s+and\s+b|[a-e]\s+and\s+[a-e])\b"
    r"|^\s*[a-e]\s*(?:,|and|&)\s*[a-e]\b",
    re.I,
)
_MULTI_ANSWER_STEM = re.compile(
    r"\b(?:select|choose|pick)\s+(?:two|three|all|the\s+two)\b|\ball\s+that\s+apply\b"
    r"|\bwhich\s+(?:two|three)\b",
    re.I,
)
# Questions that are about the option list itself cannot be asked without it.
_NEEDS_OPTIONS = re.compile(
    r"\bwhich\s+of\s+the\s+following\s+(?:statements?|is\s+(?:true|correct)|are\s+(?:true|correct))\b"
    r"|\bthe\s+following\s+statements\b|\bmatch\s+the\s+following\b|\bassertion\b[^.?]*\breason\b",
    re.I,
)
_WORD = re.compile(r"[a-z0-9]+")
# An open question without a question mark must at least ask for something ("Name the most likely ...").
_ASKS = re.compile(r"\b(?:name|state|identify|give|determine|list|what|which|how|why|when|where)\b", re.I)
# "A. ...", "(B) ..." option markers; two different ones mean an option list ("37.9 °C. Which" is not one).
_OPTION_MARK = re.compile(r"(?:^|(?<=[\s(]))([A-E])[.)]\s", re.M)


def rule_screen_source(mcq: SourceMCQ, min_chars: int) -> ScreenVerdict:
    q = mcq.question.strip()
    reason: str | None = None
    if len(q) < min_chars:
        reason = f"too_short: question has {len(q)} characters (minimum {min_chars})"
    elif m := _NEGATIVE_STEM.search(q):
        reason = f"asks_for_incorrect_option: {m.group(0).strip()!r}"
    elif m := _MULTI_ANSWER_STEM.search(q):
        reason = f"multiple_correct_answers: {m.group(0).strip()!r}"
    elif bad := [k for k, v in mcq.options.items() if _MULTI_ANSWER_OPTION.search(v)]:
        reason = f"multiple_correct_answers: option {bad[0]} is {mcq.options[bad[0]]!r}"
    elif m := _NEEDS_OPTIONS.search(q):
        reason = f"needs_options: {m.group(0).strip()!r}"
    return ScreenVerdict(screen="rule", passed=reason is None, reason=reason)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rule_screen_rewrite(
    question: str, ground_truth: str, max_answer_words: int, min_chars: int = 1
) -> ScreenVerdict:
    n = len(_words(ground_truth))
    reason: str | None = None
    if len(question) < min_chars:
        reason = f"too_short: the open question has {len(question)} characters (minimum {min_chars})"
    elif "?" not in question and not _ASKS.search(question):
        reason = "not_a_question: the open question asks nothing (no question mark, no request)"
    elif n == 0:
        reason = "empty_answer: the ground truth has no words"
    elif n > max_answer_words:
        reason = f"answer_not_short: {n} words (maximum {max_answer_words})"
    elif len(set(_OPTION_MARK.findall(question))) >= 2 or re.search(
        r"\bwhich of the following\b", question, re.I
    ):
        reason = "still_multiple_choice: the open question refers to options"
    else:
        gt = " ".join(_words(ground_truth))
        if len(gt) >= 4 and re.search(rf"\b{re.escape(gt)}\b", " ".join(_words(question))):
            reason = f"answer_in_question: the question contains {ground_truth!r}"
    return ScreenVerdict(screen="rule_rewrite", passed=reason is None, reason=reason)


class ScreenJudgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["pass", "too_simple", "ambiguous", "not_reformulatable"]
    reason: str = Field(min_length=1, max_length=300)


class ProbeAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, max_length=120)


async def judge_screen(
    teacher: Teacher, mcq: SourceMCQ, question: str, ground_truth: str, seed: int
) -> tuple[ScreenVerdict, TeacherCall]:
    template = load_template("problem_screen")
    params = teacher.params.model_copy(update={"temperature": 0.0, "max_tokens": 200, "seed": seed})
    msgs = template.messages(
        source_question=mcq.question,
        options=mcq.options,
        answer=mcq.answer,
        question=question,
        ground_truth=ground_truth,
    )
    c = await teacher.complete(msgs, params, ScreenJudgement, tag=template.tag)
    assert isinstance(c.parsed, ScreenJudgement)
    v = c.parsed
    verdict = ScreenVerdict(
        screen="judge",
        passed=v.verdict == "pass",
        reason=f"{v.verdict}: {v.reason}",
        details={"verdict": v.verdict},
    )
    return verdict, call_record("problem_screen", c, template.ref, params)


async def probe_answer(
    teacher: Teacher, question: str, params: SamplingParams | None, seed: int
) -> tuple[str, TeacherCall]:
    template = load_template("problem_probe")
    p = (params or teacher.params).model_copy(update={"seed": seed})
    p = p.model_copy(update={"max_tokens": min(p.max_tokens, 120)})
    c = await teacher.complete(template.messages(question=question), p, ProbeAnswer, tag=template.tag)
    assert isinstance(c.parsed, ProbeAnswer)
    return c.parsed.answer, call_record(f"problem_probe:{teacher.name}", c, template.ref, p)
