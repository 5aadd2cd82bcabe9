"""Curriculum by specialty: label columns on every view row, strict stage recipes, stages run in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from schemas.yamlfile import ConfigError
from synth.labels import label_card, label_text
from train.recipe import load_recipe

from .train_corpus import build_published


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return build_published(tmp_path_factory.mktemp("curriculum"), n_cases=8, n_mcqs=8)


def test_keyword_rules_label_or_say_none():
    a = label_text("A 70-year-old has palpitations; ECG shows atrial fibrillation. Next step?")
    assert (a.specialty, a.subspecialty, a.source) == ("cardiology", "electrophysiology", "keywords")
    assert label_text("Which of these is a prime number?").source == "none"
    # whole words only: 'burning' is not 'burn', 'rashly' not 'rash'
    assert label_text("He acted rashly after burning the toast").source == "none"


def test_case_card_labels_come_from_the_card():
    from synth.cases.seeds import load_seed_cases

    card = load_seed_cases()[0]
    got = label_card(card)
    assert got.specialty == card.specialty and got.source == "case_card"


def test_every_view_row_carries_labels_and_their_source(published):
    from datasets import load_dataset

    for config in ("sft", "dpo", "rl"):
        ds = load_dataset(str(published), config, split="train")
        assert {"specialty", "subspecialty", "label_source"} <= set(ds.column_names), config
        for row in ds:
            assert row["specialty"] and row["label_source"] in {"case_card", "keywords", "none"}
            if row["source"] == "consultation":
                assert row["label_source"] == "case_card"
            else:
                assert row["label_source"] in {"keywords", "none"}


def _recipe(tmp: Path, pub: Path, stages: list[dict]) -> Path:
    p = tmp / "sft.yaml"
    p.write_text(yaml.safe_dump({"method": "sft", "output_dir": str(tmp / "out"), "model": {"name": "embedded"},
                             "data": {"dataset": str(pub)}, "stages": stages}))  # fmt: skip
    return p


def test_stage_recipes_are_strict(tmp_path, published):
    with pytest.raises(ConfigError, match=r"stages.*wher"):
        load_recipe(_recipe(tmp_path, published, [{"name": "a", "max_steps": 1, "wher": {}}]), "sft")
    with pytest.raises(ConfigError, match="exactly one of max_steps and num_train_epochs"):
        load_recipe(
            _recipe(tmp_path, published, [{"name": "a", "max_steps": 1, "num_train_epochs": 1}]), "sft"
        )
    with pytest.raises(ConfigError, match="specialy"):
        load_recipe(_recipe(tmp_path, published, [{"name": "a", "max_steps": 1, "where": {"specialy": ["x"]}}]),
                    "sft")  # fmt: skip
    with pytest.raises(ConfigError, match="unique"):
        load_recipe(_recipe(tmp_path, published, [{"name": "a", "max_steps": 1}] * 2), "sft")


def test_a_stage_that_selects_nothing_stops_before_the_model(tmp_path, published):
    from train.data import DataError, load_split
    from train.sft import select_stage

    recipe = load_recipe(_recipe(tmp_path, published, [
        {"name": "general", "max_steps": 1},
        {"name": "eyes", "max_steps": 1, "where": {"specialty": ["Astrology"]}},
    ]), "sft")  # fmt: skip
    ds = load_split(recipe.data, "sft")  # type: ignore[attr-defined]
    assert len(select_stage(ds, recipe.stages[0], "x")) == len(ds)  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="stage 'eyes' selects no rows"):
        select_stage(ds, recipe.stages[1], "x")  # type: ignore[attr-defined]


CPU = {"use_cpu": True, "dataloader_num_workers": 0, "logging_steps": 1, "lr_scheduler_type": "constant"}


@pytest.mark.slow
def test_two_stage_curriculum_runs_in_order_on_one_model(tmp_path, published):
    from datasets import load_dataset
    from train.sft import train_sft

    ds = load_dataset(str(published), "sft", split="train")
    spec = ds[0]["specialty"]
    path = _recipe(tmp_path, published, [
        {"name": "general", "max_steps": 2},
        {"name": spec, "max_steps": 2, "learning_rate": 2e-5, "where": {"specialty": [spec]}},
    ])  # fmt: skip
    body = yaml.safe_load(path.read_text())
    body["model"]["dtype"] = "float32"
    body["trainer"] = {**CPU, "learning_rate": 5e-5, "per_device_train_batch_size": 1, "max_length": 384}
    path.write_text(yaml.safe_dump(body))
    report = train_sft(load_recipe(path, "sft"))  # type: ignore[arg-type]
    stages = report["stages"]
    print("curriculum stages:", json.dumps(stages))
    assert [s["name"] for s in stages] == ["general", spec]
    assert [s["global_step"] for s in stages] == [2, 2] and report["global_step"] == 4
    assert stages[0]["rows"] == len(ds) > stages[1]["rows"] == sum(r == spec for r in ds["specialty"])
    assert all(s["loss"]["steps_logged"] == 2 for s in stages)
    assert (Path(report["output_dir"]) / "model.safetensors").exists()
