"""Scores from teachers and from the records themselves: complexity (rubric + features) and a quality judge.

Complexity = an absolute 1-10 rubric from a judge teacher (fixed anchors in the prompt, one record at a time,
never ranked against a batch) combined with a feature score computed from the record:

    features  = 1 + 9 × mean(saturate(f_i / cap_i))          each feature capped at a fixed constant
    complexity = w × judge + (1 − w) × features               w = judge_weight (features alone without a judge)

with, for consultations, the features (cap): doctor turns (30), facts elicited (12), tests ordered (8), DDx
breadth — distinct diagnoses across snapshots (8) —, DDx revisions — changes of the leading diagnosis (4) —,
reasoning length in characters (6,000); for reasoning traces: search steps needed to verify (4), thinking
steps (12), thinking length (4,000), restarts (2); for problems: question length (1,200) and the share of
too-easy probes that got it wrong (1). The caps are constants, so a score means the same in every batch.

Quality = clinical correctness, patient realism (consultations) and reasoning coherence, 1-10 each, with a
rationale; `quality` is their mean. Both stages record every score in `doc.scores`; a failed judge call drops
the record with the teacher's typed error as the reason (a rerun asks again; answers are cached).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.consultation import Consultation
from schemas.problem import ReasoningTrace, VerifiableProblem
from synth.quality.base import Doc, Stage, StageContext
from synth.quality.config import ComplexityConfig, QualityConfig

_CAPS_CONSULTATION = {
    "doctor_turns": 30,
    "facts_elicited": 12,
    "tests_ordered": 8,
    "ddx_breadth": 8,
    "ddx_revisions": 4,
    "reasoning_chars": 6000,
}
_CAPS_TRACE = {"search_steps": 4, "thinking_steps": 12, "thinking_chars": 4000, "restarts": 2}
_CAPS_PROBLEM = {"question_chars": 1200, "probes_wrong_share": 1}


def complexity_features(doc: Doc) -> dict[str, float]:
    r = doc.record
    if isinstance(r, Consultation):
        # the most probable entry leads: a snapshot that broke the order is stored as the doctor wrote it
        leading = [
            max(t.ddx, key=lambda d: d.probability).diagnosis.strip().lower() for t in r.turns if t.ddx
        ]
        return {
            "doctor_turns": r.doctor_turns or sum(t.speaker == "doctor" for t in r.turns),
            "facts_elicited": len({f for t in r.turns for f in t.revealed_fact_ids}),
            "tests_ordered": r.evaluation.tests_ordered,
            "ddx_breadth": len({d.diagnosis.strip().lower() for t in r.turns for d in (t.ddx or [])}),
            "ddx_revisions": sum(a != b for a, b in itertools.pairwise(leading)),
            "reasoning_chars": sum(len(t.reasoning or "") for t in r.turns),
        }
    if isinstance(r, ReasoningTrace):
        verified = [i for i, s in enumerate(r.steps) if s.verdict == "true"]
        return {
            "search_steps": (verified[-1] + 1) if verified else len(r.steps),
            "thinking_steps": sum(len(s.thinking) for s in r.steps),
            "thinking_chars": len(r.natural_thinking or "")
            or sum(len(t) for s in r.steps for t in s.thinking),
            "restarts": max(s.attempt for s in r.steps),
        }
    if isinstance(r, VerifiableProblem):
        easy = next((s for s in r.screens if s.screen == "too_easy"), None)
        wrong = 0.0
        if easy is not None and easy.details:
            wrong = sum(not v.startswith("true") for v in easy.details.values()) / len(easy.details)
        return {"question_chars": len(r.question), "probes_wrong_share": wrong}
    return {}


def feature_score(doc: Doc) -> float | None:
    feats = complexity_features(doc)
    if not feats:
        return None
    caps = {**_CAPS_CONSULTATION, **_CAPS_TRACE, **_CAPS_PROBLEM}
    parts = [min(v / caps[k], 1.0) for k, v in feats.items()]
    return 1 + 9 * sum(parts) / len(parts)


def judge_text(doc: Doc, max_chars: int) -> tuple[str, str]:
    """(kind, text) shown to a judge: the dialogue with the doctor's reasoning, or the problem and its chain."""
    r = doc.record
    if isinstance(r, Consultation):
        lines = []
        for t in r.turns:
            lines.append(f"{t.speaker}: {t.text}")
            if t.reasoning:
                lines.append(f"  (doctor's private reasoning: {t.reasoning})")
        if r.final:
            lines.append(f"Final diagnosis: {r.final.diagnosis}")
        kind, text = "Consultation", "\n".join(lines)
    elif isinstance(r, ReasoningTrace):
        thinking = r.natural_thinking or "\n".join(t for s in r.steps for t in s.thinking)
        text = f"Question: {r.question}\nReference answer: {r.ground_truth}\nReasoning: {thinking}"
        text += f"\nFinal response: {r.final_response or r.steps[-1].conclusion}"
        kind = "Reasoning"
    elif isinstance(r, VerifiableProblem):
        kind, text = "Question", f"{r.question}\nReference answer: {r.ground_truth}"
    else:
        kind, text = "Record", doc.text
    if len(text) > max_chars:
        text = text[: max_chars - 20] + "\n[... cut ...]"
    return kind, text


class ComplexityRating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=10)
    rationale: str = Field(min_length=1, max_length=400)


class QualityRating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clinical_correctness: int = Field(ge=1, le=10)
    patient_realism: int = Field(ge=1, le=10)
    reasoning_coherence: int = Field(ge=1, le=10)
    rationale: str = Field(min_length=1, max_length=600)


