"""Training views of problems and reasoning traces: SFT, DPO and RL records in the shapes TRL reads.

- SFT: the question → `## Thinking` (the verified path as natural thinking) + `## Final Response`. Only
  verified traces; a label-hinted trace (the fallback, off by default) only when `label_hinted=True` is asked
  for, and its id says so.
- DPO: for a problem whose search failed before it succeeded, the verified chain (chosen) against a failed
  chain of the same problem (rejected), one pair per distinct wrong conclusion. Both sides are rendered the
  same way from the raw chains (thinking steps, then the conclusion; the chosen path keeps its wrong turns
  and how it left them) so the pair differs in correctness, not in style: the reformatted natural text
  exists only for the verified side.
- RL: the question and its ground truth (and aliases) for verifier-reward training; every kept problem.

`write_views(out)` rebuilds views/{sft,dpo,rl}.jsonl of an output folder from its records (atomically).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from schemas.common import Record, content_id
from schemas.problem import ReasoningTrace, SearchStep, VerifiableProblem
from schemas.views import DPOExample, Message, RLExample, SFTExample

THINKING = "## Thinking"
FINAL = "## Final Response"


def thinking_response(thinking: str, response: str) -> str:
    return f"{THINKING}\n\n{thinking.strip()}\n\n{FINAL}\n\n{response.strip()}"


def _chain_text(steps: list[SearchStep]) -> str:
    """A path's steps as paragraphs; a wrong conclusion on the way is kept, with the turn away from it."""
    parts: list[str] = []
    for i, s in enumerate(steps):
        parts += s.thinking
        if i < len(steps) - 1:
            parts.append(
                f"So the answer would be {s.conclusion}. But that does not hold up; let me reconsider."
            )
    return "\n\n".join(parts)


def sft_example(trace: ReasoningTrace, *, label_hinted: bool = False) -> SFTExample | None:
    if not trace.success or trace.natural_thinking is None or trace.final_response is None:
        return None
    if trace.label_hinted and not label_hinted:
        return None
    return SFTExample(
        id=content_id("sft-hinted" if trace.label_hinted else "sft", trace.id),
        source_id=trace.id,
        group=trace.problem_id,
        messages=[
            Message(role="user", content=trace.question),
            Message(
                role="assistant", content=thinking_response(trace.natural_thinking, trace.final_response)
            ),
        ],
    )


def dpo_examples(trace: ReasoningTrace, max_pairs: int = 2) -> list[DPOExample]:
    """Verified vs failed chains of one problem (a label-hinted success is never a `chosen`)."""
    if not trace.success or trace.label_hinted:
        return []
    verified_at = max(i for i, s in enumerate(trace.steps) if s.verdict == "true")
    verified = trace.steps[verified_at]
    path = [s for s in trace.steps[: verified_at + 1] if s.attempt == verified.attempt]
    chosen = thinking_response(_chain_text(path), verified.conclusion)
    prompt = [Message(role="user", content=trace.question)]
    out: list[DPOExample] = []
    seen: set[str] = set()
    for s in trace.steps:
        if s.verdict != "false" or s.conclusion.strip().lower() in seen:
            continue
        seen.add(s.conclusion.strip().lower())
        rejected = thinking_response(_chain_text([s]), s.conclusion)
        out.append(
            DPOExample(
                id=content_id("dpo", trace.id, s.attempt, s.iteration),
                group=trace.problem_id,
                prompt=prompt,
                chosen=[Message(role="assistant", content=chosen)],
                rejected=[Message(role="assistant", content=rejected)],
            )
        )
        if len(out) >= max_pairs:
            break
    return out


def rl_example(problem: VerifiableProblem) -> RLExample:
    return RLExample(
        id=content_id("rl", problem.id),
        group=problem.id,
        prompt=[Message(role="user", content=problem.question)],
        answer=problem.ground_truth,
        aliases=problem.aliases,
    )


def _write_jsonl(path: Path, records: Iterable[Record]) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(r.model_dump_json() + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def write_views(out: Path, *, label_hinted: bool = False) -> dict[str, int]:
    """views/{sft,dpo,rl}.jsonl from the output folder's problems and reasoning tables; returns the counts."""
    from synth.store.shards import iter_records

    problems = {p.id: p for p in iter_records(out, "problems", VerifiableProblem)}
    traces = {t.id: t for t in iter_records(out, "reasoning", ReasoningTrace)}
    ordered = sorted(traces.values(), key=lambda t: t.id)
    sft = [e for t in ordered if (e := sft_example(t, label_hinted=label_hinted)) is not None]
    dpo = [e for t in ordered for e in dpo_examples(t)]
    rl = [rl_example(problems[k]) for k in sorted(problems)]
    d = out / "views"
    d.mkdir(parents=True, exist_ok=True)
    return {
        "sft": _write_jsonl(d / "sft.jsonl", sft),
        "dpo": _write_jsonl(d / "dpo.jsonl", dpo),
        "rl": _write_jsonl(d / "rl.jsonl", rl),
    }
