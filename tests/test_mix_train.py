"""A mixed sft view, as published, trains with TRL's SFTTrainer on the embedded model (CPU, a few steps):
the external rows go through the recipe's loader and the trainer's tokenisation untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from synth.publish import publish_folder
from train.recipe import load_recipe

from .conftest import SAMPLES
from .train_corpus import build_run

pytestmark = pytest.mark.slow

CPU = {"use_cpu": True, "dataloader_num_workers": 0, "logging_steps": 1, "lr_scheduler_type": "constant"}


def test_sft_trains_on_a_mixed_view(tmp_path: Path):
    from train.sft import train_sft

    run = build_run(tmp_path / "run", 2, 4)
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        "".join(
            json.dumps({"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}) + "\n"
            for q, a in [
                ("I have a sore throat and fever since Monday.", "That sounds like pharyngitis; any cough?"),
                ("My knee is hot and swollen this morning.", "Gout or infection: we should aspirate it."),
            ]
        )
    )
    mix = {"sources": [
        {"name": "chat", "path": str(chat), "licence": "cc-by-4.0"},
        {"name": "medqa", "path": str(SAMPLES / "mediq_craftmd_sample.jsonl"), "licence": "cc-by-4.0"},
    ]}  # fmt: skip
    pub = tmp_path / "pub"
    res = publish_folder([run], pub, {"fractions": (1.0, 0.0, 0.0), "mix": mix})
    assert {m["name"]: m["mixed"] for m in res.mix} == {"chat": 2, "medqa": 3}
    rows = pq.read_table(sorted((pub / "data" / "sft").glob("train-*.parquet"))).to_pylist()
    external = sum(r["source"].startswith("external:") for r in rows)
    assert external == 5
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(yaml.safe_dump({
        "method": "sft", "seed": 0, "output_dir": str(tmp_path / "out"),
        "model": {"name": "embedded", "dtype": "float32"},
        "data": {"dataset": str(pub), "config": "sft"},
        "trainer": {**CPU, "max_steps": 2, "learning_rate": 5e-5, "per_device_train_batch_size": 2,
                    "max_length": 384},
    }))  # fmt: skip
    report = train_sft(load_recipe(recipe, "sft"))
    assert report["global_step"] == 2 and report["rows"] == len(rows)
    assert report["loss"]["steps_logged"] == 2
