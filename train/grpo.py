"""`train grpo RECIPE.yaml`: TRL's GRPOTrainer on the published `rl` view, rewarded by the verifier.

HuatuoGPT-o1's RL stage: each prompt's sampled completions are scored by train/reward.py — `correct` for a
final response that verifies against the ground truth, `wrong` for one that does not, `unformatted` without
the `## Thinking` / `## Final Response` sections — and GRPO pushes towards the better ones of each group.
Prompts without a system message get one that asks for that format (the SFT stage teaches it).

With `reward_model:` (a `train reward` output folder) the completions are also scored by that reward model —
HuatuoGPT's RLAIF reward beside the verifier — and TRL sums the two as
`reward.weight × verifier + reward_model.weight × reward model` (GRPOConfig.reward_weights); each is logged
on its own (`rewards/verifier/mean`, `rewards/reward_model/mean`).
"""

from __future__ import annotations

from typing import Any

from train.common import save_and_report, seed_everything, trl_args
from train.data import load_split
from train.models import load_model, load_tokenizer, peft_config
from train.recipe import GRPORecipe, ModelSpec
from train.reward import FORMAT_PROMPT, VerifierReward


def with_format_prompt(row: dict[str, Any]) -> dict[str, Any]:
    prompt = row["prompt"]
    if prompt and prompt[0]["role"] == "system":
        return {"prompt": prompt}
    return {"prompt": [{"role": "system", "content": FORMAT_PROMPT}, *prompt]}


def train_grpo(recipe: GRPORecipe) -> dict[str, Any]:
    from trl import GRPOTrainer

    seed_everything(recipe.seed)
    train_ds = load_split(recipe.data, "rl").map(with_format_prompt)
    eval_ds = None
    if recipe.data.eval_split:
        eval_ds = load_split(recipe.data, "rl", recipe.data.eval_split).map(with_format_prompt)
    tok = load_tokenizer(recipe.model)
    funcs: list[Any] = [VerifierReward(recipe.reward)]
    weights = [recipe.reward.weight]
    rm_toks: list[Any] = [None]
    if recipe.reward_model is not None:
        from train.reward_model import load_reward_model

        rm_spec = ModelSpec(name=recipe.reward_model.name, dtype=recipe.model.dtype)
        rm_tok = load_tokenizer(rm_spec)
        rm = load_reward_model(rm_spec, rm_tok)
        rm.config._name_or_path = "reward_model"  # TRL names the logged reward after it
        funcs.append(rm)
        weights.append(recipe.reward_model.weight)
        rm_toks.append(rm_tok)
    args = trl_args(recipe, "grpo", {"reward_weights": weights})
    model = load_model(recipe.model)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        reward_processing_classes=rm_toks if recipe.reward_model is not None else None,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tok,
        peft_config=peft_config(recipe.lora),
    )
    result = trainer.train()
    return save_and_report(recipe, "grpo", trainer, tok, result, len(train_ds))
