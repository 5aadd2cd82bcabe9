"""`train reward RECIPE.yaml`: TRL's RewardTrainer on the published `rm` view, and reward accuracy.

The view's pairs were labelled by a judge teacher against a rubric and kept only when the judge ranked them the
same way in both orders (synth/rlaif.py). The model is the recipe's causal LM with a one-output
sequence-classification head (TRL builds it: `num_labels=1`); the loss is the Bradley-Terry
`-log σ(r(chosen) − r(rejected))`. The view's `margin` column (the judge's rubric means, 1-10 scale) enters
that loss only when `margin_scale` is set, scaled by it: on its own scale it would swamp the reward gap.

Reward accuracy — the share of held-out pairs whose chosen response the model scores strictly above the
rejected one (a tie counts as wrong) — is what `train eval` reports under `reward`, overall and per source.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from train.common import save_and_report, seed_everything, trl_args
from train.data import load_split
from train.models import _offline_if_local, load_tokenizer, model_path, peft_config
from train.recipe import DataSpec, ModelSpec, RewardModelRecipe

RM_COLUMNS = ("prompt", "chosen", "rejected")


def rm_dataset(spec: DataSpec, split: str | None, margin_scale: float | None) -> Any:
    """The rm rows with only what RewardTrainer reads: the three texts, and the scaled margin if asked."""
    ds = load_split(spec, "rm", split)
    if margin_scale is not None:
        if "margin" not in ds.column_names:
            from train.data import DataError

            raise DataError(f"{spec.dataset}: margin_scale is set but the rm view has no margin column")
        ds = ds.map(lambda r: {"margin": float(r["margin"]) * margin_scale})
    keep = {*RM_COLUMNS, *(("margin",) if margin_scale is not None else ())}
    return ds.remove_columns([c for c in ds.column_names if c not in keep])


def load_reward_model(spec: ModelSpec, tok: Any) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification

    path = model_path(spec)
    _offline_if_local(path)
    dtype: Any = spec.dtype if spec.dtype == "auto" else getattr(torch, spec.dtype)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=dtype, revision=spec.revision, trust_remote_code=spec.trust_remote_code
    )
    model.config.pad_token_id = tok.pad_token_id  # the head reads the last non-pad token
    return model


def train_reward(recipe: RewardModelRecipe) -> dict[str, Any]:
    from trl import RewardTrainer

    seed_everything(recipe.seed)
    train_ds = rm_dataset(recipe.data, None, recipe.margin_scale)
    eval_ds = rm_dataset(recipe.data, recipe.data.eval_split, None) if recipe.data.eval_split else None
    tok = load_tokenizer(recipe.model)
    args = trl_args(recipe, "reward", {})
    model = load_reward_model(recipe.model, tok)
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tok,
        peft_config=peft_config(recipe.lora, "SEQ_CLS"),
    )
    result = trainer.train()
    report = save_and_report(recipe, "reward", trainer, tok, result, len(train_ds))
    if recipe.data.eval_split:
        length = int(recipe.trainer.get("max_length") or 1024)  # score what training saw
        report["reward_accuracy"] = reward_accuracy(
            trainer.model, tok, recipe.data, recipe.data.eval_split, length
        )
    return report


def _texts(tok: Any, prompt: list[dict[str, str]], response: list[dict[str, str]]) -> str:
    return str(tok.apply_chat_template(list(prompt) + list(response), tokenize=False))


def score_texts(
    model: Any, tok: Any, texts: list[str], max_length: int = 1024, batch: int = 4
) -> list[float]:
    """The reward model's scalar for each text (right-truncated to max_length tokens)."""
    import torch

    out: list[float] = []
    model.eval()
    for i in range(0, len(texts), batch):
        enc = tok(texts[i : i + batch], return_tensors="pt", padding=True, truncation=True,
                  max_length=max_length, add_special_tokens=False).to(model.device)  # fmt: skip
        with torch.no_grad():
            out += model(**enc).logits[:, 0].float().tolist()
    return out


def reward_accuracy(
    model: Any, tok: Any, spec: DataSpec, split: str | None = None, max_length: int = 1024
) -> dict[str, Any]:
    """Share of pairs with r(chosen) > r(rejected), overall and per `source` (consultation / problem)."""
    ds = load_split(spec, "rm", split)
    rows = list(ds)
    chosen = score_texts(model, tok, [_texts(tok, r["prompt"], r["chosen"]) for r in rows], max_length)
    rejected = score_texts(model, tok, [_texts(tok, r["prompt"], r["rejected"]) for r in rows], max_length)
    wins = [c > r for c, r in zip(chosen, rejected, strict=True)]
    by: dict[str, list[bool]] = defaultdict(list)
    for row, w in zip(rows, wins, strict=True):
        by[str(row.get("source") or "all")].append(w)
    return {
        "n": len(wins),
        "accuracy": sum(wins) / len(wins),
        "mean_margin": sum(c - r for c, r in zip(chosen, rejected, strict=True)) / len(wins),
        "by_source": {k: {"n": len(v), "accuracy": sum(v) / len(v)} for k, v in sorted(by.items())},
    }


def evaluate_reward_task(model_spec: ModelSpec, data: DataSpec, max_length: int) -> dict[str, Any]:
    tok = load_tokenizer(model_spec)
    model = load_reward_model(model_spec, tok)
    return reward_accuracy(model, tok, data, None, max_length)
