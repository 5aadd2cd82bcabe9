"""The evaluation of one finished consultation against its hidden case card: the final verdict, then the
per-turn evaluation of the doctor's differentials (synth/dialogue/turn_eval.py)."""

from __future__ import annotations

from schemas.case import CaseCard
from schemas.common import TeacherCall
from schemas.consultation import Evaluation
from synth.dialogue.director import Transcript
from synth.dialogue.turn_eval import turn_metrics
from synth.teachers.teacher import Teacher
from synth.verify import verify_diagnosis, verify_lexical


def top_k_hit(transcript: Transcript, card: CaseCard) -> int | None:
    """1-based rank of the answer in the final differential (the final diagnosis first, then by probability:
    a differential kept unsorted is ranked as its probabilities say), by lexical match."""
    if transcript.final is None:
        return None
    ddx = transcript.final.differential
    by_probability = sorted(range(len(ddx)), key=lambda i: (-ddx[i].probability, i))
    names = [transcript.final.diagnosis] + [ddx[i].diagnosis for i in by_probability]
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
    final_turn = transcript.termination.turn if transcript.final and transcript.termination else None
    ev = Evaluation(
        **turn_metrics(transcript.turns, card, final_turn, correct),  # type: ignore[arg-type]
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
