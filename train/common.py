"""What every training method does the same way: seeding, the TRL config, and the results file."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from train.recipe import TrainRecipe, trl_config_class


def seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def trl_args(
    recipe: TrainRecipe, method: str, defaults: dict[str, Any], overrides: dict[str, Any] | None = None
) -> Any:
    """The TRL config: the engine's defaults, the recipe's `trainer:` options, then a stage's own overrides."""
    options = {"report_to": [], "save_strategy": "no", "logging_steps": 1, **defaults, **recipe.trainer,
               **(overrides or {})}  # fmt: skip
    return trl_config_class(method)(output_dir=str(recipe.output_dir), seed=recipe.seed, **options)


def loss_curve(log_history: list[dict[str, Any]], key: str = "loss") -> list[float]:
    return [float(h[key]) for h in log_history if key in h]


def summarise_losses(losses: list[float]) -> dict[str, Any]:
    """First and last quarter means: a noisy per-step loss says more about its trend in windows."""
    if not losses:
        return {"steps_logged": 0}
    w = max(1, len(losses) // 4)
    first, last = sum(losses[:w]) / w, sum(losses[-w:]) / w
    return {"steps_logged": len(losses), "first": losses[0], "last": losses[-1], "first_quarter_mean": first,
            "last_quarter_mean": last, "decreased": last < first}  # fmt: skip


def save_and_report(
    recipe: TrainRecipe, method: str, trainer: Any, tok: Any, result: Any, rows_loaded: int
) -> dict[str, Any]:
    """Save the model (or adapter) and the tokenizer; write OUT/train_results.json and return it."""
    out = Path(recipe.output_dir)
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    history = trainer.state.log_history
    report = {
        "method": method,
        "model": recipe.model.name,
        "dataset": recipe.data.dataset,
        "config": recipe.data.config,
        "split": recipe.data.split,
        "rows": rows_loaded,
        # TRL drops rows it cannot use (e.g. DPO prompts longer than max_length): say so, never silently
        "rows_used": len(trainer.train_dataset),
        "global_step": result.global_step,
        "train_loss": result.training_loss,
        "loss": summarise_losses(loss_curve(history)),
        "eval_loss": loss_curve(history, "eval_loss"),
        "lora": recipe.lora.model_dump() if recipe.lora else None,
        "trainer": recipe.trainer,
        "python": platform.python_version(),
        "output_dir": str(out),
    }
    if method == "grpo":
        report["reward"] = summarise_losses(loss_curve(history, "reward"))
    (out / "train_results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "log_history.json").write_text(json.dumps(history, indent=2, default=str) + "\n")
    return report
