"""Is a predicted answer the hidden one? Lexical stage first, an optional LLM judge second.

The lexical stage (schemas/matching, shared with the train package) is free and deterministic, so it decides
whenever it can; the judge (a teacher) is asked only when lexical matching is unsure or says no and a judge is
configured — synonyms no table holds ("Addison's
disease" / "primary adrenal insufficiency") are exactly its job. The verdict says which stage decided.

Two entry points: `verify_diagnosis` (consultations: a diagnosis name, `Verdict`) and `verify_answer` (any
short medical answer or a long conclusion against a short ground truth, `AnswerVerdict` with a typed
"true"/"false"/"unsure" verdict and the normalised forms). For answers, a *definite* lexical no — a different
value of the same kind, a conflicting qualifier, a hedge between several answers — is final: no judge is asked.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.matching.verdict import AnswerVerdict, Verdict, verify_answer_lexical, verify_lexical
from synth.teachers.teacher import Teacher


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
