"""`train eval RECIPE.yaml`: MCQ accuracy, open-ended accuracy with the verifier, held-out perplexity,
consultation replay; with `ttt:` the first three again with test-time training, side by side.

- mcq: the question and lettered options; the answer letter is read from the `## Final Response` section
  when there is one (`extract_letter`: "E", "(E)", "E. Aortic stenosis", "the answer is E", or the text of
  exactly one option), else from the whole reply.
- open_ended: the rl view's question; the final response is verified against the ground truth and aliases
  by the generator's lexical matcher (schemas/matching) — accuracy counts "true" only, unsure is reported.
- perplexity: exp(mean NLL) of the assistant tokens of held-out conversations (the sft view).
- replay: the model plays the doctor over held-out cases against the generator's patient and examiner
  (train/replay.py, the only part that imports synth).
Results: OUT/eval_results.json (metrics and every item) and a table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from schemas.arrow import decode_row
from schemas.matching import verify_answer_lexical
from schemas.problem import VerifiableProblem
from train.common import seed_everything
from train.data import load_split
from train.lm import ConversationEncoder, Messages, generate, nll, perplexity, with_system
from train.models import load_model, load_tokenizer
from train.recipe import EvalRecipe, GenerationSpec, MCQTask
from train.reward import parse_response
from train.ttt import NeighbourIndex, TestTimeTrainer, load_text_embedder, query_text

# ------------------------------------------------------------------------------------------- MCQs

_LINE_LETTER = re.compile(r"^\s*\(?([A-J])\)?\s*(?:[.):\-]|$)", re.IGNORECASE | re.MULTILINE)
_COMMIT_PATTERNS = [
    re.compile(r"\b(?:answer|option|choice)\s*(?:is|:)?\s*(?:option\s*)?\(?([A-J])\)?(?![A-Za-z])", re.I),
    re.compile(r"\*\*\(?([A-J])\)?[.):]?\*\*"),  # "**E**"
]


def extract_letter(text: str, options: dict[str, str]) -> str | None:
    """The option letter a reply commits to, or None; the final response section is read first.

    A letter at the start of a line counts only when it is the only one (a reply that lists the options
    "A. … B. …" commits to none of them); then "the answer is E" / "**E**"; then the text of exactly one option.
    """
    parsed = parse_response(text)
    for part in [parsed.final, text] if parsed.final else [text]:
        starts = {m.group(1).upper() for m in _LINE_LETTER.finditer(part)} & options.keys()
        if len(starts) == 1:
            return starts.pop()
        for pattern in _COMMIT_PATTERNS:
            found = {m.group(1).upper() for m in pattern.finditer(part)} & options.keys()
            if len(found) == 1:
                return found.pop()
        matched = [k for k, v in options.items() if verify_answer_lexical(part, v).verdict == "true"]
        if len(matched) == 1:
            return matched[0]
    return None


def _options(row: dict[str, Any]) -> dict[str, str]:
    opts = row.get("options")
    if isinstance(opts, dict):
        return {str(k).strip().upper(): str(v) for k, v in opts.items() if v is not None}
    if isinstance(opts, list) and opts and isinstance(opts[0], dict):  # [{"key": "A", "value": ...}]
        return {str(o["key"]).strip().upper(): str(o["value"]) for o in opts}
    return {k.upper(): str(row[f"op{k}"]) for k in "abcdefgh" if row.get(f"op{k}") is not None}  # MedMCQA


def mcq_items(task: MCQTask) -> tuple[list[dict[str, Any]], list[str]]:
    """(question, options, answer letter) per usable row, and a reason for every row that is not."""
    is_file = Path(task.data.dataset).is_file()
    ds = load_split(task.data, "mcq" if is_file else "problems")
    items, skipped = [], []
    for n, row in enumerate(ds, start=1):
        group = None  # a published problem's id: TTT never trains on the problem's own conversations
        specialty = row.get("specialty") or row.get("subject_name")  # a labelled file, or MedMCQA's subject
        if not is_file:  # a published problems config: the source MCQ is inside the record
            group = row["id"]
            problem = decode_row(VerifiableProblem, row)
            source = problem.source.model_dump() if problem.source else None
            if not source:
                skipped.append(f"row {n}: problem {row['id']} has no source MCQ")
                continue
            row = source
        opts = _options(row)
        raw = row.get("answer_idx")
        letter = str(raw if raw is not None else row.get("cop", "")).strip().upper()
        if letter.isdigit() and row.get("cop") is not None:  # MedMCQA: cop 1..4 (0 only in 0-based copies)
            letter = "ABCDEFGH"[max(int(letter) - 1, 0)]
        if not row.get(task.field_question) or len(opts) < 2 or letter not in opts:
            skipped.append(
                f"row {n}: needs {task.field_question!r}, two or more options and answer_idx among them"
            )
            continue
        items.append({"id": row.get("id", str(n)), "question": row[task.field_question], "options": opts,
                      "answer": letter, "group": group, "specialty": specialty})  # fmt: skip
    return items, skipped


def mcq_prompt(item: dict[str, Any]) -> Messages:
    lines = [item["question"].strip(), ""] + [f"{k}. {v}" for k, v in sorted(item["options"].items())]
    lines += ["", "Answer with the letter of the correct option."]
    return [{"role": "user", "content": "\n".join(lines)}]


# ------------------------------------------------------------------------------------------ scoring


def by_specialty(labels: list[Any], right: list[bool]) -> dict[str, dict[str, Any]]:
    """Accuracy per specialty label (rows without one under 'unlabelled'), for a curriculum's report."""
    groups: dict[str, list[bool]] = {}
    for label, ok in zip(labels, right, strict=True):
        groups.setdefault(str(label) if label else "unlabelled", []).append(ok)
    return {k: {"n": len(v), "accuracy": sum(v) / len(v)} for k, v in sorted(groups.items())}


