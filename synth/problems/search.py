"""Reasoning-path search (after HuatuoGPT-o1): write a chain, verify it, and on failure continue it.

One attempt: an initial chain of thought (inner-thinking steps, a conclusion, a self-check); the verifier
checks the conclusion against the ground truth; while it fails and the depth allows, one strategy — explore a
new path, backtrack (never on the first continuation: there is nothing before the first chain to go back
to), verify, correct — drawn with the problem's seed continues the chain, and the verifier checks again.
An exhausted attempt is followed by a fresh one (a restart, another seed) up to `max_restarts`. If every
attempt fails and the label-hint fallback is on, one last continuation sees the answer; its step is tagged
`label_hint` and the trace `label_hinted`, so it is never mistaken for a searched success.

The verified path (its attempt's steps, the wrong turns included) is then rewritten as natural thinking plus
a final response. Every step — strategy, text, verdict, which verifier stage decided — stays in the trace.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from schemas.common import TeacherCall
from schemas.problem import SearchStep, Strategy
from synth.jobs import call_record
from synth.problems.config import ReasoningConfig
from synth.prompts import load_template
from synth.teachers.base import SamplingParams
from synth.teachers.teacher import Teacher


class ChainOutput(BaseModel):
    """What the reasoning teacher fills in, for the first chain and every continuation. The bounds go into
    the response schema, so a grammar-constrained model cannot ramble past them (see `chain_model`)."""

    model_config = ConfigDict(extra="forbid")

    thinking: list[Annotated[str, StringConstraints(min_length=1, max_length=800)]] = Field(
        min_length=1, max_length=20
    )
    conclusion: str = Field(min_length=1, max_length=200)
    verification: str = Field(max_length=600)


@lru_cache(maxsize=32)
def chain_model(max_steps: int, max_step_chars: int) -> type[ChainOutput]:
    """ChainOutput with at most `max_steps` thinking steps of at most `max_step_chars` in its schema."""
    steps = Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=max_step_chars)]],
        Field(min_length=1, max_length=max_steps),
    ]
    return create_model("ChainOutput", __base__=ChainOutput, thinking=(steps, ...))


class Reformatted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thinking: str = Field(min_length=1)
    final_response: str = Field(min_length=1)


@lru_cache(maxsize=32)
def reformatted_model(max_chars: int) -> type[Reformatted]:
    text = Annotated[str, StringConstraints(min_length=1, max_length=max_chars)]
    short = Annotated[str, StringConstraints(min_length=1, max_length=max(200, max_chars // 3))]
    return create_model(
        "Reformatted", __base__=Reformatted, thinking=(text, ...), final_response=(short, ...)
    )


@dataclass(frozen=True)
class Check:
    """The verifier's answer for one conclusion."""

    verdict: str  # "true" | "false" | "unsure"
    stage: str  # "lexical" | "judge" | "none"
    reason: str
    calls: list[TeacherCall] = field(default_factory=list)


VerifyFn = Callable[[str], Awaitable[Check]]


@dataclass
class SearchResult:
    steps: list[SearchStep]
    success: bool
    label_hinted: bool
    calls: list[TeacherCall]
    natural_thinking: str | None = None
    final_response: str | None = None

    def verified_path(self) -> list[SearchStep]:
        """The steps of the attempt that succeeded, up to and including the verified one."""
        if not self.success:
            return []
        last = next(i for i in range(len(self.steps) - 1, -1, -1) if self.steps[i].verdict == "true")
        attempt = self.steps[last].attempt
        return [s for s in self.steps[: last + 1] if s.attempt == attempt]


def allowed_strategies(cfg: ReasoningConfig, iteration: int) -> list[Strategy]:
    allowed: list[Strategy] = [s for s in cfg.strategies if not (s == "backtrack" and iteration <= 1)]
    return allowed or [s for s in cfg.strategies]


