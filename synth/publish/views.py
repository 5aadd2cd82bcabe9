"""Rows of every published config, built from the records: `sft`, `dpo`, `rl` and the full-record configs.

Consultations become conversations with a fixed system prompt: what the doctor heard (the patient's words,
examination and test results, the director's notes — consecutive ones joined into one `user` message, as the
doctor heard them when the consultation was generated) as `user`, the doctor's turns as `assistant`. The
doctor's private reasoning and DDx snapshot of a turn are either kept inside a delimited block before the
visible text (`<reasoning>…</reasoning>`) or dropped (`PublishOptions.reasoning`).

- SFT: consultations whose diagnosis was judged correct (all with `all_consultations`), and verified reasoning
  traces as `## Thinking` / `## Final Response` (synth.problems.views).
- DPO: for a case with a consultation that converges on the truth (correct, and the truth was in its
  differential before the final turn: no lucky guess) and one that closes early on a wrong diagnosis (the
  doctor's own final diagnosis, incorrect, made before every key fact was elicited or in fewer doctor turns
  than the converging one): prompt = the converging consultation up to its doctor turn k, where k is the
  doctor turn at which the other closed (or its own final turn, if sooner); chosen = its turn k (going on
  with the work-up, or its correct final diagnosis); rejected = the early wrong final diagnosis. Records
  without a per-turn evaluation (schema 1.0) pair as before: any correct final against any incorrect one, at
  the correct one's final turn. The rejected turn was written after a different conversation of the same
  case, so with `reasoning: keep` its reasoning may cite what this prompt does not contain; `reasoning: drop`
  compares the visible turns alone. Problems: verified vs failed chains of one problem (synth.problems.views).
- RL: every problem's question and ground truth (synth.problems.views).

Every row carries `group` (case id or problem id): the split is decided by the group (splits.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from schemas.case import CaseCard
from schemas.common import content_id
from schemas.consultation import Consultation, Turn
from schemas.problem import ReasoningTrace, VerifiableProblem
from synth.labels import add_label_columns
from synth.problems.views import dpo_examples, rl_example, sft_example
from synth.publish.options import PublishOptions
from synth.publish.rm import rm_rows

Row = dict[str, Any]

SYSTEM_PROMPT = (
    "You are a careful physician seeing a new patient. Find the diagnosis by asking questions one at a time "
    "and requesting examinations or tests, as in a real consultation. You see only what the patient says and "
    "the results you ask for. When you are confident, give your final diagnosis."
)
SYSTEM_PROMPT_REASONING = (
    SYSTEM_PROMPT + " Before each reply, think privately inside <reasoning>...</reasoning>: what you know so "
    "far, your differential with probabilities, and what to find out next."
)


def _msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def _visible(turn: Turn, c: Consultation, final_turn: int | None) -> str:
    if turn.act == "request_test":
        text = f"I would like these examinations or tests: {turn.text}"
    elif turn.act == "final_diagnosis":
        text = f"Final diagnosis: {turn.text}"
        if turn.index == final_turn and c.final is not None and c.final.plan:
            text += f"\nPlan: {c.final.plan}"
    else:
        text = turn.text
    return text


def doctor_message(turn: Turn, c: Consultation, reasoning: str, final_turn: int | None) -> str:
    """A doctor turn as the assistant's text, the reasoning block first when kept."""
    text = _visible(turn, c, final_turn)
    if reasoning == "drop" or (not turn.reasoning and not turn.ddx):
        return text
    block = [turn.reasoning.strip()] if turn.reasoning else []
    if turn.ddx:
        block.append("Differential: " + "; ".join(f"{d.diagnosis} ({d.probability:.2f})" for d in turn.ddx))
    return "<reasoning>\n" + "\n".join(block) + "\n</reasoning>\n\n" + text


def _heard(turn: Turn) -> str:
    if turn.speaker == "patient":
        return f"Patient: {turn.text}"
    if turn.speaker == "examiner":
        return f"Results:\n{turn.text}"
    return turn.text if turn.text.startswith("Note:") else f"Note: {turn.text}"


def final_turn_index(c: Consultation) -> int | None:
    """Position in `c.turns` of the doctor's last final-diagnosis turn (the one that ended it)."""
    for i in range(len(c.turns) - 1, -1, -1):
        t = c.turns[i]
        if t.speaker == "doctor" and t.act == "final_diagnosis":
            return i
    return None