def score_mcq(items: list[dict[str, Any]], replies: list[str]) -> dict[str, Any]:
    got = [extract_letter(r, it["options"]) for it, r in zip(items, replies, strict=True)]
    oks = [g == it["answer"] for g, it in zip(got, items, strict=True)]
    right = sum(oks)
    return {"n": len(items), "accuracy": right / len(items), "no_letter": sum(g is None for g in got),
            "by_specialty": by_specialty([it.get("specialty") for it in items], oks),
            "items": [{"id": it["id"], "answer": it["answer"], "extracted": g, "reply": r}
                      for it, g, r in zip(items, got, replies, strict=True)]}  # fmt: skip


def score_open(rows: list[dict[str, Any]], replies: list[str]) -> dict[str, Any]:
    items, verdicts = [], []
    for row, reply in zip(rows, replies, strict=True):
        parsed = parse_response(reply)
        v = verify_answer_lexical(parsed.final or reply, row["answer"], row.get("aliases") or [])
        verdicts.append((v.verdict, parsed.formatted))
        items.append({"id": row.get("id"), "answer": row["answer"], "verdict": v.verdict, "reason": v.reason,
                      "formatted": parsed.formatted, "reply": reply})  # fmt: skip
    n = len(rows)
    oks = [v == "true" for v, _ in verdicts]
    return {"n": n, "accuracy": sum(oks) / n, "by_specialty": by_specialty([r.get("specialty") for r in rows], oks),
            "unsure": sum(v == "unsure" for v, _ in verdicts) / n,
            "formatted": sum(f for _, f in verdicts) / n, "items": items}  # fmt: skip


# ----------------------------------------------------------------------------------------- the method


class _Scorer:
    """Runs each task once on the model as it is, and once per item under TTT when a trainer is given."""

    def __init__(self, model: Any, tok: Any, encoder: ConversationEncoder, gen: GenerationSpec):
        self.model, self.tok, self.encoder, self.gen = model, tok, encoder, gen

    def replies(
        self, prompts: list[Messages], ttt: Any = None, hits: Any = None, bank: Any = None
    ) -> list[str]:
        prompts = [with_system(p, self.gen) for p in prompts]
        if ttt is None:
            return generate(self.model, self.tok, prompts, self.gen)
        out = []
        for p, nbrs in zip(prompts, hits, strict=True):
            with ttt.adapted([bank[j] for j, _ in nbrs]):
                out += generate(ttt.model, self.tok, [p], self.gen)
        return out

    def nll(self, convs: list[Messages], ttt: Any = None, hits: Any = None, bank: Any = None) -> list[Any]:
        encs = [self.encoder.encode(c) for c in convs]
        pad = self.tok.pad_token_id
        if ttt is None:
            return nll(self.model, encs, pad)
        out = []
        for e, nbrs in zip(encs, hits, strict=True):
            with ttt.adapted([bank[j] for j, _ in nbrs]):
                out += nll(ttt.model, [e], pad)
        return out