class ReasoningSearch:
    """One problem's search. `verify` checks a conclusion (the job binds it to the ground truth)."""

    def __init__(
        self,
        cfg: ReasoningConfig,
        teacher: Teacher,
        params: SamplingParams,
        verify: VerifyFn,
        seed: int,
        reformatter: Teacher | None = None,
        reformat_params: SamplingParams | None = None,
    ):
        self.cfg = cfg
        self.teacher = teacher
        self.params = params
        self.verify = verify
        self.seed = seed
        self.reformatter = reformatter or teacher
        self.reformat_params = reformat_params or self.reformatter.params
        self.calls: list[TeacherCall] = []
        self.steps: list[SearchStep] = []

    def _seed(self, attempt: int, iteration: int) -> int:
        return (self.seed + 1_000_003 * attempt + 7_919 * iteration) % 2**31

    async def _chain(
        self,
        question: str,
        attempt: int,
        iteration: int,
        strategy: Strategy,
        chain: list[SearchStep],
        hint: str,
    ) -> SearchStep:
        params = self.params.model_copy(update={"seed": self._seed(attempt, iteration)})
        if strategy == "init":
            template = load_template("reasoning_init")
            msgs = template.messages(question=question, max_steps=self.cfg.max_thinking_steps)
        else:
            template = load_template("reasoning_continue")
            msgs = template.messages(
                question=question,
                chain=chain,
                strategy=strategy,
                hint=hint,
                max_steps=self.cfg.max_thinking_steps,
            )
        c = await self.teacher.complete(
            msgs, params, chain_model(self.cfg.max_thinking_steps, self.cfg.max_step_chars), tag=template.tag
        )
        assert isinstance(c.parsed, ChainOutput)
        out = c.parsed
        role = "reasoning_label_hint" if strategy == "label_hint" else f"reasoning_{strategy}"
        self.calls.append(call_record(role, c, template.ref, params))
        check = await self.verify(out.conclusion)
        self.calls += check.calls
        step = SearchStep(
            attempt=attempt,
            iteration=iteration,
            strategy=strategy,
            thinking=[t.strip() for t in out.thinking if t.strip()] or [out.conclusion],
            conclusion=out.conclusion.strip() or out.conclusion,
            verification=out.verification.strip() or None,
            verdict=check.verdict,  # type: ignore[arg-type]
            verdict_stage=check.stage,  # type: ignore[arg-type]
            verdict_reason=check.reason,
        )
        self.steps.append(step)
        return step

    async def run(self, question: str, ground_truth: str) -> SearchResult:
        cfg = self.cfg
        success = hinted = False
        chain: list[SearchStep] = []
        for attempt in range(cfg.max_restarts + 1):
            rng = random.Random(self._seed(attempt, -1))
            chain = [await self._chain(question, attempt, 0, "init", [], "")]
            for iteration in range(1, cfg.max_depth + 1):
                if chain[-1].verdict == "true":
                    break
                strategy = rng.choice(allowed_strategies(cfg, iteration))
                chain.append(await self._chain(question, attempt, iteration, strategy, chain, ""))
            if chain[-1].verdict == "true":
                success = True
                break
        if not success and cfg.label_hint_fallback:
            attempt = cfg.max_restarts
            step = await self._chain(question, attempt, len(chain), "label_hint", chain, ground_truth)
            success = hinted = step.verdict == "true"
        result = SearchResult(self.steps, success, hinted, self.calls)
        if success and cfg.reformat:
            await self._reformat(question, result)
        return result

    async def _reformat(self, question: str, result: SearchResult) -> None:
        template = load_template("reasoning_reformat")
        params = self.reformat_params.model_copy(update={"seed": self._seed(0, 10_000)})
        msgs = template.messages(question=question, chain=result.verified_path())
        model = reformatted_model(self.cfg.max_reformat_chars)
        c = await self.reformatter.complete(msgs, params, model, tag=template.tag)
        assert isinstance(c.parsed, Reformatted)
        self.calls.append(call_record("reasoning_reformat", c, template.ref, params))
        result.natural_thinking = c.parsed.thinking.strip()
        result.final_response = c.parsed.final_response.strip()
