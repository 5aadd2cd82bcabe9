"""`train`: SFT, DPO, GRPO, test-time training and evaluation over published datasets, one recipe each.

    train sft RECIPE.yaml [--set key.path=value] [--check] [--json]
    train dpo | grpo | reward | ttt | eval RECIPE.yaml ...

Paths in a recipe are relative to the recipe; paths given with --set are relative to the current directory.

`--check` validates the recipe, loads and checks the dataset, the tokenizer and its chat template, and stops
before the model is loaded: what a recipe would fail on, in seconds. Heavy imports (torch, transformers, trl)
happen inside the commands, so `train --help` is instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="train",
    help="Train and evaluate models on published medsynth datasets (SFT, DPO, GRPO, reward, TTT, eval). "
    "The data is synthetic and not for clinical use.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Recipe = Annotated[Path, typer.Argument(help="recipe YAML (see configs/train/)")]
Sets = Annotated[
    list[str] | None, typer.Option("--set", help="override a recipe value: --set trainer.max_steps=5")
]
Check = Annotated[bool, typer.Option("--check", help="check recipe, data and tokenizer; train nothing")]
AsJson = Annotated[bool, typer.Option("--json", help="print the results as JSON instead of a table")]


def _fail(msg: str) -> None:
    typer.echo(msg, err=True)
    raise typer.Exit(2)


_PATH_KEYS = ("dataset", "output_dir", "name")


def _cwd_paths(overrides: dict[str, Any]) -> dict[str, Any]:
    """Paths typed on the command line are relative to the current directory (those in the file, to the file).

    A value is taken for a path when its key is a dataset, output_dir or model name and it exists here, starts
    with '.' or '~', or is an output_dir; 'embedded' and Hub ids ('org/name', not on disk) pass unchanged.
    """
    out = dict(overrides)
    for key, value in overrides.items():
        if key.split(".")[-1] not in _PATH_KEYS or not isinstance(value, str) or Path(value).is_absolute():
            continue
        if key.endswith("output_dir") or Path(value).exists() or value.startswith((".", "~")):
            out[key] = str(Path(value).expanduser().resolve())
    return out


def _load(method: str, path: Path, sets: list[str] | None) -> Any:
    from schemas.yamlfile import ConfigError, parse_sets
    from train.recipe import load_recipe

    try:
        return load_recipe(path, method, _cwd_paths(parse_sets(sets or [])))
    except ConfigError as e:
        _fail(str(e))


def _guarded(fn: Any, *args: Any) -> Any:
    """Bad data, a model without a chat template, a missing synth for replay: one clear line, exit 2."""
    from train.data import DataError
    from train.models import ModelError

    try:
        return fn(*args)
    except (DataError, ModelError) as e:
        _fail(f"error: {e}")


def _check(method: str, recipe: Any) -> None:
    from train.data import load_split
    from train.models import load_tokenizer, training_chat_template
    from train.recipe import TrainRecipe, data_specs

    for spec, _ in data_specs(recipe, method):
        needs = {"grpo": "rl", "sft": "sft", "dpo": "dpo", "reward": "rm"}.get(method, spec.config or "sft")
        if Path(spec.dataset).is_file():
            needs = "mcq"
        ds = load_split(spec, needs)
        typer.echo(
            f"data: {spec.dataset} [{spec.config}] {spec.split}: {len(ds)} rows, columns {ds.column_names}"
        )
    tok = load_tokenizer(recipe.model)
    assistant_only = isinstance(recipe, TrainRecipe) and recipe.trainer.get(
        "assistant_only_loss", method == "sft"
    )
    if assistant_only or method in ("ttt", "eval"):
        training_chat_template(tok, recipe.model.name)
    typer.echo(f"model: {recipe.model.name}: tokenizer and chat template ok")
    typer.echo(f"check passed: `train {method} ...` without --check would write {recipe.output_dir}")


def _report(method: str, result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if method in ("sft", "dpo", "grpo", "reward"):
        loss = result["loss"]
        table = Table(title=f"{method}: {result['rows_used']} rows, {result['global_step']} steps")
        table.add_column("")
        table.add_column("value", justify="right")
        table.add_row("train loss (mean)", f"{result['train_loss']:.4f}")
        if loss.get("steps_logged"):
            table.add_row("loss, first quarter of steps", f"{loss['first_quarter_mean']:.4f}")
            table.add_row("loss, last quarter of steps", f"{loss['last_quarter_mean']:.4f}")
        if result.get("reward", {}).get("steps_logged"):
            r = result["reward"]
            table.add_row(
                "reward, first / last quarter",
                f"{r['first_quarter_mean']:.3f} / {r['last_quarter_mean']:.3f}",
            )
        if "reward_accuracy" in result:
            acc = result["reward_accuracy"]
            table.add_row(f"reward accuracy, held out (n={acc['n']})", f"{acc['accuracy']:.3f}")
        console.print(table)
        if result["rows_used"] < result["rows"]:
            console.print(f"[yellow]{result['rows'] - result['rows_used']} of {result['rows']} rows were not "
                          "used by the trainer (e.g. prompts longer than max_length): raise max_length[/]")  # fmt: skip
        console.print(f"model: {result['output_dir']} (train_results.json, log_history.json)")
    elif method == "ttt":
        s = result["summary"]
        table = Table(title=f"ttt: {s['queries']} held-out queries, {s['neighbour_rich']} neighbour-rich")
        for col in ("perplexity", "without TTT", "with TTT"):
            table.add_column(col, justify="right" if col != "perplexity" else "left")
        table.add_row("all queries", f"{s['ppl_base']:.3f}", f"{s['ppl_ttt']:.3f}")
        table.add_row(f"neighbour-rich (cosine >= {s['rich_threshold']})", f"{s['ppl_base_rich']:.3f}",
                      f"{s['ppl_ttt_rich']:.3f}")  # fmt: skip
        table.add_row("the others", f"{s['ppl_base_poor']:.3f}", f"{s['ppl_ttt_poor']:.3f}")
        console.print(table)
        console.print(f"queries improved: {s['queries_improved']}/{s['queries']}; "
                      f"weights restored after every query: {s['weights_restored_every_query']}")  # fmt: skip
    else:
        from train.evaluate import summary_rows

        table = Table(title=f"eval: {result['model']}")
        for col in ("metric", "base", "with TTT"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for row in summary_rows(result):
            table.add_row(*row)
        console.print(table)


def _command(method: str, fn_path: str) -> Any:
    def command(recipe: Recipe, set_: Sets = None, check: Check = False, as_json: AsJson = False) -> None:
        import importlib

        r = _load(method, recipe, set_)
        if check:
            _guarded(_check, method, r)
            return
        module, name = fn_path.rsplit(".", 1)
        result = _guarded(getattr(importlib.import_module(module), name), r)
        if as_json:
            typer.echo(json.dumps(result, indent=2, default=str))
        else:
            _report(method, result)

    command.__doc__ = {
        "sft": "Supervised fine-tuning (TRL SFTTrainer) on the sft view; loss on assistant turns only.",
        "dpo": "Preference optimisation (TRL DPOTrainer) on the dpo view.",
        "grpo": "GRPO (TRL GRPOTrainer) on the rl view, rewarded by the verifier (and a reward model).",
        "reward": "A reward model (TRL RewardTrainer) on the rm view: judge-labelled preference pairs.",
        "ttt": "Test-time training on nearest neighbours: held-out perplexity with and without, per query.",
        "eval": "MCQ and open-ended accuracy, perplexity, replay, reward accuracy; with TTT side by side.",
    }[method]
    return command


for _method, _fn in {"sft": "train.sft.train_sft", "dpo": "train.dpo.train_dpo", "grpo": "train.grpo.train_grpo",
                     "reward": "train.reward_model.train_reward",
                     "ttt": "train.ttt.train_ttt", "eval": "train.evaluate.run_eval"}.items():  # fmt: skip
    app.command(_method)(_command(_method, _fn))


def main() -> None:
    import os

    # datasets' per-split progress bars drown the training output; set the variable to 0 to see them.
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
