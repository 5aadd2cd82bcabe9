"""`train sft RECIPE.yaml`: TRL's SFTTrainer on the published `sft` view, loss on assistant turns only.

The view is conversational (`messages`): consultations as the doctor's turns between what the doctor heard,
problems as the question and a `## Thinking` / `## Final Response` answer (docs/publish.md).
"""

from __future__ import annotations

from typing import Any

from train.common import save_and_report, seed_everything, trl_args
from train.data import load_split
from train.models import load_model, load_tokenizer, peft_config, training_chat_template
from train.recipe import SFTRecipe


def build_trainer(recipe: SFTRecipe) -> tuple[Any, Any, int]:
    """The SFTTrainer, its tokenizer and the rows loaded; everything is checked before the model loads."""
    from trl import SFTTrainer

    seed_everything(recipe.seed)
    train_ds = load_split(recipe.data, "sft")
    eval_ds = load_split(recipe.data, "sft", recipe.data.eval_split) if recipe.data.eval_split else None
    tok = load_tokenizer(recipe.model)
    args = trl_args(recipe, "sft", {"assistant_only_loss": True})
    if args.assistant_only_loss and not args.chat_template_path:
        # Loss on assistant tokens needs {% generation %} markers in the template (models.py).
        template = training_chat_template(tok, recipe.model.name)
        if template is not None:
            tok.chat_template = template
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


def train_sft(recipe: SFTRecipe) -> dict[str, Any]:
    trainer, tok, rows = build_trainer(recipe)
    result = trainer.train()
    return save_and_report(recipe, "sft", trainer, tok, result, rows)
