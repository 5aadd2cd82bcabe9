"""The evaluation of one finished consultation against its hidden case card."""

from __future__ import annotations

from schemas.case import CaseCard
from schemas.common import TeacherCall
from schemas.consultation import Evaluation
from synth.dialogue.director import Transcript
from synth.teachers.teacher import Teacher
from synth.verify import verify_diagnosis, verify_lexical


def top_k_hit(transcript: Transcript, card: CaseCard) -> int | None:
    """1-based rank of the answer in the final differential (the final diagnosis first), by lexical match."""
    if transcript.final is None:
        return None
    names = [transcript.final.diagnosis] + [d.diagnosis for d in transcript.final.differential]
    ranked: list[str] = []
    for name in names:
        if name not in ranked:
            ranked.append(name)
    for rank, name in enumerate(ranked, start=1):
        if verify_lexical(name, card.answer.diagnosis, card.answer.aliases).correct:
            return rank
    return None


def key_fact_recall(transcript: Transcript, card: CaseCard) -> float | None:
    """Share of the card's key facts (all facts when none is marked key) the patient conveyed."""
    key = {f.id for f in card.facts if f.key} or {f.id for f in card.facts}
    said = {fid for turn in transcript.turns if turn.speaker == "patient" for fid in turn.revealed_fact_ids}
    return round(len(key & said) / len(key), 4) if key else None


async def evaluate(
    transcript: Transcript, card: CaseCard, judge: Teacher | None, seed: int | None
) -> tuple[Evaluation, list[TeacherCall]]:
    calls: list[TeacherCall] = []
    correct, stage, reason = None, "none", None
    if transcript.final is not None:
        v = await verify_diagnosis(
            transcript.final.diagnosis, card.answer.diagnosis, card.answer.aliases, judge=judge, seed=seed
        )
        correct, stage, reason, calls = v.correct, v.stage, v.reason, v.calls
    ev = Evaluation(
        correct=correct,
        verdict_stage=stage,  # type: ignore[arg-type]
        verdict_reason=reason,
        top_k_hit=top_k_hit(transcript, card),
        key_fact_recall=key_fact_recall(transcript, card),
        questions_asked=transcript.questions_asked,
        tests_ordered=transcript.tests_ordered,
        repeated_questions=transcript.repeated_questions,
        leakage_flags=list(transcript.leakage_flags),
    )
    return ev, calls
