"""Per-turn evaluation of the doctor's hidden reasoning against the case's answer.

Every doctor snapshot is matched entry by entry against the hidden diagnosis and its aliases with the
verifier's lexical matcher (`schemas.matching.verdict.verify_lexical`); only "match" is a hit — "unsure" is
not, so an entry is never credited on a guess. Over a snapshot of entries p_1..p_k (as the doctor wrote them,
one class per entry) plus an "other" class of mass p_0 = max(0, 1 - sum p_i):

- rank: 1 + the number of entries more probable than the first matching one (ties: the written order);
- Brier: sum_i (p_i - y_i)^2 + (p_0 - y_0)^2, y_i = 1 for the first matching entry only, y_0 = 1 when no
  entry matches. 0 is a certain, right snapshot; 2 a certain, wrong one (more only when the sum exceeds 1);
- log score: -ln max(q, LOG_EPS), q = the matching entry's probability, or p_0 when none matches.

Per consultation: the doctor turn number at which the truth is first listed and first leads, the mean
Brier and log score, leader changes (the leader is not the previous leader by the matcher), truth drops (a
snapshot without the truth right after one with it), which fact each turn elicited, premature closure (the
final diagnosis came before every key fact of the card had been elicited), the lucky guess (a correct final
diagnosis the truth was in no differential before) and the snapshot flags left after re-asks.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

from schemas.case import CaseCard
from schemas.consultation import DDxItem, Turn, TurnScore
from schemas.matching.lexical import compare
from schemas.matching.verdict import verify_lexical
from synth.dialogue.ddx import leader_index

LOG_EPS = 0.01  # floor on p(truth): a certain miss scores -ln 0.01 = 4.61, not infinity


def truth_matcher(card: CaseCard) -> Callable[[str], bool]:
    """name -> whether the matcher calls it the hidden diagnosis (or an alias); "unsure" is False."""
    gold, aliases = card.answer.diagnosis, list(card.answer.aliases)

    @lru_cache(maxsize=256)
    def is_truth(name: str) -> bool:
        return verify_lexical(name, gold, aliases).correct is True

    return is_truth


def score_snapshot(
    ddx: Sequence[DDxItem], is_truth: Callable[[str], bool], turn: int, doctor_turn: int
) -> TurnScore:
    order = sorted(range(len(ddx)), key=lambda i: (-ddx[i].probability, i))
    hit = next((i for i in order if is_truth(ddx[i].diagnosis)), None)
    other = max(0.0, 1.0 - sum(d.probability for d in ddx))
    brier = sum((d.probability - (1.0 if i == hit else 0.0)) ** 2 for i, d in enumerate(ddx))
    brier += (other - (1.0 if hit is None else 0.0)) ** 2
    q = ddx[hit].probability if hit is not None else other
    lead = leader_index(ddx)
    return TurnScore(
        turn=turn,
        doctor_turn=doctor_turn,
        truth_rank=order.index(hit) + 1 if hit is not None else None,
        truth_probability=ddx[hit].probability if hit is not None else 0.0,
        leader=ddx[lead].diagnosis if lead is not None else None,
        leader_is_truth=lead is not None and lead == hit,
        brier=round(brier, 6),
        log_score=round(-math.log(max(q, LOG_EPS)), 6),
    )


def facts_elicited(turns: Sequence[Turn]) -> dict[str, int]:
    """fact id -> index of the first (patient) turn that conveyed it; the opening statement counts."""
    out: dict[str, int] = {}
    for t in turns:
        if t.speaker == "patient":
            for fid in t.revealed_fact_ids:
                out.setdefault(fid, t.index)
    return out


def turn_metrics(
    turns: Sequence[Turn], card: CaseCard, final_turn: int | None, correct: bool | None
) -> dict[str, object]:
    """The per-turn fields of `Evaluation` for a transcript; `final_turn` is the index of the final turn."""
    is_truth = truth_matcher(card)
    scores: list[TurnScore] = []
    doctor_turn = 0
    final_doctor_turn: int | None = None
    flags: Counter[str] = Counter()
    broken: list[int] = []
    reasks = 0
    for t in turns:
        if t.speaker != "doctor":
            continue
        doctor_turn += 1
        if t.index == final_turn:
            final_doctor_turn = doctor_turn
        reasks += t.reasks
        if t.snapshot_flags:
            broken.append(t.index)
            flags.update(t.snapshot_flags)
        if t.ddx:
            scores.append(score_snapshot(t.ddx, is_truth, t.index, doctor_turn))
    leader_changes = sum(
        1
        for a, b in itertools.pairwise(scores)
        if a.leader is not None and b.leader is not None and compare(b.leader, a.leader).outcome != "match"
    )
    truth_dropped = sum(
        1 for a, b in itertools.pairwise(scores) if a.truth_rank is not None and b.truth_rank is None
    )
    first_listed = next((s.doctor_turn for s in scores if s.truth_rank is not None), None)
    elicited = facts_elicited(turns)
    key = sorted(f.id for f in card.facts if f.key)
    premature: bool | None = None
    missing: list[str] = []
    if final_turn is not None and key:
        missing = [f for f in key if elicited.get(f, final_turn) >= final_turn]
        premature = bool(missing)
    lucky: bool | None = None
    if correct is True and final_doctor_turn is not None:
        lucky = first_listed is None or first_listed >= final_doctor_turn
    n = len(scores)
    return {
        "per_turn": scores,
        "truth_first_listed": first_listed,
        "truth_first_leading": next((s.doctor_turn for s in scores if s.leader_is_truth), None),
        "brier": round(sum(s.brier for s in scores) / n, 4) if n else None,
        "log_score": round(sum(s.log_score for s in scores) / n, 4) if n else None,
        "leader_changes": leader_changes,
        "truth_dropped": truth_dropped,
        "premature_closure": premature,
        "key_facts_missing": missing,
        "facts_elicited": elicited,
        "lucky_guess": lucky,
        "snapshot_flags": dict(sorted(flags.items())),
        "broken_snapshots": broken,
        "snapshot_reasks": reasks,
    }