def consultation_messages(c: Consultation, reasoning: str, upto: int | None = None) -> list[dict[str, str]]:
    """System prompt, then user/assistant messages for turns[:upto]; trailing non-doctor turns are dropped."""
    fin = final_turn_index(c)
    final_index = c.turns[fin].index if fin is not None else None
    system = SYSTEM_PROMPT_REASONING if reasoning == "keep" else SYSTEM_PROMPT
    out = [_msg("system", system)]
    heard: list[str] = []
    for t in c.turns[:upto]:
        if t.speaker == "doctor":
            if heard:
                out.append(_msg("user", "\n\n".join(heard)))
                heard = []
            out.append(_msg("assistant", doctor_message(t, c, reasoning, final_index)))
        else:
            heard.append(_heard(t))
    if upto is not None and heard:  # a prompt ends on what the doctor just heard
        out.append(_msg("user", "\n\n".join(heard)))
    return out


def consultation_sft(c: Consultation, opts: PublishOptions) -> Row | None:
    if c.evaluation.correct is not True and not opts.all_consultations:
        return None
    messages = consultation_messages(c, opts.reasoning)
    if not any(m["role"] == "user" for m in messages) or messages[-1]["role"] != "assistant":
        return None
    return {
        "id": content_id("sft-consult", c.id),
        "source_id": c.id,
        "group": c.case_id,
        "source": "consultation",
        "messages": messages,
    }


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def _evaluated(c: Consultation) -> bool:
    return bool(c.evaluation.per_turn)


def _doctor_positions(c: Consultation) -> list[int]:
    """Positions in `c.turns` of the doctor turns, in order (doctor turn k is at [k - 1])."""
    return [i for i, t in enumerate(c.turns) if t.speaker == "doctor"]


def converges(c: Consultation) -> bool:
    """Correct, with a final turn, and (when evaluated per turn) not a lucky guess."""
    if c.evaluation.correct is not True or final_turn_index(c) is None:
        return False
    return not _evaluated(c) or c.evaluation.lucky_guess is False


def closes_early(b: Consultation, g: Consultation) -> bool:
    """Incorrect, with a final turn, and (when evaluated per turn) the doctor's own early closure."""
    if b.evaluation.correct is not False or final_turn_index(b) is None:
        return False
    if not _evaluated(b):
        return True
    return b.termination.reason == "final_diagnosis" and (
        b.evaluation.premature_closure is True or b.doctor_turns < g.doctor_turns
    )


def consultation_dpo(consultations: list[Consultation], opts: PublishOptions) -> list[Row]:
    """Converging vs early wrong closures of consultations over the same case (module docstring)."""
    by_case: dict[str, list[Consultation]] = defaultdict(list)
    for c in consultations:
        by_case[c.case_id].append(c)
    rows: list[Row] = []
    for case_id in sorted(by_case):
        group = sorted(by_case[case_id], key=lambda c: c.id)
        for g in (c for c in group if converges(c)):
            g_final = final_turn_index(g)
            assert g_final is not None
            g_doctor = _doctor_positions(g)
            g_final_k = g_doctor.index(g_final) + 1
            pairs = 0
            for b in group:
                if b is g or not closes_early(b, g):
                    continue
                bi = final_turn_index(b)
                assert bi is not None
                b_turn = b.turns[bi]
                # At the depth where the other closed, unless this one finished first; 1.0 records: its final.
                k = min(_doctor_positions(b).index(bi) + 1, g_final_k) if _evaluated(b) else g_final_k
                gi = g_doctor[k - 1]
                g_turn = g.turns[gi]
                prompt = consultation_messages(g, opts.reasoning, upto=gi)
                if prompt[-1]["role"] != "user" or _norm(b_turn.text) == _norm(g_turn.text):
                    continue
                rows.append(
                    {
                        "id": content_id("dpo-consult", g.id, b.id),
                        "source_id": g.id,
                        "group": case_id,
                        "source": "consultation",
                        "prompt": prompt,
                        "chosen": [
                            _msg(
                                "assistant", doctor_message(g_turn, g, opts.reasoning, g.turns[g_final].index)
                            )
                        ],
                        "rejected": [
                            _msg("assistant", doctor_message(b_turn, b, opts.reasoning, b_turn.index))
                        ],
                    }
                )
                pairs += 1
                if pairs >= opts.dpo_max_pairs:
                    break
    return rows


def _messages(ms: list[Any]) -> list[dict[str, str]]:
    return [m.model_dump() for m in ms]


