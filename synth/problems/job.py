"""Jobs: MCQs → screened open-ended problems (`problems`), then a searched, verified chain for each (`reasoning`).

`problems`: one work item per source record. A bad record (options missing, answer not an option, empty
question, duplicate id) is an item that fails at once, so it lands in the quarantine with its file and line.
A good one goes through the rule screen, the rewrite, the rewrite's rule screen, the judge screen and the
too-easy probes; the first screen that fails quarantines it as `ScreenRejected` with every verdict so far.
A kept problem carries all its verdicts.

`reasoning`: one work item per kept problem of the output folder; the search (synth/problems/search.py)
always yields a trace — verified or not — so failed searches stay visible (kept out of SFT, used for
preference pairs and for measuring the search).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Record, TeacherCall
from schemas.problem import ReasoningTrace, ScreenVerdict, SourceMCQ, VerifiableProblem
from synth.jobs import Estimate, ItemFailed, Job, RunContext, WorkItem, call_record, ids_stream_key
from synth.problems.config import ProblemsConfig, ReasoningConfig
from synth.problems.screens import judge_screen, probe_answer, rule_screen_rewrite, rule_screen_source
from synth.problems.search import Check, ReasoningSearch
from synth.problems.source import BadMCQ, load_mcqs, mcq_key
from synth.prompts import load_template
from synth.teachers.teacher import Teacher


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % 2**31


async def check_answer(
    candidate: str,
    reference: str,
    aliases: list[str],
    judge: Teacher | None,
    seed: int,
    question: str | None = None,
) -> Check:
    """The shared verifier (lexical first; the judge teacher only when lexical is unsure or a soft no)."""
    from synth.verify.verifier import verify_answer

    v = await verify_answer(candidate, reference, aliases, judge, question=question, seed=seed)
    return Check(v.verdict, v.stage, v.reason, list(v.calls))


class RewrittenQuestion(BaseModel):
    """What the rewriter fills in when the correct option's text is the ground truth."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=20, max_length=2000)


class Rewrite(RewrittenQuestion):
    """What the rewriter fills in: the open question and its short answer."""

    answer: str = Field(min_length=1, max_length=100)


def _rejected(screens: list[ScreenVerdict], extra: str = "") -> ItemFailed:
    last = screens[-1]
    trail = "; ".join(f"{s.screen}: {'pass' if s.passed else 'fail'}" for s in screens)
    return ItemFailed(
        "ScreenRejected", f"screen:{last.screen}", f"{last.reason} [{trail}]{' ' + extra if extra else ''}"
    )


def _mcq_item_id(m: SourceMCQ | BadMCQ) -> str:
    return f"bad-{Path(m.path).name}-line-{m.line}" if isinstance(m, BadMCQ) else mcq_key(m)


