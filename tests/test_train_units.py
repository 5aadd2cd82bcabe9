"""The train package without a model: recipes, dataset checks, the reward, answer-letter and doctor-reply
parsing, the CLI's errors, and that train never imports the generator (but for consultation replay)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas.yamlfile import ConfigError
from train.cli import app
from train.data import DataError, load_split
from train.evaluate import extract_letter, mcq_items
from train.recipe import DataSpec, MCQTask, RewardSpec, load_recipe
from train.replay import parse_doctor_reply
from train.reward import VerifierReward, parse_response

from .train_corpus import build_published

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "configs" / "train"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return build_published(tmp_path_factory.mktemp("corpus"), n_cases=6, n_mcqs=12)


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


SFT = """\
method: sft
output_dir: out
model: {name: embedded}
data: {dataset: ./pub}
trainer:
  learning_rate: 1.0e-5
"""


# ------------------------------------------------------------------------------------------ recipes


def test_every_shipped_recipe_loads():
    files = sorted(RECIPES.glob("*.yaml"))
    assert len(files) >= 8
    for f in files:
        method = f.name.split("-")[0]
        recipe = load_recipe(f, method)
        assert recipe.output_dir.is_absolute()


def test_recipe_paths_and_default_configs(tmp_path):
    r = load_recipe(write(tmp_path, SFT), "sft")
    assert r.output_dir == (tmp_path / "out").resolve()
    assert r.data.dataset == str((tmp_path / "pub").resolve()) and r.data.config == "sft"
    grpo = load_recipe(write(tmp_path, SFT.replace("method: sft", "method: grpo")), "grpo")
    assert grpo.data.config == "rl"
    hub = load_recipe(write(tmp_path, SFT.replace("./pub", "org/med-dataset")), "sft")
    assert hub.data.dataset == "org/med-dataset"  # not on disk: a Hub id


def test_unknown_keys_name_line_and_suggest(tmp_path):
    bad = SFT.replace("data: {dataset: ./pub}", "data:\n  splitt: x\n  dataset: ./pub")
    with pytest.raises(ConfigError, match=r"line 5: data\.splitt: unknown key \(did you mean 'split'\?\)"):
        load_recipe(write(tmp_path, bad), "sft")
    with pytest.raises(
        ConfigError,
        match=r"line 6: trainer\.learnig_rate: not a field of TRL's SFTConfig \(did you mean 'learning_rate'\?\)",
    ):
        load_recipe(write(tmp_path, SFT.replace("learning_rate", "learnig_rate")), "sft")
    with pytest.raises(ConfigError, match=r"trainer\.output_dir: set it at the top of the recipe"):
        load_recipe(write(tmp_path, SFT + "  output_dir: elsewhere\n"), "sft")
    with pytest.raises(ConfigError, match=r"this is a sft recipe; run it with `train sft`"):
        load_recipe(write(tmp_path, SFT), "dpo")
    grpo = SFT.replace("method: sft", "method: grpo") + "reward: {correct: 0.1, wrong: 1.0}\n"
    with pytest.raises(ConfigError, match=r"reward: Value error, rewards must satisfy correct > wrong"):
        load_recipe(write(tmp_path, grpo), "grpo")


# ------------------------------------------------------------------------------------------ datasets


def test_dataset_checks_name_what_is_missing(published, tmp_path):
    ds = load_split(DataSpec(dataset=str(published), config="sft"), "sft")
    assert len(ds) > 0 and "messages" in ds.column_names
    with pytest.raises(DataError, match=r"no config 'nope' \(it has: .*sft"):
        load_split(DataSpec(dataset=str(published), config="nope"), "sft")
    with pytest.raises(
        DataError, match=r"the dpo view needs columns \['prompt', 'chosen', 'rejected'\]; missing"
    ):
        load_split(DataSpec(dataset=str(published), config="sft"), "dpo")
    with pytest.raises(DataError, match="no such split"):
        load_split(DataSpec(dataset=str(published), config="sft", split="validation"), "sft")
    with pytest.raises(DataError, match="no such dataset folder"):
        load_split(DataSpec(dataset=str(tmp_path / "missing"), config="sft"), "sft")


def test_mcq_items_from_a_file_and_from_published_problems(published, tmp_path):
    f = tmp_path / "mcq.jsonl"
    rows = [
        {"id": "q1", "question": "Q one?", "options": {"A": "x", "B": "y"}, "answer_idx": "B"},
        {"id": "q2", "question": "Q two?", "options": [{"key": "A", "value": "x"}, {"key": "B", "value": "y"}],
         "answer_idx": "A"},
        {"id": "q3", "question": "MedMCQA?", "opa": "x", "opb": "y", "opc": "z", "opd": "w", "cop": 3},
        {"id": "q4", "question": "bad", "options": {"A": "x"}, "answer_idx": "C"},
    ]  # fmt: skip
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    items, skipped = mcq_items(MCQTask(data=DataSpec(dataset=str(f))))
    assert [(i["id"], i["answer"]) for i in items] == [("q1", "B"), ("q2", "A"), ("q3", "C")]
    assert len(skipped) == 1 and skipped[0].startswith("row 4:")
    items, skipped = mcq_items(MCQTask(data=DataSpec(dataset=str(published), config="problems")))
    assert items and not skipped and all(len(i["options"]) == 5 for i in items)


# ------------------------------------------------------------------------------------------ parsing


def test_reward_follows_huatuogpt_o1():
    r = VerifierReward(RewardSpec())
    good = "## Thinking\nST elevation in II, III, aVF.\n\n## Final Response\nInferior STEMI"
    assert r.score(good, "inferior ST-elevation myocardial infarction") == 1.0
    assert r.score(good.replace("Inferior STEMI", "Anterior STEMI"), "inferior STEMI") == 0.1
    assert r.score("Inferior STEMI", "inferior STEMI") == 0.0  # no sections: unformatted
    assert (
        r.score("## Thinking\n\n## Final Response\nInferior STEMI", "inferior STEMI") == 0.0
    )  # empty thinking
    # TRL's call: conversational completions and the dataset's columns as lists
    out = r(prompts=[[{"role": "user", "content": "q"}]] * 2,
            completions=[[{"role": "assistant", "content": good}], [{"role": "assistant", "content": "no"}]],
            answer=["inferior STEMI", "inferior STEMI"], aliases=[[], []], trainer_state=None)  # fmt: skip
    assert out == [1.0, 0.0]
    unsure = VerifierReward(RewardSpec(unsure=0.05))
    assert unsure.score("## Thinking\nx\n## Final Response\ninfarction", "myocardial infarction") == 0.05
    p = parse_response("## thinking:\na\n### Final Response\nb\n## Final Response\nc")
    assert (p.thinking, p.final) == ("a", "c")


@pytest.mark.parametrize(
    "reply,letter",
    [("B", "B"), ("(B)", "B"), ("B. Aortic stenosis", "B"), ("The answer is B.", "B"), ("Answer: C", "C"),
     ("**B**", "B"), ("## Thinking\nA is wrong.\n\n## Final Response\nB", "B"),
     ("A 71-year-old man... this is aortic stenosis.", "B"),
     ("A. Mitral regurgitation\nB. Aortic stenosis\nC. VSD", None),  # lists the options: no commitment
     ("E", None), ("Either mitral regurgitation or aortic stenosis", None)],
)  # fmt: skip
def test_extract_letter(reply, letter):
    assert extract_letter(reply, {"A": "Mitral regurgitation", "B": "Aortic stenosis", "C": "VSD"}) == letter


def test_parse_doctor_reply_reads_the_sft_format():
    p = parse_doctor_reply(
        "<reasoning>\nChest pain at rest.\nDifferential: acute MI (0.60); pericarditis (0.20)\n</reasoning>\n\n"
        "When did it start?"
    )
    assert p["action"] == "ask" and p["text"] == "When did it start?"
    assert p["ddx"] == [("acute MI", 0.6), ("pericarditis", 0.2)] and p["reasoning"] == "Chest pain at rest."
    t = parse_doctor_reply("I would like these examinations or tests: ECG, troponin")
    assert (t["action"], t["text"]) == ("request_test", "ECG, troponin")
    f = parse_doctor_reply("Final diagnosis: inferior STEMI\nPlan: PCI now.")
    assert (f["action"], f["text"], f["plan"]) == ("final_diagnosis", "inferior STEMI", "PCI now.")


# ------------------------------------------------------------------------------------------ the CLI


def test_cli_errors_before_training(published, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["sft", str(write(tmp_path, SFT.replace("learning_rate", "learnig_rate")))])
    assert r.exit_code == 2 and "did you mean 'learning_rate'" in r.output
    recipe = write(tmp_path, SFT.replace("./pub", str(published)).replace("data: {", "data: {config: nope, "))
    r = runner.invoke(app, ["sft", str(recipe)])
    assert r.exit_code == 2 and "error:" in r.output and "no config 'nope'" in r.output
    r = runner.invoke(app, ["dpo", str(recipe), "--set", "data.config=sft", "--set", "method=dpo"])
    assert r.exit_code == 2 and "the dpo view needs columns" in r.output


def test_train_never_imports_the_generator():
    """Static: every `synth` import in train/ sits inside a function of train/replay.py."""
    for path in sorted((ROOT / "train").glob("*.py")):
        tree = ast.parse(path.read_text())
        top_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "synth" or n.startswith("synth.") for n in names):
                assert path.name == "replay.py" and id(node) not in top_level, f"{path.name} imports synth"
    # Dynamic: importing every module and building the CLI loads neither synth nor torch.
    code = ("import sys, train.cli, train.sft, train.dpo, train.grpo, train.ttt, train.evaluate, train.replay; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('synth', 'torch', 'trl', 'transformers')]; "
            "assert not bad, bad")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_set_paths_are_relative_to_the_current_directory(tmp_path, monkeypatch):
    from train.cli import _cwd_paths

    (tmp_path / "pub").mkdir()
    monkeypatch.chdir(tmp_path)
    got = _cwd_paths({"data.dataset": "pub", "output_dir": "out/x", "model.name": "embedded",
                      "ttt.index.dataset": "org/name", "trainer.max_steps": 3})  # fmt: skip
    assert got["data.dataset"] == str(tmp_path / "pub") and got["output_dir"] == str(tmp_path / "out" / "x")
    assert got["model.name"] == "embedded" and got["ttt.index.dataset"] == "org/name"
    assert got["trainer.max_steps"] == 3
