"""RLAIF: the judge job's both-orders guard, the `rm` view, and the reward model's recipe and accuracy."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from schemas.preference import PreferencePair
from synth.config import load_config
from synth.runner import Runner, build_jobs
from synth.store.shards import iter_records
from synth.teachers.base import Request
from tests.fakes import ScriptedBackend

from .train_corpus import build_run, seed_mcqs

_AB = re.compile(r"Response A:\n(?P<a>.*)\n\nResponse B:\n(?P<b>.*)", re.S)


def _sides(req: Request) -> tuple[str, str]:
    m = _AB.search(req.messages[-1]["content"])
    assert m, req.messages[-1]["content"][:200]
    return m.group("a"), m.group("b")


def _answer(a: int, b: int, preferred: str) -> dict[str, Any]:
    def side(v: int) -> dict[str, int]:
        return {"diagnostic_accuracy": v, "history_completeness": v, "safety": v, "communication": v}

    return {"a": side(a), "b": side(b), "preferred": preferred, "rationale": "The diagnosis decides it."}


def truth_judge(truths: set[str]) -> Any:
    """Prefers the response whose final diagnosis / answer is one of the truths, whatever its position."""

    def final(text: str) -> str:
        found = re.findall(r"(?:Final diagnosis:|## Final Response\n\n)\s*([^\n]+)", text)
        return found[-1].strip().rstrip(".").lower() if found else ""

    def script(req: Request) -> dict[str, Any]:
        a, b = _sides(req)
        ra, rb = final(a) in truths, final(b) in truths
        return _answer(8 if ra else 3, 8 if rb else 3, "A" if ra >= rb else "B")

    return script


def position_judge(req: Request) -> dict[str, Any]:
    """Always prefers what it sees first: the guard must drop every pair it judges."""
    return _answer(7, 4, "A")


@pytest.fixture
def corpus(tmp_path) -> tuple[Path, set[str]]:
    from synth.cases.seeds import load_seed_cases

    out = build_run(tmp_path / "out", n_cases=4, n_mcqs=4)
    truths = {c.answer.diagnosis.lower() for c in load_seed_cases()[:4]}
    truths |= {m["answer"].lower() for m in seed_mcqs()[:4]}
    return out, truths


def run_rlaif(write_config, out: Path, script: Any) -> tuple[list[PreferencePair], list[dict[str, Any]]]:
    cfg = load_config(write_config({"run": {"output": str(out), "concurrency": 2},
                                    "teachers": {"judge": {"backend": "local"}},
                                    "rlaif": {"judge": "judge"}}))  # fmt: skip
    asyncio.run(Runner(cfg, backends={"judge": ScriptedBackend(script)}, argv=["test"]).run(build_jobs(cfg)))
    q = out / "quarantine.jsonl"
    quarantine = [json.loads(x) for x in q.read_text().splitlines()] if q.exists() else []
    return list(iter_records(out, "preferences", PreferencePair)), quarantine


def test_consistent_judge_keeps_every_pair_with_scores_and_rationale(write_config, corpus):
    out, truths = corpus
    pairs, quarantine = run_rlaif(write_config, out, truth_judge(truths))
    assert quarantine == []
    assert sorted(p.kind for p in pairs) == ["consultation"] * 4 + ["problem"] * 4
    for p in pairs:
        assert p.chosen_score == 8 and p.rejected_score == 3 and p.margin == 5
        assert [v.order for v in p.verdicts] == ["first_second", "second_first"]
        assert all(v.rationale for v in p.verdicts) and p.provenance and len(p.provenance.calls) == 2
    consult = next(p for p in pairs if p.kind == "consultation")
    assert consult.prompt[0].role == "system" and consult.prompt[1].role == "user"
    assert consult.chosen[-1].content.lower().startswith("final diagnosis:")
    assert consult.chosen_id != consult.rejected_id


def test_position_biased_judge_loses_every_pair_to_the_quarantine(write_config, corpus):
    out, _ = corpus
    pairs, quarantine = run_rlaif(write_config, out, position_judge)
    assert pairs == []
    assert len(quarantine) == 8
    assert {q["error_type"] for q in quarantine} == {"position_bias"}
    assert all("first_second: A, second_first: A" in q["message"] for q in quarantine)


def test_only_the_inconsistent_pairs_are_dropped(write_config, corpus):
    """A judge biased on consultation pairs only: those go to the quarantine, the problem pairs are kept."""
    out, truths = corpus
    fair = truth_judge(truths)

    def mixed(req: Request) -> dict[str, Any]:
        a, _ = _sides(req)
        return fair(req) if a.startswith("Answer:") else position_judge(req)

    pairs, quarantine = run_rlaif(write_config, out, mixed)
    assert [p.kind for p in pairs] == ["problem"] * 4
    assert len(quarantine) == 4 and {q["error_type"] for q in quarantine} == {"position_bias"}


def test_a_preference_the_scores_contradict_is_not_kept(write_config, corpus):
    out, _ = corpus

    def contradict(req: Request) -> dict[str, Any]:
        a, b = _sides(req)
        longer_a = len(a) >= len(b)
        # names the longer response in both orders, but scores the other one higher: an unsure label
        return _answer(3 if longer_a else 8, 8 if longer_a else 3, "A" if longer_a else "B")

    pairs, quarantine = run_rlaif(write_config, out, contradict)
    assert pairs == [] and len(quarantine) == 8
    assert {q["error_type"] for q in quarantine} == {"score_disagrees"}


# ------------------------------------------------------------------------------------- the rm view


def labelled_and_published(write_config, tmp: Path, n_cases: int, n_mcqs: int) -> Path:
    """A scripted corpus, its pairs labelled by the truth judge, published with a 75/0/25 split."""
    from synth.cases.seeds import load_seed_cases
    from synth.publish import publish_folder

    out = build_run(tmp / "out", n_cases=n_cases, n_mcqs=n_mcqs)
    truths = {c.answer.diagnosis.lower() for c in load_seed_cases()[:n_cases]}
    truths |= {m["answer"].lower() for m in seed_mcqs()[:n_mcqs]}
    pairs, quarantine = run_rlaif(write_config, out, truth_judge(truths))
    assert pairs and not quarantine
    publish_folder([out], tmp / "pub", {"fractions": (0.75, 0.0, 0.25), "seed": 0})
    return tmp / "pub"


def test_rm_view_and_preferences_config_are_published(write_config, tmp_path):
    from datasets import load_dataset
    from synth.publish import publish_folder

    pub = labelled_and_published(write_config, tmp_path, 4, 4)
    rm = load_dataset(str(pub), "rm", split="train")
    assert {"prompt", "chosen", "rejected", "chosen_score", "rejected_score", "margin", "source"} <= set(
        rm.column_names
    )
    assert set(rm["source"]) <= {"consultation", "problem"} and all(m == 5 for m in rm["margin"])
    recs = load_dataset(str(pub), "preferences")
    n = sum(len(s) for s in recs.values())
    assert n == 8 == sum(len(s) for s in load_dataset(str(pub), "rm").values())
    card = (pub / "README.md").read_text()
    assert "config_name: rm" in card and "both orders" in card
    # a second publish of records without pairs rebuilds the rm view from the published preference records
    publish_folder([build_run(tmp_path / "again", n_cases=4, n_mcqs=4)], pub, {})
    assert sum(len(s) for s in load_dataset(str(pub), "rm").values()) == 8


def test_reward_recipe_is_strict(tmp_path):
    from schemas.yamlfile import ConfigError
    from train.recipe import load_recipe

    path = tmp_path / "r.yaml"
    body = {"output_dir": "o", "model": {"name": "embedded"}, "data": {"dataset": str(tmp_path)}}
    path.write_text(json.dumps({**body, "trainer": {"max_step": 2}}))
    with pytest.raises(ConfigError, match=r"trainer.max_step.*RewardConfig.*max_steps"):
        load_recipe(path, "reward")
    path.write_text(json.dumps({**body, "margin_scal": 0.1}))
    with pytest.raises(ConfigError, match="margin_scal"):
        load_recipe(path, "reward")
    path.write_text(json.dumps(body))
    assert load_recipe(path, "reward").data.config == "rm"  # type: ignore[attr-defined]
    grpo = {**body, "reward_model": {"name": "embedded", "weight": 0.3}, "trainer": {"reward_weights": [1]}}
    path.write_text(json.dumps(grpo))
    with pytest.raises(ConfigError, match="reward_weights"):
        load_recipe(path, "grpo")


CPU = {"use_cpu": True, "dataloader_num_workers": 0, "logging_steps": 1, "lr_scheduler_type": "constant"}


@pytest.mark.slow
def test_reward_model_beats_chance_on_held_out_pairs_and_rewards_grpo(write_config, tmp_path):
    """`train reward` on the judged pairs of the scripted corpus; `train eval` scores the held-out split; the
    reward model then scores GRPO completions beside the verifier, each weighted by the recipe."""
    import yaml

    from train.evaluate import run_eval
    from train.grpo import train_grpo
    from train.recipe import load_recipe
    from train.reward_model import train_reward

    pub = labelled_and_published(write_config, tmp_path, 4, 32)
    path = tmp_path / "reward.yaml"
    path.write_text(yaml.safe_dump({
        "method": "reward", "seed": 0, "output_dir": str(tmp_path / "rm"),
        "model": {"name": "embedded", "dtype": "float32"},
        "data": {"dataset": str(pub), "eval_split": "test"},
        "trainer": {**CPU, "max_steps": 8, "learning_rate": 5e-5, "per_device_train_batch_size": 2,
                    "max_length": 512},
    }))  # fmt: skip
    report = train_reward(load_recipe(path, "reward"))
    assert report["global_step"] == 8 and report["loss"]["steps_logged"] == 8
    acc = report["reward_accuracy"]
    print("reward accuracy on held-out pairs:", json.dumps(acc))
    assert acc["n"] >= 6 and acc["accuracy"] > 0.5, acc

    ev = tmp_path / "eval.yaml"
    ev.write_text(yaml.safe_dump({
        "method": "eval", "output_dir": str(tmp_path / "ev"), "model": {"name": str(tmp_path / "rm")},
        "tasks": {"reward": {"data": {"dataset": str(pub), "split": "test"}, "max_length": 512}},
    }))  # fmt: skip
    results = run_eval(load_recipe(ev, "eval"))  # type: ignore[arg-type]
    assert results["base"]["reward"]["accuracy"] == pytest.approx(acc["accuracy"])
    assert set(results["base"]["reward"]["by_source"]) <= {"consultation", "problem"}

    g = tmp_path / "grpo.yaml"
    g.write_text(yaml.safe_dump({
        "method": "grpo", "seed": 0, "output_dir": str(tmp_path / "grpo"),
        "model": {"name": "embedded", "dtype": "float32"},
        "data": {"dataset": str(pub), "config": "rl", "limit": 2},
        "reward": {"weight": 1.0}, "reward_model": {"name": str(tmp_path / "rm"), "weight": 0.5},
        "trainer": {**CPU, "max_steps": 1, "learning_rate": 1e-6, "per_device_train_batch_size": 2,
                    "num_generations": 2, "max_completion_length": 32, "temperature": 1.0},
    }))  # fmt: skip
    out = train_grpo(load_recipe(g, "grpo"))  # type: ignore[arg-type]
    history = json.loads((Path(out["output_dir"]) / "log_history.json").read_text())
    keys = {k for h in history for k in h}
    assert {"rewards/verifier/mean", "rewards/reward_model/mean"} <= keys, keys
