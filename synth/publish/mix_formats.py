"""External rows in the formats people publish, turned into the `sft` and `dpo` views' messages.

Every reader takes one parsed row (a dict) and returns messages, or raises `BadRow` with a reason that names
the field at fault (never the row's text: the ledger must not copy what the scrubber has not seen yet).

SFT formats:
- `sharegpt`: {"conversations": [{"from": "human" | "gpt" | "system", "value": ...}]}
- `messages`: TRL's {"messages": [{"role": "system" | "user" | "assistant", "content": ...}]}
- `prompt_completion`: {"prompt": text or messages, "completion": text or messages}
- `qa`: {"question", "answer"}, {"instruction", "input"?, "output"} or {"query", "response"}
- `medqa`: {"question", "options": {"A": ..} or [{"key", "value"}], "answer_idx", "answer"?, "context"?}
  (MedQA, and MediQ's records, which add the vignette as `context` sentences)
- `medmcqa`: {"question", "opa".."opd", "cop", "exp"?}; `cop` is 0-based in some copies and 1-based in
  others, so the base is decided per source (mix.py), never per row.

DPO format: TRL's preference rows, {"prompt", "chosen", "rejected"} with text or messages, or the implicit-
prompt form (chosen and rejected full conversations; their common leading messages become the prompt).

An MCQ whose answer letter is not among its options, or whose `answer` text contradicts the option the
letter names, is a bad row: a training target of uncertain correctness is left out, not guessed.
"""

from __future__ import annotations

from typing import Any

Msgs = list[dict[str, str]]

SFT_FORMATS = ("sharegpt", "messages", "prompt_completion", "qa", "medqa", "medmcqa")
DPO_FORMATS = ("preference",)
FORMATS = SFT_FORMATS + DPO_FORMATS

_SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "model": "assistant", "bot": "assistant", "system": "system",
}  # fmt: skip
_ROLES = ("system", "user", "assistant")
_QA_KEYS = (("question", "answer"), ("instruction", "output"), ("query", "response"))
MCQ_PROMPT = "Answer the following multiple-choice question."


class BadRow(ValueError):
    """A row that cannot become a view row; the message is the reason for the ledger."""


def detect(row: dict[str, Any]) -> str:
    """The format of one row, by its keys (most specific first)."""
    if "chosen" in row and "rejected" in row:
        return "preference"
    if "conversations" in row:
        return "sharegpt"
    if "messages" in row:
        return "messages"
    if "options" in row and "answer_idx" in row:
        return "medqa"
    if all(k in row for k in ("opa", "opb", "cop")):
        return "medmcqa"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    if any(q in row and a in row for q, a in _QA_KEYS):
        return "qa"
    raise BadRow(f"unknown_format: no known field set (keys: {', '.join(sorted(map(str, row))[:12])})")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadRow(f"wrong_type: {what}: expected text, got {type(value).__name__}")
    if not value.strip():
        raise BadRow(f"empty: {what}")
    return value.strip()


def _messages(value: Any, what: str, role_key: str = "role", text_key: str = "content",
              roles: dict[str, str] | None = None) -> Msgs:  # fmt: skip
    if not isinstance(value, list) or not value:
        raise BadRow(f"wrong_type: {what}: expected a non-empty list of messages")
    out: Msgs = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            raise BadRow(f"wrong_type: {what}[{i}]: expected an object")
        raw_role = m.get(role_key)
        role = (roles or {r: r for r in _ROLES}).get(str(raw_role).lower()) if raw_role is not None else None
        if role is None:
            raise BadRow(f"bad_role: {what}[{i}].{role_key} = {raw_role!r}")
        out.append({"role": role, "content": _text(m.get(text_key), f"{what}[{i}].{text_key}")})
    return out