def problem_rows(
    problems: list[VerifiableProblem], traces: list[ReasoningTrace], opts: PublishOptions
) -> tuple[list[Row], list[Row], list[Row]]:
    """SFT, DPO and RL rows of problems and traces, built by synth.problems.views."""
    sft: list[Row] = []
    dpo: list[Row] = []
    for t in traces:
        e = sft_example(t, label_hinted=opts.label_hinted)
        if e is not None:
            sft.append(
                {"id": e.id, "source_id": e.source_id, "group": e.group, "source": "problem",
                 "messages": _messages(e.messages)}
            )  # fmt: skip
        for d in dpo_examples(t, max_pairs=opts.dpo_max_pairs):
            dpo.append(
                {"id": d.id, "source_id": t.id, "group": d.group, "source": "problem",
                 "prompt": _messages(d.prompt), "chosen": _messages(d.chosen),
                 "rejected": _messages(d.rejected)}
            )  # fmt: skip
    rl = []
    for p in problems:
        r = rl_example(p)
        rl.append(
            {"id": r.id, "source_id": p.id, "group": r.group, "source": "problem",
             "prompt": _messages(r.prompt), "answer": r.answer, "aliases": list(r.aliases)}
        )  # fmt: skip
    return sft, dpo, rl


def _teacher_models(provenance: Any) -> list[str]:
    if provenance is None:
        return []
    return sorted({f"{c.backend}:{c.model}" for c in provenance.calls})


def record_row(table: str, r: Any) -> Row:
    """One full-record row: the record's fields as nested typed columns, plus flat convenience columns."""
    from schemas.arrow import encode_record

    row = encode_record(r)
    tm = _teacher_models(r.provenance)
    if table == "consultations":
        flat = {"correct": r.evaluation.correct, "final_diagnosis": r.final.diagnosis if r.final else None,
                "termination_reason": r.termination.reason, "n_turns": len(r.turns), "teacher_models": tm}  # fmt: skip
    elif table == "problems":
        flat = {"source_dataset": r.source.dataset if r.source else None, "teacher_models": tm}
    elif table == "reasoning":
        flat = {"n_steps": len(r.steps), "teacher_models": tm}
    elif table == "cases":
        flat = {"diagnosis": r.answer.diagnosis, "source_dataset": r.source.dataset,
                "source_licence": r.source.licence, "teacher_models": tm}  # fmt: skip
    else:
        raise ValueError(f"unknown table {table!r}")
    return {**row, **flat}


def group_of(table: str, r: Any) -> str:
    """The split group of a full record: its case (cases, consultations) or its problem."""
    return {
        "cases": lambda: r.id,
        "consultations": lambda: r.case_id,
        "problems": lambda: r.id,
        "reasoning": lambda: r.problem_id,
    }[table]()


def build_rows(tables: dict[str, dict[str, Any]], opts: PublishOptions) -> dict[str, list[Row]]:
    """Every config's rows (each with a `group` for the split), ids sorted, from the merged records."""
    consultations: list[Consultation] = sorted(tables.get("consultations", {}).values(), key=lambda c: c.id)
    problems: list[VerifiableProblem] = sorted(tables.get("problems", {}).values(), key=lambda p: p.id)
    traces: list[ReasoningTrace] = sorted(tables.get("reasoning", {}).values(), key=lambda t: t.id)
    cases: list[CaseCard] = sorted(tables.get("cases", {}).values(), key=lambda c: c.id)
    c_sft = [row for c in consultations if (row := consultation_sft(c, opts)) is not None]
    p_sft, p_dpo, rl = problem_rows(problems, traces, opts)
    out: dict[str, list[Row]] = {
        "sft": c_sft + p_sft,
        "dpo": consultation_dpo(consultations, opts) + p_dpo,
        "rl": rl,
    }
    for table, recs in (
        ("consultations", consultations), ("problems", problems), ("reasoning", traces), ("cases", cases),
    ):  # fmt: skip
        out[table] = [{**record_row(table, r), "group": group_of(table, r)} for r in recs]
    out.update(rm_rows(tables))  # judged preference pairs (rm.py)
    add_label_columns(out, tables)  # specialty / sub-specialty of every view row (synth/labels.py)
    for name, rows in out.items():
        rows.sort(key=lambda x: x["id"])
        ids = [x["id"] for x in rows]
        assert len(ids) == len(set(ids)), f"{name}: duplicate ids"
    return out