def run_eval(recipe: EvalRecipe) -> dict[str, Any]:
    seed_everything(recipe.seed)
    tasks = recipe.tasks
    # Every dataset is loaded and checked before the model.
    ppl_ds = load_split(tasks.perplexity.data, "sft") if tasks.perplexity else None
    mcq, mcq_skipped = mcq_items(tasks.mcq) if tasks.mcq else ([], [])
    open_rows = list(load_split(tasks.open_ended.data, "rl")) if tasks.open_ended else []
    bank_ds = load_split(recipe.ttt.index, "sft") if recipe.ttt else None
    results: dict[str, Any] = {"model": recipe.model.name, "base": {}, "ttt": {}}
    if tasks.reward is not None:
        from train.reward_model import evaluate_reward_task

        t = tasks.reward
        results["base"]["reward"] = evaluate_reward_task(t.model or recipe.model, t.data, t.max_length)
        if not (
            ppl_ds is not None or mcq or open_rows or tasks.replay
        ):  # a reward model alone: no LM to load
            return _write(recipe, results, None)
    tok = load_tokenizer(recipe.model)
    encoder = ConversationEncoder(tok, recipe.model.name)
    model = load_model(recipe.model)
    if mcq_skipped:
        results["mcq_skipped"] = mcq_skipped

    ttt = index = bank = None
    if recipe.ttt is not None and bank_ds is not None:
        bank = list(bank_ds["messages"])
        groups = list(bank_ds["group"]) if "group" in bank_ds.column_names else [None] * len(bank)
        index = NeighbourIndex([query_text(m) for m in bank], groups, load_text_embedder(recipe.ttt.embedder))
        ttt = TestTimeTrainer(
            model, ConversationEncoder(tok, recipe.model.name, recipe.ttt.max_length), recipe.ttt
        )
        model = ttt.model
    scorer = _Scorer(model, tok, encoder, recipe.generation)

    def hits_for(texts: list[str], groups: list[Any]) -> Any:
        assert index is not None and recipe.ttt is not None
        return index.search(texts, groups, recipe.ttt.k, recipe.ttt.exclude_above)

    if ppl_ds is not None:
        convs = list(ppl_ds["messages"])
        groups = list(ppl_ds["group"]) if "group" in ppl_ds.column_names else [None] * len(convs)
        results["base"]["perplexity"] = {"n": len(convs), "perplexity": perplexity(scorer.nll(convs))}
        if ttt:
            pairs = scorer.nll(convs, ttt, hits_for([query_text(c) for c in convs], groups), bank)
            results["ttt"]["perplexity"] = {"n": len(convs), "perplexity": perplexity(pairs)}
    if mcq:
        prompts = [mcq_prompt(it) for it in mcq]
        results["base"]["mcq"] = score_mcq(mcq, scorer.replies(prompts))
        if ttt:
            hits = hits_for([it["question"] for it in mcq], [it["group"] for it in mcq])
            results["ttt"]["mcq"] = score_mcq(mcq, scorer.replies(prompts, ttt, hits, bank))
    if open_rows:
        prompts = [list(r["prompt"]) for r in open_rows]
        results["base"]["open_ended"] = score_open(open_rows, scorer.replies(prompts))
        if ttt:
            hits = hits_for([query_text(p) for p in prompts], [r.get("group") for r in open_rows])
            results["ttt"]["open_ended"] = score_open(open_rows, scorer.replies(prompts, ttt, hits, bank))
    if tasks.replay is not None:
        from train.replay import replay

        results["base"]["replay"] = replay(recipe, tasks.replay, model, tok)
    return _write(recipe, results, ttt)


def _write(recipe: EvalRecipe, results: dict[str, Any], ttt: Any) -> dict[str, Any]:
    if not ttt:
        del results["ttt"]
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, base, with TTT) for the table; TTT is '-' where it was not run."""
    rows = []
    keys = {"perplexity": ["perplexity"], "mcq": ["accuracy", "no_letter"],
            "open_ended": ["accuracy", "unsure", "formatted"],
            "replay": ["accuracy", "top3_hit", "mean_questions", "mean_tests", "mean_doctor_turns"],
            "reward": ["accuracy", "mean_margin"]}  # fmt: skip
    for task, metrics in keys.items():
        base = results["base"].get(task)
        if base is None:
            continue
        ttt = results.get("ttt", {}).get(task)
        for m in metrics:
            if m in base:
                rows.append((f"{task} {m} (n={base['n']})", _fmt(base[m]), _fmt(ttt[m]) if ttt else "-"))
        for spec, v in base.get("by_specialty", {}).items():
            t = (ttt or {}).get("by_specialty", {}).get(spec)
            rows.append(
                (
                    f"  {task} accuracy, {spec} (n={v['n']})",
                    _fmt(v["accuracy"]),
                    _fmt(t["accuracy"]) if t else "-",
                )
            )
    return rows


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
