"""`train sft RECIPE.yaml`: TRL's SFTTrainer on the published `sft` view, loss on assistant turns only.

The view is conversational (`messages`): consultations as the doctor's turns between what the doctor heard,
problems as the question and a `## Thinking` / `## Final Response` answer (docs/publish.md).

With `stages:` the run is a curriculum (FineMedLM-o1): each stage trains the same model, in order, on the
rows its `where:` selects by the view's label columns (`specialty`, `subspecialty`, `source`), for its own
`max_steps` or `num_train_epochs` (and optionally its own learning rate); a stage without `where:` trains on
everything (the general stage). Every stage's rows are selected and checked before the model loads: a stage
that selects nothing, or a filter on a column the view lacks, is an error naming the stage.
"""

from __future__ import annotations

from typing import Any

from train.common import loss_curve, save_and_report, seed_everything, summarise_losses, trl_args
from train.data import DataError, load_split
from train.models import load_model, load_tokenizer, peft_config, training_chat_template
from train.recipe import CurriculumStage, SFTRecipe


def _tokenizer_and_args(recipe: SFTRecipe, overrides: dict[str, Any]) -> tuple[Any, Any]:
    tok = load_tokenizer(recipe.model)
    args = trl_args(recipe, "sft", {"assistant_only_loss": True}, overrides)
    if args.assistant_only_loss and not args.chat_template_path:
        # Loss on assistant tokens needs {% generation %} markers in the template (models.py).
        template = training_chat_template(tok, recipe.model.name)
        if template is not None:
            tok.chat_template = template
    return tok, args


def build_trainer(recipe: SFTRecipe) -> tuple[Any, Any, int]:
    """The SFTTrainer, its tokenizer and the rows loaded; everything is checked before the model loads."""
    from trl import SFTTrainer

    seed_everything(recipe.seed)
    train_ds = load_split(recipe.data, "sft")
    eval_ds = load_split(recipe.data, "sft", recipe.data.eval_split) if recipe.data.eval_split else None
    tok, args = _tokenizer_and_args(recipe, {})
    model = load_model(recipe.model)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tok,
        peft_config=peft_config(recipe.lora),
    )
    return trainer, tok, len(train_ds)


def select_stage(ds: Any, stage: CurriculumStage, where: str) -> Any:
    """The rows of `ds` the stage's filter selects (all of them for a stage without a filter)."""
    keys = stage.where.keys()
    missing = [k for k in keys if k not in ds.column_names]
    if missing:
        raise DataError(
            f"{where}: stage {stage.name!r} filters on {missing}, which the sft view lacks "
            f"(has {ds.column_names}); publish again to add the label columns"
        )
    if not keys:
        return ds

    def value(r: dict[str, Any], k: str) -> str:  # a mixed row's source is `external:<name>` (publish/mix.py)
        v = str(r[k] or "").lower()
        return v.split(":", 1)[0] if k == "source" else v

    picked = ds.filter(lambda r: all(value(r, k) in allowed for k, allowed in keys.items()))
    if len(picked) == 0:
        present = {k: sorted({str(v) for v in ds[k]}) for k in keys}
        raise DataError(f"{where}: stage {stage.name!r} selects no rows ({keys}); the view has {present}")
    return picked


def _stage_overrides(stage: CurriculumStage) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if stage.max_steps is not None:
        out["max_steps"] = stage.max_steps
    else:
        out["max_steps"] = -1
        out["num_train_epochs"] = stage.num_train_epochs
    if stage.learning_rate is not None:
        out["learning_rate"] = stage.learning_rate
    return out


def train_curriculum(recipe: SFTRecipe) -> dict[str, Any]:
    """Every stage in order on one model; the report has each stage's rows, steps and loss summary."""
    from trl import SFTTrainer

    assert recipe.stages
    seed_everything(recipe.seed)
    ds = load_split(recipe.data, "sft")
    where = f"{recipe.data.dataset} (config {recipe.data.config!r})"
    selected = [(st, select_stage(ds, st, where)) for st in recipe.stages]  # all checked before the model
    model: Any = load_model(recipe.model)
    stages: list[dict[str, Any]] = []
    trainer = tok = result = None
    for i, (stage, rows) in enumerate(selected):
        tok, args = _tokenizer_and_args(recipe, _stage_overrides(stage))
        trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tok,
                             peft_config=peft_config(recipe.lora) if i == 0 else None)  # fmt: skip
        result = trainer.train()
        model = trainer.model  # the next stage goes on from these weights (an adapter stays attached)
        stages.append({"name": stage.name, "where": stage.where.keys(), "rows": len(rows),
                       "global_step": result.global_step, "train_loss": result.training_loss,
                       "loss": summarise_losses(loss_curve(trainer.state.log_history))})  # fmt: skip
    assert trainer is not None and result is not None
    report = save_and_report(recipe, "sft", trainer, tok, result, len(ds))
    report["stages"] = stages
    report["global_step"] = sum(s["global_step"] for s in stages)
    return report


def train_sft(recipe: SFTRecipe) -> dict[str, Any]:
    if recipe.stages:
        return train_curriculum(recipe)
    trainer, tok, rows = build_trainer(recipe)
    result = trainer.train()
    return save_and_report(recipe, "sft", trainer, tok, result, rows)