class ProblemJob(Job):
    name = "problems"
    table = "problems"
    record_type = VerifiableProblem

    def __init__(self, cfg: ProblemsConfig, seed: int):
        self.cfg = cfg
        self.seed = seed
        self._mcqs: list[SourceMCQ | BadMCQ] | None = None

    def mcqs(self) -> list[SourceMCQ | BadMCQ]:
        if self._mcqs is None:
            src = None if self.cfg.source == "seeds" else self.cfg.source
            self._mcqs = load_mcqs(src)  # type: ignore[arg-type]
        return self._mcqs

    def items(self) -> Iterator[WorkItem]:
        for m in self.mcqs()[: self.cfg.limit]:
            yield WorkItem(id=_mcq_item_id(m), payload=m)

    def stream_key(self) -> str:
        # The source's questions in file order (a bad line keeps its place); `limit` only cuts the stream.
        return ids_stream_key(self.name, (_mcq_item_id(m) for m in self.mcqs()))

    def total(self) -> int:
        n = len(self.mcqs())
        return min(n, self.cfg.limit) if self.cfg.limit else n

    def teacher_names(self) -> list[str]:
        return sorted({name for _, name in self.cfg.teacher_refs()})

    def item_seed(self, item: WorkItem) -> int:
        return _stable_int(f"{self.seed}:{item.id}")

    async def process(self, item: WorkItem, ctx: RunContext) -> list[Record]:
        if isinstance(item.payload, BadMCQ):
            bad: BadMCQ = item.payload
            raise ItemFailed("BadMCQ", f"source:{bad.code}", str(bad))
        mcq: SourceMCQ = item.payload
        cfg, seed = self.cfg, self.item_seed(item)
        screens = [rule_screen_source(mcq, cfg.min_question_chars)]
        if not screens[-1].passed:
            raise _rejected(screens)

        calls: list[TeacherCall] = []
        teacher = ctx.teacher(cfg.teacher)
        template = load_template("problem_rewrite")
        params = (cfg.params or teacher.params).model_copy(update={"seed": seed})
        keep_option = cfg.ground_truth == "option"
        c = await teacher.complete(
            template.messages(
                question=mcq.question,
                options=mcq.options,
                answer_idx=mcq.answer_idx,
                answer=mcq.answer,
                keep_option=keep_option,
            ),
            params,
            RewrittenQuestion if keep_option else Rewrite,
            tag=template.tag,
        )
        assert isinstance(c.parsed, RewrittenQuestion)
        calls.append(call_record("problem_rewrite", c, template.ref, params))
        question = c.parsed.question.strip()
        ground_truth = mcq.answer if keep_option else c.parsed.answer.strip()  # type: ignore[attr-defined]
        shown = f"(question: {question!r}; answer: {ground_truth!r})"

        screens.append(
            rule_screen_rewrite(question, ground_truth, cfg.max_answer_words, cfg.min_question_chars)
        )
        if not screens[-1].passed:
            raise _rejected(screens, shown)
        verifier_judge = ctx.teacher(cfg.verifier_judge) if cfg.verifier_judge else None
        if not keep_option:
            # The rewrite's answer must still be the MCQ's answer: otherwise the rewriter changed the problem.
            same = await check_answer(ground_truth, mcq.answer, [], verifier_judge, seed)
            calls += same.calls
            screens.append(
                ScreenVerdict(
                    screen="answer_kept",
                    passed=same.verdict == "true",
                    reason=None if same.verdict == "true" else f"{same.verdict}: {same.reason}",
                    details={"stage": same.stage},
                )
            )
            if not screens[-1].passed:
                raise _rejected(screens, shown)

        if cfg.judge:
            verdict, call = await judge_screen(ctx.teacher(cfg.judge), mcq, question, ground_truth, seed)
            calls.append(call)
            screens.append(verdict)
            if not verdict.passed:
                raise _rejected(screens, shown)

        if cfg.probes:
            details: dict[str, str] = {}
            right = 0
            for name in cfg.probes:
                answer, call = await probe_answer(ctx.teacher(name), question, cfg.probe_params, seed)
                calls.append(call)
                v = await check_answer(answer, ground_truth, [mcq.answer], verifier_judge, seed, question)
                calls += v.calls
                details[name] = f"{v.verdict} ({v.stage}): {answer}"
                right += v.verdict == "true"
            easy = right == len(cfg.probes)
            screens.append(
                ScreenVerdict(
                    screen="too_easy",
                    passed=not easy,
                    reason=f"{right} of {len(cfg.probes)} probes answered correctly",
                    details=details,
                )
            )
            if easy:
                raise _rejected(screens, shown)

        aliases = [mcq.answer] if mcq.answer.strip().lower() != ground_truth.lower() else []
        return [
            VerifiableProblem(
                question=question,
                ground_truth=ground_truth,
                aliases=aliases,
                source=mcq,
                screens=screens,
                provenance=ctx.provenance(self.name, calls, seed=seed),
            )
        ]

    def estimate(self, todo: list[WorkItem], teachers: dict[str, Teacher]) -> Estimate:
        cfg, n = self.cfg, sum(not isinstance(it.payload, BadMCQ) for it in todo)
        teacher = teachers[cfg.teacher]
        per = 1 + (1 if cfg.judge else 0) + len(cfg.probes)
        prompt = n * (len(load_template("problem_rewrite").system) // 4 + 250) * per
        max_tokens = (cfg.params or teacher.params).max_tokens + 200 * per
        return Estimate(
            job=self.name,
            items_total=self.total(),
            items_todo=len(todo),
            requests=n * per,
            requests_max=n * per * (1 + teacher.max_reasks),
            prompt_tokens=prompt,
            completion_tokens_max=n * max_tokens,
            teachers=self.teacher_names(),
        )


class ReasoningJob(Job):
    name = "reasoning"
    table = "reasoning"
    record_type = ReasoningTrace

    def __init__(self, cfg: ReasoningConfig, seed: int, output: Path, upstream: ProblemJob | None = None):
        self.cfg = cfg
        self.seed = seed
        self.output = output
        self.upstream = upstream  # the problems job of the same run, if any: its output is this job's input
        self._problems: list[VerifiableProblem] | None = None

    def problems(self) -> list[VerifiableProblem]:
        # Read on first use: the problems job of the same run writes them just before.
        if self._problems is None:
            from synth.store.shards import iter_records

            seen: dict[str, VerifiableProblem] = {}
            for p in iter_records(self.output, "problems", VerifiableProblem):
                seen.setdefault(p.id, p)
            self._problems = sorted(seen.values(), key=lambda p: p.id)
        return self._problems

    def items(self) -> Iterator[WorkItem]:
        self._problems = None  # read afresh: a dry run's estimate may have looked before the problems job ran
        for p in self.problems():
            yield WorkItem(id=p.id, payload=p)

    def stream_key(self) -> str:
        # The run's problems sorted by id: another set of problems (a bigger problems job) is another stream.
        self._problems = None  # as `items`: what the problems job has written by now
        return ids_stream_key(self.name, (p.id for p in self.problems()))

    def items_from(self, start: int) -> Iterator[WorkItem]:
        # The runner asks for `stream_key` just before: the problems it has just read are the stream it named,
        # so they are not read a second time.
        return (WorkItem(id=p.id, payload=p) for p in self.problems()[start:])

    def total(self) -> int:
        return len(self.problems())

    def teacher_names(self) -> list[str]:
        return sorted({name for _, name in self.cfg.teacher_refs()})

    async def process(self, item: WorkItem, ctx: RunContext) -> list[Record]:
        problem: VerifiableProblem = item.payload
        cfg = self.cfg
        seed = _stable_int(f"{self.seed}:{item.id}")
        teacher = ctx.teacher(cfg.teacher)
        judge = ctx.teacher(cfg.verifier_judge) if cfg.verifier_judge else None

        async def verify(conclusion: str) -> Check:
            return await check_answer(
                conclusion, problem.ground_truth, problem.aliases, judge, seed, problem.question
            )

        reformatter = ctx.teacher(cfg.reformat_teacher) if cfg.reformat_teacher else teacher
        search = ReasoningSearch(
            cfg,
            teacher,
            cfg.params or teacher.params,
            verify,
            seed,
            reformatter=reformatter,
            reformat_params=cfg.reformat_params or reformatter.params,
        )
        result = await search.run(problem.question, problem.ground_truth)
        return [
            ReasoningTrace(
                problem_id=problem.id,
                question=problem.question,
                ground_truth=problem.ground_truth,
                aliases=problem.aliases,
                steps=result.steps,
                success=result.success,
                label_hinted=result.label_hinted,
                natural_thinking=result.natural_thinking,
                final_response=result.final_response,
                provenance=ctx.provenance(self.name, result.calls, seed=seed),
            )
        ]

    def estimate(self, todo: list[WorkItem], teachers: dict[str, Teacher]) -> Estimate:
        cfg, n = self.cfg, len(todo)
        if self.upstream is not None:
            # Count every good question the problems job has yet to screen (an upper bound: the screens drop
            # some). Only the ones it still has to do: a question it already rejected never becomes a problem.
            if self.upstream_todo is not None:
                n += sum(not isinstance(it.payload, BadMCQ) for it in self.upstream_todo)
            else:
                written = len(self.problems())
                good = sum(not isinstance(it.payload, BadMCQ) for it in self.upstream.items())
                n += max(0, good - written)
        teacher = teachers[cfg.teacher]
        params = cfg.params or teacher.params
        attempts = cfg.max_restarts + 1
        most = attempts * (cfg.max_depth + 1) + (1 if cfg.label_hint_fallback else 0) + int(cfg.reformat)
        expected = 2 + int(cfg.reformat)  # typically: a first chain, one continuation, the reformat
        return Estimate(
            job=self.name,
            items_total=max(self.total(), n),
            items_todo=n,
            requests=n * expected,
            requests_max=n * most * (1 + teacher.max_reasks),
            prompt_tokens=n * expected * 400,
            completion_tokens_max=n * most * params.max_tokens,
            teachers=self.teacher_names(),
        )
