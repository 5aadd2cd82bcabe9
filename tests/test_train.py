"""The train package on the embedded SmolLM2-135M-Instruct, on CPU, over a small published corpus
(tests/train_corpus.py): SFT and DPO losses fall, SFT's loss covers assistant tokens only, GRPO runs with the
verifier reward, TTT restores weights bit-exactly and lowers held-out perplexity on neighbour-rich queries,
evaluation puts TTT beside the base model, replay plays the doctor against the generator's patient, and bad
input stops a recipe before any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from train.cli import app
from train.data import DataError, load_split
from train.models import ModelError, load_tokenizer
from train.recipe import DataSpec, ModelSpec, load_recipe

from .train_corpus import build_published

pytestmark = pytest.mark.slow

CPU = {"use_cpu": True, "dataloader_num_workers": 0, "logging_steps": 1, "lr_scheduler_type": "constant"}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return build_published(tmp_path_factory.mktemp("corpus"), n_cases=6, n_mcqs=24)


def recipe_file(tmp: Path, method: str, body: dict) -> Path:
    path = tmp / f"{method}.yaml"
    path.write_text(yaml.safe_dump({"method": method, "seed": 0, "output_dir": str(tmp / f"out-{method}"),
                                    "model": {"name": "embedded", "dtype": "float32"}, **body}))  # fmt: skip
    return path


def sft_body(pub: Path, **trainer) -> dict:
    return {"data": {"dataset": str(pub), "config": "sft", "limit": 12},
            "trainer": {**CPU, "max_steps": 10, "learning_rate": 5e-5, "per_device_train_batch_size": 2,
                        "max_length": 384, **trainer}}  # fmt: skip


@pytest.fixture(scope="module")
def sft_model(published, tmp_path_factory) -> tuple[Path, dict]:
    """One SFT run, shared: its loss, and a model that knows the Thinking / Final Response format."""
    from train.sft import train_sft

    tmp = tmp_path_factory.mktemp("sft")
    report = train_sft(load_recipe(recipe_file(tmp, "sft", sft_body(published)), "sft"))
    return Path(report["output_dir"]), report


def test_sft_loss_decreases_and_the_model_is_saved(sft_model):
    out, report = sft_model
    assert report["global_step"] == 10 and report["rows"] == 12
    loss = report["loss"]
    assert loss["steps_logged"] == 10 and loss["last_quarter_mean"] < 0.8 * loss["first_quarter_mean"], loss
    assert (out / "model.safetensors").exists() and json.loads((out / "train_results.json").read_text())
    # the saved tokenizer carries the training template: still a chat model for the next stage
    assert "generation" in (out / "chat_template.jinja").read_text()
    assert load_tokenizer(ModelSpec(name=str(out))).chat_template


def test_sft_loss_covers_assistant_tokens_only(published, tmp_path):
    from train.sft import build_trainer

    trainer, tok, _ = build_trainer(load_recipe(recipe_file(tmp_path, "sft", sft_body(published)), "sft"))
    row = trainer.train_dataset[0]
    batch = trainer.data_collator([row])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    trained = tok.decode([t for t, lab in zip(ids, labels, strict=True) if lab != -100])
    # the tokenised row keeps no text: compare with the conversation it came from
    messages = load_split(DataSpec(dataset=str(published), config="sft", limit=1), "sft")[0]["messages"]
    expected = "".join(m["content"] + "<|im_end|>" for m in messages if m["role"] == "assistant")
    assert trained == expected
    assert "Patient:" not in trained and "You are a" not in trained


def test_dpo_loss_decreases(published, tmp_path):
    from train.dpo import train_dpo

    body = {"data": {"dataset": str(published), "config": "dpo", "limit": 24},
            "trainer": {**CPU, "max_steps": 6, "learning_rate": 5e-6, "beta": 0.1,
                        "per_device_train_batch_size": 2, "max_length": 512}}  # fmt: skip
    report = train_dpo(load_recipe(recipe_file(tmp_path, "dpo", body), "dpo"))
    loss = report["loss"]
    assert report["global_step"] == 6 and loss["first"] == pytest.approx(0.6931, abs=1e-3)  # log 2 at start
    assert loss["last_quarter_mean"] < loss["first_quarter_mean"], loss
    assert 0 < report["rows_used"] <= report["rows"] <= 24  # rows TRL drops (prompt > max_length) are counted


def test_grpo_runs_with_the_verifier_reward(published, sft_model, tmp_path):
    from train.grpo import train_grpo

    body = {"model": {"name": str(sft_model[0]), "dtype": "float32"},
            "data": {"dataset": str(published), "config": "rl", "limit": 4},
            "trainer": {**CPU, "max_steps": 2, "learning_rate": 1e-6, "per_device_train_batch_size": 2,
                        "num_generations": 2, "max_completion_length": 96, "temperature": 1.0}}  # fmt: skip
    report = train_grpo(load_recipe(recipe_file(tmp_path, "grpo", body), "grpo"))
    history = json.loads((Path(report["output_dir"]) / "log_history.json").read_text())
    rewards = [h["rewards/verifier/mean"] for h in history if "rewards/verifier/mean" in h]
    assert report["global_step"] == 2 and len(rewards) == 2
    assert all(r in (0.0, 0.1, 1.0) or 0.0 <= r <= 1.0 for r in rewards)


def ttt_body(pub: Path, **spec) -> dict:
    return {"queries": {"dataset": str(pub), "config": "sft", "split": "test", "limit": 4},
            "ttt": {"index": {"dataset": str(pub), "config": "sft", "split": "train"}, "k": 2, "steps": 2,
                    "lr": 5e-5, "batch_size": 2, "max_length": 384, "rich_threshold": 0.3,
                    "check_restore": True, **spec}}  # fmt: skip


def test_ttt_restores_weights_exactly_and_lowers_neighbour_rich_perplexity(published, tmp_path):
    from train.ttt import train_ttt

    report = train_ttt(load_recipe(recipe_file(tmp_path, "ttt", ttt_body(published)), "ttt"))
    s = report["summary"]
    assert s["weights_restored_every_query"] is True and all(q["restored"] for q in report["queries"])
    assert s["neighbour_rich"] >= 1
    assert s["ppl_ttt_rich"] < s["ppl_base_rich"], s
    # never a neighbour from the query's own case or problem
    for q in report["queries"]:
        assert len(q["neighbours"]) == 2


def test_adapted_changes_weights_inside_and_restores_them_after(published, tmp_path):
    from train.lm import ConversationEncoder
    from train.models import load_model
    from train.recipe import TTTSpec
    from train.ttt import TestTimeTrainer, checksum

    spec_model = ModelSpec(name="embedded", dtype="float32")
    tok = load_tokenizer(spec_model)
    conv = [{"role": "user", "content": "What is first line for type 2 diabetes?"},
            {"role": "assistant", "content": "## Thinking\nGuidelines.\n\n## Final Response\nMetformin."}]  # fmt: skip
    for mode in ("full", "lora"):
        spec = TTTSpec(index={"dataset": str(published)}, steps=2, lr=1e-3, mode=mode, batch_size=1)
        ttt = TestTimeTrainer(load_model(spec_model), ConversationEncoder(tok, "embedded"), spec)
        before = checksum(ttt.model)
        with ttt.adapted([conv]) as info:
            assert checksum(ttt.model) != before, mode  # the steps did change the weights
            assert len(info["ttt_losses"]) == 2
        assert checksum(ttt.model) == before, mode
        if mode == "lora":
            assert all(not p.requires_grad for n, p in ttt.model.named_parameters() if "lora_" not in n)


def test_eval_with_ttt_side_by_side_and_replay(published, sft_model, tmp_path):
    body = {"model": {"name": str(sft_model[0]), "dtype": "float32"},
            "tasks": {"perplexity": {"data": {"dataset": str(published), "config": "sft", "split": "test",
                                              "limit": 2}},
                      "mcq": {"data": {"dataset": str(published), "config": "problems", "split": "test",
                                       "limit": 2}},
                      "open_ended": {"data": {"dataset": str(published), "config": "rl", "split": "test",
                                              "limit": 2}},
                      "replay": {"data": {"dataset": str(published), "config": "cases", "split": "test",
                                          "limit": 1}, "min_turns": 1, "max_turns": 2, "doctor_max_tokens": 48,
                                 "patient_max_tokens": 48}},
            "generation": {"max_new_tokens": 48, "batch_size": 2},
            "ttt": {"index": {"dataset": str(published), "config": "sft", "split": "train"}, "k": 2, "steps": 1,
                    "lr": 2e-5, "batch_size": 2, "max_length": 384}}  # fmt: skip
    r = CliRunner().invoke(app, ["eval", str(recipe_file(tmp_path, "eval", body))])
    assert r.exit_code == 0, r.output
    assert "with TTT" in r.output and "mcq accuracy" in r.output and "replay accuracy" in r.output
    res = json.loads((tmp_path / "out-eval" / "eval_results.json").read_text())
    for task in ("perplexity", "mcq", "open_ended"):
        assert task in res["base"] and task in res["ttt"]
    assert res["base"]["perplexity"]["perplexity"] > 1 and res["ttt"]["perplexity"]["perplexity"] > 1
    assert len(res["base"]["mcq"]["items"]) == 2 and len(res["base"]["open_ended"]["items"]) == 2
    replay = res["base"]["replay"]
    assert replay["n"] == 1 and replay["items"][0]["doctor_turns"] >= 1 and replay["items"][0]["replies"]
    assert replay["items"][0]["termination"] in ("final_diagnosis", "forced_final", "loop_detected")


def test_bad_input_stops_before_training(published, tmp_path):
    from train.sft import train_sft

    # a view lacking the columns the method needs
    with pytest.raises(DataError, match="the sft view needs columns"):
        body = sft_body(published)
        body["data"]["config"] = "rl"
        train_sft(load_recipe(recipe_file(tmp_path, "sft", body), "sft"))
    # a model without a chat template
    bare = tmp_path / "bare"
    tok = load_tokenizer(ModelSpec(name="embedded"))
    tok.chat_template = None
    tok.save_pretrained(bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    (bare / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="has no chat template"):
        load_tokenizer(ModelSpec(name=str(bare)))
    r = CliRunner().invoke(app, ["sft", str(recipe_file(tmp_path, "sft", {**sft_body(published),
                                                                          "model": {"name": str(bare)}}))])  # fmt: skip
    assert r.exit_code == 2 and "has no chat template" in r.output
