"""The `rlaif` job: preference pairs labelled by a judge teacher against a rubric, judged in both orders.

Candidates come from the run's output folder (HuatuoGPT's RLAIF data, from this engine's own records):

- consultations of the same case, pairwise (sorted by id, at most `max_pairs_per_group` per case). The prompt
  is the system prompt and the patient's opening when both consultations open alike, else the system prompt
  alone; each response is the rest of its consultation (the doctor's reasoning dropped: the judge and the
  reward model see what the patient saw);
- answers to the same problem: a trace's verified chain with its final response, and each failed chain of the
  search (`## Thinking` / `## Final Response`), pairwise.

The judge sees the pair twice, once in each order, and names the better response each time. A pair whose two
verdicts disagree (the judge followed the position, not the content), or whose preferred response does not
also score higher on the rubric mean, or whose two responses score level, is quarantined with that reason:
an unsure label is dropped, never stored as a preference. A judge call that fails quarantines its pair with
the teacher's typed error; a rerun asks again (answers are cached).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Record, content_id
from schemas.consultation import Consultation
from schemas.preference import JudgeVerdict, PreferencePair, RubricScores
from schemas.problem import ReasoningTrace
from schemas.views import Message
from synth.jobs import Estimate, ItemFailed, Job, RunContext, WorkItem, call_record
from synth.teachers.teacher import Teacher

Messages = list[dict[str, str]]


class RLAIFConfig(BaseModel):
    """`rlaif:` in a run config."""

    model_config = ConfigDict(extra="forbid")

    judge: str = Field(default="default", description="teacher that judges the pairs")
    sources: list[Literal["consultations", "reasoning"]] = Field(
        default=["consultations", "reasoning"], description="tables to draw pairs from"
    )
    max_pairs_per_group: int = Field(default=3, ge=1, description="pairs per case / per problem")
    max_chars: int = Field(default=6000, ge=200, description="characters of each response shown to the judge")
    max_tokens: int = Field(default=400, ge=64, description="judge answer budget")

    def teacher_refs(self) -> list[tuple[str, str]]:
        return [("rlaif.judge", self.judge)]


class _Side(BaseModel):
    model_config = ConfigDict(extra="forbid")

    diagnostic_accuracy: int = Field(ge=1, le=10)
    history_completeness: int = Field(ge=1, le=10)
    safety: int = Field(ge=1, le=10)
    communication: int = Field(ge=1, le=10)


class JudgeAnswer(BaseModel):
    """What the judge answers (prompts/rlaif_judge): positions A and B, as it saw them."""

    model_config = ConfigDict(extra="forbid")

    a: _Side
    b: _Side
    preferred: Literal["A", "B"]
    rationale: str = Field(min_length=1, max_length=800)


@dataclass(frozen=True)
class Candidate:
    """Two responses to one prompt, before judging; `first` is the one with the smaller id."""

    kind: Literal["consultation", "problem"]
    group: str
    prompt: Messages
    first_id: str
    first: Messages
    second_id: str
    second: Messages


def _consultation_candidates(consultations: list[Consultation], per_group: int) -> list[Candidate]:
    from synth.publish.views import consultation_messages

    by_case: dict[str, list[Consultation]] = defaultdict(list)
    for c in consultations:
        if c.turns:
            by_case[c.case_id].append(c)
    out = []
    for case_id in sorted(by_case):
        group = sorted(by_case[case_id], key=lambda c: c.id)
        for x, y in itertools.islice(itertools.combinations(group, 2), per_group):
            mx, my = consultation_messages(x, "drop"), consultation_messages(y, "drop")
            shared = 2 if len(mx) > 2 and len(my) > 2 and mx[:2] == my[:2] else 1
            out.append(Candidate("consultation", case_id, mx[:shared], x.id, mx[shared:], y.id, my[shared:]))
    return [c for c in out if c.first and c.second]


def trace_answers(t: ReasoningTrace) -> list[tuple[str, str]]:
    """(id, text) of every answer a trace holds: its verified final response and each failed chain."""
    from synth.problems.views import thinking_response

    answers: list[tuple[str, str]] = []
    if t.success and t.natural_thinking and t.final_response:
        answers.append((f"{t.id}:final", thinking_response(t.natural_thinking, t.final_response)))
    for i, s in enumerate(t.steps):
        if s.verdict != "true" and s.thinking and s.conclusion:
            answers.append((f"{t.id}:step{i}", thinking_response("\n\n".join(s.thinking), s.conclusion)))
    return answers


def _problem_candidates(traces: list[ReasoningTrace], per_group: int) -> list[Candidate]:
    by_problem: dict[str, list[ReasoningTrace]] = defaultdict(list)
    for t in traces:
        by_problem[t.problem_id].append(t)
    out = []
    for pid in sorted(by_problem):
        group = sorted(by_problem[pid], key=lambda t: t.id)
        answers = sorted({a for t in group for a in trace_answers(t)})
        prompt = [{"role": "user", "content": group[0].question}]
        for (xi, xa), (yi, ya) in itertools.islice(itertools.combinations(answers, 2), per_group):
            if xa.strip() == ya.strip():
                continue
            out.append(Candidate("problem", pid, prompt, xi, [{"role": "assistant", "content": xa}],
                                 yi, [{"role": "assistant", "content": ya}]))  # fmt: skip
    return out


_NAMES = {
    "consultation": {"system": "System", "user": "Patient / results", "assistant": "Doctor"},
    "problem": {"system": "System", "user": "Question", "assistant": "Answer"},
}


def _render(messages: Messages, max_chars: int, kind: str) -> str:
    names = _NAMES[kind]
    text = "\n".join(f"{names.get(m['role'], m['role'])}: {m['content']}" for m in messages)
    return text if len(text) <= max_chars else text[: max_chars - 20] + "\n[... cut ...]"


def _scores(s: _Side) -> RubricScores:
    return RubricScores(**s.model_dump())


def consistent_pair(cand: Candidate, verdicts: list[JudgeVerdict], judge: str) -> PreferencePair | str:
    """The kept pair, or why it is not kept (the both-orders guard, then agreement with the scores)."""
    prefs = {v.preferred for v in verdicts}
    if len(prefs) != 1:
        shown = ", ".join(f"{v.order}: {'A' if (v.preferred == 'first') == (v.order == 'first_second') else 'B'}"
                          for v in verdicts)  # fmt: skip
        return f"position_bias: the judge preferred a different response in each order ({shown})"
    winner = prefs.pop()
    first = sum(v.first.total for v in verdicts) / len(verdicts)
    second = sum(v.second.total for v in verdicts) / len(verdicts)
    if first == second:
        return f"tie: both responses score {first:.2f} on the rubric"
    if (first > second) != (winner == "first"):
        return f"score_disagrees: preferred the {winner} response but scored first {first:.2f}, second {second:.2f}"
    chosen, rejected = (cand.first, cand.second) if winner == "first" else (cand.second, cand.first)
    ids = (cand.first_id, cand.second_id) if winner == "first" else (cand.second_id, cand.first_id)
    scores = (first, second) if winner == "first" else (second, first)
    return PreferencePair(
        id=content_id("pref", cand.kind, cand.first_id, cand.second_id),
        kind=cand.kind,
        group=cand.group,
        prompt=[Message(**m) for m in cand.prompt],  # type: ignore[arg-type]
        chosen=[Message(**m) for m in chosen],  # type: ignore[arg-type]
        rejected=[Message(**m) for m in rejected],  # type: ignore[arg-type]
        chosen_id=ids[0],
        rejected_id=ids[1],
        chosen_score=round(scores[0], 3),
        rejected_score=round(scores[1], 3),
        verdicts=verdicts,
        judge=judge,
    )


class PreferenceJob(Job):
    name = "rlaif"
    table = "preferences"
    record_type = PreferencePair

    def __init__(self, cfg: RLAIFConfig, seed: int, output: Path):
        self.cfg = cfg
        self.seed = seed
        self.output = output
        self._candidates: list[Candidate] | None = None

    def candidates(self) -> list[Candidate]:
        # Read on first use: the consultation and reasoning jobs of the same run write their records first.
        if self._candidates is None:
            from synth.store.shards import iter_records

            out: list[Candidate] = []
            if "consultations" in self.cfg.sources:
                seen_c = {c.id: c for c in iter_records(self.output, "consultations", Consultation)}
                out += _consultation_candidates(list(seen_c.values()), self.cfg.max_pairs_per_group)
            if "reasoning" in self.cfg.sources:
                seen_t = {t.id: t for t in iter_records(self.output, "reasoning", ReasoningTrace)}
                out += _problem_candidates(list(seen_t.values()), self.cfg.max_pairs_per_group)
            self._candidates = out
        return self._candidates

    def items(self) -> Iterator[WorkItem]:
        self._candidates = None
        for c in self.candidates():
            yield WorkItem(id=content_id("pref", c.kind, c.first_id, c.second_id), payload=c)

    def total(self) -> int:
        return len(self.candidates())

    def teacher_names(self) -> list[str]:
        return [self.cfg.judge]

    async def process(self, item: WorkItem, ctx: RunContext) -> list[Record]:
        from synth.prompts import load_template

        cand: Candidate = item.payload
        teacher = ctx.teacher(self.cfg.judge)
        template = load_template("rlaif_judge")
        params = teacher.params.model_copy(
            update={"temperature": 0.0, "max_tokens": self.cfg.max_tokens, "seed": self.seed}
        )
        n, kind = self.cfg.max_chars, cand.kind
        prompt, first, second = (_render(m, n, kind) for m in (cand.prompt, cand.first, cand.second))
        verdicts, calls = [], []
        for order, (a, b) in (("first_second", (first, second)), ("second_first", (second, first))):
            c = await teacher.complete(template.messages(prompt=prompt, a=a, b=b), params, JudgeAnswer,
                                       tag=template.tag)  # fmt: skip
            calls.append(call_record("rlaif_judge", c, template.ref, params))
            ans = c.parsed
            assert isinstance(ans, JudgeAnswer)
            a_is_first = order == "first_second"
            verdicts.append(
                JudgeVerdict(
                    order=order,  # type: ignore[arg-type]
                    preferred="first" if (ans.preferred == "A") == a_is_first else "second",
                    first=_scores(ans.a if a_is_first else ans.b),
                    second=_scores(ans.b if a_is_first else ans.a),
                    rationale=ans.rationale,
                )
            )
        pair = consistent_pair(cand, verdicts, self.cfg.judge)
        if isinstance(pair, str):
            reason = pair.split(":", 1)[0]
            raise ItemFailed(reason, f"rlaif:{reason}", pair)
        pair.provenance = ctx.provenance(self.name, calls, seed=self.seed)
        return [pair]

    def estimate(self, todo: list[WorkItem], teachers: dict[str, Teacher]) -> Estimate:
        from synth.prompts import load_template

        n, teacher = len(todo), teachers[self.cfg.judge]
        chars = sum(sum(len(m["content"]) for m in it.payload.first + it.payload.second) for it in todo)
        system = len(load_template("rlaif_judge").system)
        return Estimate(
            job=self.name,
            items_total=self.total(),
            items_todo=n,
            requests=2 * n,
            requests_max=2 * n * (1 + teacher.max_reasks),
            prompt_tokens=2 * (n * system + min(chars, n * 2 * self.cfg.max_chars)) // 4,
            completion_tokens_max=2 * n * self.cfg.max_tokens,
            teachers=self.teacher_names(),
        )
