"""Training recipes: one YAML file per run, one pydantic tree per method, unknown keys rejected.

A recipe names the model, the dataset and the trainer's own options. `trainer:` passes straight through to
TRL's `SFTConfig` / `DPOConfig` / `GRPOConfig`: its keys are checked against that class's fields before
anything loads (a misspelt key is an error with a "did you mean"), so a recipe fails in a second, not after
the model has loaded. Relative paths are relative to the recipe file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.yamlfile import ConfigError, did_you_mean, line_of, load_yaml_model, read_yaml, shown_key

Method = Literal["sft", "dpo", "grpo", "reward", "ttt", "eval"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    name: str = Field(description="'embedded' (SmolLM2-135M-Instruct, shipped), a local path or a Hub id")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    revision: str | None = None
    trust_remote_code: bool = False
    attn_implementation: str | None = Field(default=None, description="e.g. sdpa, flash_attention_2")


class DataSpec(_Strict):
    """A published dataset (synth publish): a local folder in the Hub layout or a Hub id, and one config."""

    dataset: str = Field(description="local folder (relative to the recipe) or a Hub dataset id")
    config: str | None = Field(
        default=None, description="default: what the method reads (sft, dpo, rl; problems, cases for eval)"
    )
    split: str = "train"
    eval_split: str | None = Field(default=None, description="evaluated during training when set")
    limit: int | None = Field(default=None, ge=1, description="use at most this many rows (first ones)")
    revision: str | None = None


class LoRASpec(_Strict):
    """peft LoraConfig fields; `target_modules: all-linear` adapts every linear layer but the head."""

    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class RecipeBase(_Strict):
    method: Method | None = Field(default=None, description="optional; must match the command when given")
    seed: int = 0
    output_dir: Path
    model: ModelSpec


class TrainRecipe(RecipeBase):
    data: DataSpec
    lora: LoRASpec | None = None
    trainer: dict[str, Any] = Field(default_factory=dict, description="TRL config fields, passed through")


class StageFilter(_Strict):
    """Which rows of the view a curriculum stage trains on; every key given must match (case-insensitive)."""

    specialty: list[str] | None = Field(default=None, description="the rows' `specialty` column, any of")
    subspecialty: list[str] | None = Field(
        default=None, description="the rows' `subspecialty` column, any of"
    )
    source: list[Literal["consultation", "problem", "external"]] | None = None

    def keys(self) -> dict[str, list[str]]:
        return {k: [x.lower() for x in v] for k, v in self.model_dump().items() if v is not None}


class CurriculumStage(_Strict):
    """One stage of `train sft`'s curriculum (FineMedLM-o1: general, then specialty, then sub-specialty)."""

    name: str = Field(min_length=1)
    where: StageFilter = Field(default_factory=StageFilter, description="default: every row (general)")
    max_steps: int | None = Field(default=None, ge=1)
    num_train_epochs: float | None = Field(default=None, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _length(self) -> CurriculumStage:
        if (self.max_steps is None) == (self.num_train_epochs is None):
            raise ValueError(f"stage {self.name!r}: give exactly one of max_steps and num_train_epochs")
        return self


class SFTRecipe(TrainRecipe):
    stages: list[CurriculumStage] | None = Field(
        default=None, description="curriculum: stages run in order on the same model, each on its filter"
    )

    @model_validator(mode="after")
    def _stages(self) -> SFTRecipe:
        names = [st.name for st in self.stages or []]
        if len(names) != len(set(names)):
            raise ValueError(f"stage names must be unique, got {names}")
        if self.stages is not None and not self.stages:
            raise ValueError("stages: give at least one stage, or leave it out")
        return self


class DPORecipe(TrainRecipe):
    pass


class RewardModelRecipe(TrainRecipe):
    """`train reward`: a reward model on the `rm` view (TRL's RewardTrainer); `trainer:` is its RewardConfig."""

    margin_scale: float | None = Field(
        default=None,
        ge=0,
        description="use the view's judge margin (1-10 rubric scale) in the loss, times this; default: unused",
    )


class RewardSpec(_Strict):
    """HuatuoGPT-o1's RL reward: right answer > wrong answer > a response without the required format."""

    correct: float = 1.0
    wrong: float = 0.1
    unformatted: float = Field(default=0.0, description="no '## Thinking' and '## Final Response' sections")
    unsure: float | None = Field(default=None, description="verifier unsure; default: the same as wrong")
    weight: float = Field(default=1.0, ge=0, description="the verifier's weight beside a reward_model")

    @model_validator(mode="after")
    def _ordered(self) -> RewardSpec:
        if not (self.correct > self.wrong >= self.unformatted):
            raise ValueError("rewards must satisfy correct > wrong >= unformatted")
        return self


class RewardModelTerm(_Strict):
    """A trained reward model (`train reward`'s output folder) scoring GRPO completions beside the verifier."""

    name: str = Field(description="the reward model: a folder (relative to the recipe) or a Hub id")
    weight: float = Field(default=0.5, gt=0, description="its weight; the verifier's is reward.weight")


class GRPORecipe(TrainRecipe):
    reward: RewardSpec = Field(default_factory=RewardSpec)
    reward_model: RewardModelTerm | None = None

    @model_validator(mode="after")
    def _weights(self) -> GRPORecipe:
        if "reward_weights" in self.trainer:
            raise ValueError("set reward.weight and reward_model.weight, not trainer.reward_weights")
        if self.reward_model is None and self.reward.weight == 0:
            raise ValueError("reward.weight is 0 and there is no reward_model: nothing rewards the policy")
        return self


class GenerationSpec(_Strict):
    max_new_tokens: int = Field(default=256, ge=1)
    batch_size: int = Field(default=8, ge=1)
    temperature: float = Field(default=0.0, ge=0, description="0: greedy")
    system_prompt: str | None = Field(
        default=None, description="default: answer in '## Thinking' / '## Final Response' sections"
    )


class TTTSpec(_Strict):
    """Test-time training on nearest neighbours (Hardt & Sun; FineMedLM-o1)."""

    index: DataSpec = Field(description="the training texts to retrieve from (usually the sft config)")
    k: int = Field(default=4, ge=1, description="neighbours per query")
    steps: int = Field(default=2, ge=1, description="gradient steps per query")
    lr: float = Field(default=2e-5, gt=0)
    mode: Literal["full", "lora"] = "full"
    lora: LoRASpec = Field(default_factory=LoRASpec)
    batch_size: int = Field(default=4, ge=1, description="neighbours per gradient step")
    max_length: int = Field(default=1024, ge=16, description="tokens kept of each neighbour")
    embedder: str = Field(default="all-MiniLM-L6-v2", description="the shipped MiniLM, or a local path")
    rich_threshold: float = Field(
        default=0.5,
        ge=-1,
        le=1,
        description="queries whose nearest neighbour is this close are 'neighbour-rich'",
    )
    exclude_above: float = Field(
        default=0.98, ge=-1, le=1, description="a neighbour this close is the query itself (a copy): skipped"
    )
    check_restore: bool = Field(
        default=False, description="checksum every weight after each query (about 1 s per GB of weights)"
    )


class PerplexityTask(_Strict):
    data: DataSpec = Field(description="conversations (sft config): perplexity of the assistant turns")


class MCQTask(_Strict):
    """MCQs from a MedQA-shaped file (question, options, answer_idx) or a published `problems` config."""

    data: DataSpec
    field_question: str = "question"


class OpenEndedTask(_Strict):
    data: DataSpec = Field(description="the rl config: prompt, answer, aliases")


class ReplayTask(_Strict):
    """The model plays the doctor against the generator's patient and examiner over held-out cases."""

    data: DataSpec = Field(description="the cases config (held-out split)")
    patient: str = Field(default="embedded", description="model of the patient simulator (local backend)")
    min_turns: int = Field(default=2, ge=1)
    max_turns: int = Field(default=6, ge=1)
    doctor_max_tokens: int = Field(default=400, ge=16)
    patient_max_tokens: int = Field(default=120, ge=8)


class RewardTask(_Strict):
    """Reward accuracy of a reward model on held-out pairs of the `rm` view: r(chosen) > r(rejected)."""

    data: DataSpec = Field(description="the rm config (held-out split)")
    model: ModelSpec | None = Field(default=None, description="the reward model; default: the recipe's model")
    max_length: int = Field(default=1024, ge=16, description="tokens kept of each prompt + response")


class EvalTasks(_Strict):
    perplexity: PerplexityTask | None = None
    mcq: MCQTask | None = None
    open_ended: OpenEndedTask | None = None
    replay: ReplayTask | None = None
    reward: RewardTask | None = None


class EvalRecipe(RecipeBase):
    tasks: EvalTasks
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    ttt: TTTSpec | None = Field(
        default=None, description="also run every task but replay with TTT, side by side"
    )


class TTTRecipe(RecipeBase):
    """`train ttt`: held-out perplexity and answers with and without test-time training, per query."""

    ttt: TTTSpec
    queries: DataSpec = Field(description="held-out conversations (sft config, test split)")
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    answer: bool = Field(default=False, description="also generate an answer per query, with and without")


RECIPES: dict[str, type[RecipeBase]] = {
    "sft": SFTRecipe,
    "dpo": DPORecipe,
    "grpo": GRPORecipe,
    "reward": RewardModelRecipe,
    "ttt": TTTRecipe,
    "eval": EvalRecipe,
}
#: the published config each training method reads unless the recipe names another
DEFAULT_CONFIG = {"sft": "sft", "dpo": "dpo", "grpo": "rl", "reward": "rm"}


def trl_config_class(method: str) -> Any:
    if method == "sft":
        from trl import SFTConfig

        return SFTConfig
    if method == "dpo":
        from trl import DPOConfig

        return DPOConfig
    if method == "grpo":
        from trl import GRPOConfig

        return GRPOConfig
    if method == "reward":
        from trl import RewardConfig

        return RewardConfig
    raise KeyError(method)


def check_trainer_keys(recipe: TrainRecipe, method: str, source: Path, root: Any) -> None:
    """Every `trainer:` key must be a field of the TRL config class; the recipe owns output_dir and seed."""
    cls = trl_config_class(method)
    fields = {f.name for f in dataclasses.fields(cls)}
    errors = []
    for key in recipe.trainer:
        line = line_of(root, ("trainer", key))
        where = f"line {line}: " if line else ""
        if key in ("output_dir", "seed"):
            errors.append(
                f"  {where}trainer.{shown_key(key)}: set it at the top of the recipe ({key}:), not under trainer"
            )
        elif key not in fields:
            errors.append(
                f"  {where}trainer.{shown_key(key)}: not a field of TRL's {cls.__name__}{did_you_mean(key, fields)}"
            )
    if errors:
        raise ConfigError("\n".join([f"{source}: invalid recipe", *errors]))


def _resolve(spec: DataSpec, base: Path) -> None:
    """A dataset that exists relative to the recipe is a local folder; anything else is taken as a Hub id."""
    p = Path(spec.dataset).expanduser()
    candidate = p if p.is_absolute() else base / p
    if candidate.exists() or spec.dataset.startswith((".", "/", "~")) or spec.dataset.count("/") != 1:
        spec.dataset = str(candidate.resolve())


def data_specs(recipe: RecipeBase, method: str) -> list[tuple[DataSpec, str]]:
    """Every dataset the recipe reads, with the published config it reads by default."""
    specs: list[tuple[DataSpec, str]] = []
    if isinstance(recipe, TrainRecipe):
        specs.append((recipe.data, DEFAULT_CONFIG[method]))
    if isinstance(recipe, EvalRecipe):
        t = recipe.tasks
        for task, config in (
            (t.perplexity, "sft"),
            (t.mcq, "problems"),
            (t.open_ended, "rl"),
            (t.replay, "cases"),
            (t.reward, "rm"),
        ):
            if task is not None:
                specs.append((task.data, config))
    if isinstance(recipe, TTTRecipe):
        specs.append((recipe.queries, "sft"))
    ttt = getattr(recipe, "ttt", None)
    if ttt is not None:
        specs.append((ttt.index, "sft"))
    return specs


def _model_specs(recipe: RecipeBase) -> list[Any]:
    """Every model a recipe names (a GRPO reward model, an eval's reward model), paths relative to it."""
    out: list[Any] = [recipe.model]
    if isinstance(recipe, GRPORecipe) and recipe.reward_model is not None:
        out.append(recipe.reward_model)
    if isinstance(recipe, EvalRecipe) and recipe.tasks.reward and recipe.tasks.reward.model:
        out.append(recipe.tasks.reward.model)
    return out


def load_recipe(path: str | Path, method: str, overrides: dict[str, Any] | None = None) -> RecipeBase:
    path = Path(path)
    if method not in RECIPES:
        raise ConfigError(f"unknown method {method!r} (one of {sorted(RECIPES)})")
    recipe = load_yaml_model(path, RECIPES[method], overrides, what="recipe")
    if recipe.method is not None and recipe.method != method:
        raise ConfigError(f"{path}: this is a {recipe.method} recipe; run it with `train {recipe.method}`")
    base = path.parent
    if not recipe.output_dir.is_absolute():
        recipe.output_dir = (base / recipe.output_dir).resolve()
    for spec_model in _model_specs(recipe):
        m = Path(spec_model.name).expanduser()
        if spec_model.name != "embedded" and not m.is_absolute() and (base / m).exists():
            spec_model.name = str((base / m).resolve())
    for spec, config in data_specs(recipe, method):
        _resolve(spec, base)
        if spec.config is None:
            spec.config = config
    if isinstance(recipe, TrainRecipe):
        _, root = read_yaml(path)
        check_trainer_keys(recipe, method, path, root)
    return recipe