def _conversation(msgs: Msgs, what: str) -> Msgs:
    """An SFT conversation: a user turn before the first assistant turn, and it ends on the assistant."""
    if msgs[-1]["role"] != "assistant":
        raise BadRow(f"structure: {what}: the last message is not the assistant's")
    first_assistant = next(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    if not any(m["role"] == "user" for m in msgs[:first_assistant]):
        raise BadRow(f"structure: {what}: no user message before the first assistant message")
    if any(m["role"] == "system" for m in msgs[1:]):
        raise BadRow(f"structure: {what}: a system message after the first message")
    return msgs


def _side(value: Any, what: str, role: str) -> Msgs:
    """Text (one message of `role`) or a list of messages."""
    if isinstance(value, str):
        return [{"role": role, "content": _text(value, what)}]
    return _messages(value, what)


def _letter_options(options: Any) -> dict[str, str]:
    if isinstance(options, list):  # the bigbio / HF shape: [{"key": "A", "value": ...}]
        try:
            options = {str(o["key"]): o["value"] for o in options}
        except (TypeError, KeyError):
            raise BadRow("wrong_type: options: expected {letter: text} or [{key, value}]") from None
    if not isinstance(options, dict) or len(options) < 2:
        raise BadRow("wrong_type: options: expected at least two lettered options")
    return {str(k).strip().upper(): _text(v, f"options.{k}") for k, v in options.items()}


def _mcq(question: str, context: str, options: dict[str, str], key: str, explanation: str) -> Msgs:
    lines = [context, question] if context else [question]
    lines += [f"{k}. {v}" for k, v in sorted(options.items())]
    answer = f"The answer is {key}. {options[key]}"
    if explanation:
        answer = f"{explanation}\n\n{answer}"
    return [{"role": "user", "content": MCQ_PROMPT + "\n\n" + "\n".join(lines)},
            {"role": "assistant", "content": answer}]  # fmt: skip


def medqa(row: dict[str, Any]) -> Msgs:
    question = _text(row.get("question"), "question")
    options = _letter_options(row.get("options"))
    key = str(row.get("answer_idx", "")).strip().upper()
    if key not in options:
        raise BadRow(f"bad_answer: answer_idx {row.get('answer_idx')!r} is not one of {sorted(options)}")
    answer = row.get("answer")
    if (
        isinstance(answer, str)
        and answer.strip()
        and " ".join(answer.split()).lower() != " ".join(options[key].split()).lower()
    ):
        raise BadRow(f"bad_answer: answer does not match option {key}")
    ctx = row.get("context")
    if isinstance(ctx, list):
        context = " ".join(_text(s, "context[]") for s in ctx)
    else:
        context = ctx.strip() if isinstance(ctx, str) else ""
    exp = row.get("explanation")
    return _mcq(question, context, options, key, exp.strip() if isinstance(exp, str) else "")


def medmcqa(row: dict[str, Any], cop_base: int) -> Msgs:
    question = _text(row.get("question"), "question")
    letters = "ABCD"
    options = {
        letters[i]: _text(row.get(f"op{c}"), f"op{c}") for i, c in enumerate("abcd") if f"op{c}" in row
    }
    cop = row.get("cop")
    if isinstance(cop, bool) or not isinstance(cop, int) or not 0 <= cop - cop_base < len(options):
        raise BadRow(f"bad_answer: cop {cop!r} is not an option index (base {cop_base})")
    exp = row.get("exp")
    return _mcq(question, "", options, letters[cop - cop_base], exp.strip() if isinstance(exp, str) else "")


def sft_messages(row: dict[str, Any], fmt: str, cop_base: int | None = None) -> Msgs:
    """One row of an SFT format as a conversation (raises `BadRow`)."""
    if fmt == "sharegpt":
        msgs = _messages(row.get("conversations"), "conversations", "from", "value", _SHAREGPT_ROLES)
        return _conversation(msgs, "conversations")
    if fmt == "messages":
        return _conversation(_messages(row.get("messages"), "messages"), "messages")
    if fmt == "prompt_completion":
        msgs = _side(row.get("prompt"), "prompt", "user") + _side(
            row.get("completion"), "completion", "assistant"
        )
        return _conversation(msgs, "prompt + completion")
    if fmt == "qa":
        for q, a in _QA_KEYS:
            if q in row and a in row:
                question = _text(row[q], q)
                extra = row.get("input") if q == "instruction" else None
                if isinstance(extra, str) and extra.strip():
                    question = f"{question}\n\n{extra.strip()}"
                return [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": _text(row[a], a)},
                ]
        raise BadRow("missing_field: no question/answer, instruction/output or query/response pair")
    if fmt == "medqa":
        return medqa(row)
    if fmt == "medmcqa":
        if cop_base is None:
            raise BadRow("bad_answer: the source's cop base is unknown")
        return medmcqa(row, cop_base)
    raise BadRow(f"wrong_view: a {fmt} row cannot go into the sft view")


def dpo_messages(row: dict[str, Any]) -> tuple[Msgs, Msgs, Msgs]:
    """(prompt, chosen, rejected) of a TRL preference row, explicit or implicit prompt (raises `BadRow`)."""
    if "prompt" in row:
        prompt = _side(row.get("prompt"), "prompt", "user")
        chosen = _side(row.get("chosen"), "chosen", "assistant")
        rejected = _side(row.get("rejected"), "rejected", "assistant")
    else:
        full_c = _messages(row.get("chosen"), "chosen")
        full_r = _messages(row.get("rejected"), "rejected")
        n = 0
        while n < min(len(full_c), len(full_r)) - 1 and full_c[n] == full_r[n]:
            n += 1
        prompt, chosen, rejected = full_c[:n], full_c[n:], full_r[n:]
        if not prompt:
            raise BadRow("structure: implicit prompt: chosen and rejected share no leading messages")
    if prompt[-1]["role"] != "user" or not any(m["role"] == "user" for m in prompt):
        raise BadRow("structure: prompt: does not end on a user message")
    for name, side in (("chosen", chosen), ("rejected", rejected)):
        if any(m["role"] != "assistant" for m in side):
            raise BadRow(f"structure: {name}: holds a non-assistant message")
    if chosen == rejected:
        raise BadRow("structure: chosen and rejected are the same")
    return prompt, chosen, rejected


def medmcqa_cop_base(cops: list[Any]) -> int | None:
    """0 or 1 from a source's `cop` values: a 0 means 0-based, a 4 means 1-based (4 options); both or
    neither leaves it undecided (None) and the source must say `cop_base:`."""
    values = {c for c in cops if isinstance(c, int) and not isinstance(c, bool)}
    zero, four = 0 in values, 4 in values
    if zero == four:
        return None
    return 0 if zero else 1