class ProblemQualityRating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clinical_correctness: int = Field(ge=1, le=10)
    reasoning_coherence: int = Field(ge=1, le=10)
    rationale: str = Field(min_length=1, max_length=600)


def _without_cards(docs: list[Doc]) -> tuple[list[Doc], list[Doc]]:
    """(docs the judges rate, case cards). Cards pass through: the rubrics are for generated consultations,
    problems and traces, and a card's own checks are the case gates (synth/quality/cases.py)."""
    return [d for d in docs if d.table != "cases"], [d for d in docs if d.table == "cases"]


async def _judge_all(docs: list[Doc], ctx: StageContext, ask: Any, stage: str) -> list[Doc]:
    """Ask for every doc, `concurrency` at a time; a failed call drops its doc with the typed reason."""
    from synth.teachers.errors import TeacherError

    sem = asyncio.Semaphore(max(1, ctx.concurrency))
    failed: set[str] = set()

    async def one(d: Doc) -> None:
        async with sem:
            try:
                await ask(d)
            except TeacherError as e:
                failed.add(d.id)
                ctx.drop(d, stage, f"judge_failed: {e.kind}: {e}")

    await asyncio.gather(*(one(d) for d in docs))
    return [d for d in docs if d.id not in failed]


class ComplexityScorer(Stage):
    name = "complexity"

    def __init__(self, cfg: ComplexityConfig):
        self.cfg = cfg
        self.summary: dict[str, Any] = {}

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        cfg = self.cfg
        docs, cards = _without_cards(docs)
        for d in docs:
            f = feature_score(d)
            if f is not None:
                ctx.score(d, "complexity_features", round(f, 3))
        if cfg.judge:
            from synth.prompts import load_template

            teacher = ctx.teacher(cfg.judge)
            template = load_template("complexity_judge")
            params = teacher.params.model_copy(
                update={"temperature": 0.0, "max_tokens": 200, "seed": ctx.seed}
            )

            async def ask(d: Doc) -> None:
                kind, text = judge_text(d, cfg.max_chars)
                c = await teacher.complete(template.messages(kind=kind, text=text), params, ComplexityRating,
                                           tag=template.tag)  # fmt: skip
                ctx.score(d, "complexity_judge", c.parsed.score)

            docs = await _judge_all(docs, ctx, ask, self.name)
        w = cfg.judge_weight if cfg.judge else 0.0
        for d in docs:
            feats = d.scores.get("complexity_features")
            judge = d.scores.get("complexity_judge")
            if judge is None and feats is None:
                continue
            value = (
                (w * judge + (1 - w) * feats)
                if (judge is not None and feats is not None)
                else (judge or feats)
            )
            ctx.score(d, "complexity", round(float(value), 3))  # type: ignore[arg-type]
        docs = self._select(docs, ctx)
        values = sorted(d.scores["complexity"] for d in docs if "complexity" in d.scores)
        self.summary = {"scored": len(values), "median": values[len(values) // 2] if values else None}
        return docs + cards

    def _select(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        sel = self.cfg.select
        if sel is None:
            return docs
        if sel.threshold is not None:
            cut = sel.threshold
        else:
            assert sel.top_fraction is not None
            ranked = sorted((d.scores.get("complexity", 0.0) for d in docs), reverse=True)
            n = max(1, round(len(ranked) * sel.top_fraction)) if ranked else 0
            cut = ranked[n - 1] if n else 0.0
        kept = []
        for d in docs:
            value = d.scores.get("complexity", 0.0)
            if value >= cut:
                kept.append(d)
            else:
                ctx.drop(d, self.name, f"complexity {value:.2f} below {cut:.2f}")
        return kept


class QualityJudge(Stage):
    name = "quality"

    def __init__(self, cfg: QualityConfig):
        self.cfg = cfg
        self.summary: dict[str, Any] = {}
        self.rationales: dict[str, str] = {}

    async def run(self, docs: list[Doc], ctx: StageContext) -> list[Doc]:
        from synth.prompts import load_template

        cfg = self.cfg
        docs, cards = _without_cards(docs)
        teacher = ctx.teacher(cfg.judge)
        template = load_template("quality_judge")
        params = teacher.params.model_copy(update={"temperature": 0.0, "max_tokens": 300, "seed": ctx.seed})

        async def ask(d: Doc) -> None:
            consultation = isinstance(d.record, Consultation)
            kind, text = judge_text(d, cfg.max_chars)
            schema = QualityRating if consultation else ProblemQualityRating
            c = await teacher.complete(
                template.messages(kind=kind, text=text, consultation=consultation),
                params,
                schema,
                tag=template.tag,
            )
            rating = c.parsed
            parts = {
                "quality_correctness": rating.clinical_correctness,
                "quality_coherence": rating.reasoning_coherence,
            }
            if consultation:
                parts["quality_realism"] = rating.patient_realism
            for k, v in parts.items():
                ctx.score(d, k, v)
            ctx.score(d, "quality", round(sum(parts.values()) / len(parts), 3))
            self.rationales[d.id] = rating.rationale

        docs = await _judge_all(docs, ctx, ask, self.name)
        kept = []
        for d in docs:
            q = d.scores.get("quality", 0.0)
            if cfg.min_score is not None and q < cfg.min_score:
                ctx.drop(
                    d, self.name, f"quality {q:.2f} below {cfg.min_score:g}: {self.rationales.get(d.id, '')}"
                )
            else:
                kept.append(d)
        self.summary = {"rated": len(docs), "dropped": len(docs) - len(kept)}
        return kept + cards
