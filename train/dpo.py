"""`train dpo RECIPE.yaml`: TRL's DPOTrainer on the published `dpo` view (prompt / chosen / rejected).

Pairs are verified vs failed reasoning chains of one problem and correct vs incorrect final diagnoses of one
case (docs/publish.md). The reference model is the starting model (TRL makes the copy; with LoRA the adapter
is switched off instead of copying).
"""

from __future__ import annotations

from typing import Any

from train.common import save_and_report, seed_everything, trl_args
from train.data import load_split
from train.models import load_model, load_tokenizer, peft_config
from train.recipe import DPORecipe


def train_dpo(recipe: DPORecipe) -> dict[str, Any]:
    from trl import DPOTrainer

    seed_everything(recipe.seed)
    train_ds = load_split(recipe.data, "dpo")
    eval_ds = load_split(recipe.data, "dpo", recipe.data.eval_split) if recipe.data.eval_split else None
    tok = load_tokenizer(recipe.model)
    args = trl_args(recipe, "dpo", {})
    model = load_model(recipe.model)
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tok,
        peft_config=peft_config(recipe.lora),
    )
    result = trainer.train()
    return save_and_report(recipe, "dpo", trainer, tok, result, len(train_ds))
