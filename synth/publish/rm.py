"""The `rm` view and the `preferences` full-record config: judged preference pairs (synth/rlaif.py).

`rm` rows are TRL's preference format with an explicit prompt — `prompt` / `chosen` / `rejected`, all
conversational — for `train reward` (TRL's RewardTrainer), plus the judge's rubric means (`chosen_score`,
`rejected_score`, their `margin`) so a trainer can weigh or filter pairs by how clear the judgement was.
Only pairs the judge ranked the same way in both orders exist as records (the rest are in the run's
quarantine), so every row here passed the position-bias guard. `preferences` keeps the whole record —
both verdicts with their scores and rationales — as typed columns, like the other full-record configs.
"""

from __future__ import annotations

from typing import Any

from schemas.preference import PreferencePair

Row = dict[str, Any]

RM_TEXT = {
    "rm": "reward-model pairs `prompt` / `chosen` / `rejected` + the judge's rubric scores (RewardTrainer): "
    "consultations of one case and answers to one problem, judged in both orders, kept only when consistent",
    "preferences": "every judged preference pair: key columns + the full `PreferencePair` (both verdicts)",
}


def arrow_fields(msgs: Any) -> dict[str, list[tuple[str, Any]]]:
    """The rm view's Arrow fields (layout.arrow_schema); `msgs` is the views' shared messages type.

    `preferences` is a full-record config: its columns are the record's own (schemas/arrow.py)."""
    import pyarrow as pa

    s, f = pa.string(), pa.float64()
    return {
        "rm": [("id", s), ("source_id", s), ("group", s), ("source", s), ("prompt", msgs), ("chosen", msgs),
               ("rejected", msgs), ("chosen_score", f), ("rejected_score", f), ("margin", f)],
    }  # fmt: skip


def _messages(ms: list[Any]) -> list[dict[str, str]]:
    return [m.model_dump() for m in ms]


def rm_row(p: PreferencePair) -> Row:
    return {
        "id": p.id.replace("pref-", "rm-", 1),
        "source_id": p.id,
        "group": p.group,
        "source": p.kind,
        "prompt": _messages(p.prompt),
        "chosen": _messages(p.chosen),
        "rejected": _messages(p.rejected),
        "chosen_score": p.chosen_score,
        "rejected_score": p.rejected_score,
        "margin": round(p.margin, 3),
    }


def preference_record_row(p: PreferencePair) -> Row:
    """The whole record as nested typed columns, like the other full-record configs."""
    from schemas.arrow import encode_record

    return {**encode_record(p), "group": p.group}


def rm_rows(tables: dict[str, dict[str, Any]]) -> dict[str, list[Row]]:
    """The `rm` and `preferences` rows of the merged records (empty lists without preference records)."""
    prefs: list[PreferencePair] = sorted(tables.get("preferences", {}).values(), key=lambda p: p.id)
    return {"rm": [rm_row(p) for p in prefs], "preferences": [preference_record_row(p) for p in prefs]}
