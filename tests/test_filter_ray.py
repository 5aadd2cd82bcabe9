"""`synth filter --executor ray` on a local Ray cluster (127.0.0.1, 2 CPUs): the same output as the local filter.

The input holds families of near-duplicate reasoning traces (copies, light edits, reorderings) among distinct
ones, so both dedup stages drop records; the Ray run embeds on an actor pool and computes MinHash signatures in
Ray tasks (chunks small enough here that several run), and its ledger, funnel counts and kept records must be
the local run's, record for record.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from schemas import ReasoningTrace, SearchStep
from synth.cli import app
from synth.quality.config import FilterConfig
from synth.quality.pipeline import run_filter
from synth.store.shards import iter_records
from tests.test_quality_pipeline import write_run

pytestmark = pytest.mark.slow

DRUGS = ["metformin", "lisinopril", "amoxicillin", "salbutamol", "warfarin", "omeprazole", "sertraline"]
ORGANS = ["kidney", "heart", "lung", "liver", "skin", "bowel", "brain"]


def _trace(i: int, family: int, variant: int) -> ReasoningTrace:
    drug, organ = DRUGS[family % len(DRUGS)], ORGANS[(family * 3) % len(ORGANS)]
    sentences = [
        f"Patient {family} presents with {organ} trouble lasting {family + 2} weeks.",
        f"The history points to a {organ} cause and the examination agrees with it.",
        f"First line therapy is {drug}, started at a low dose and reviewed in {family + 1} weeks.",
        f"Bloods for the {organ} are checked before {drug} is increased.",
    ]
    if variant == 1:
        sentences[1] = f"The history suggests a {organ} cause and the exam agrees with it."
    if variant == 2:
        sentences = [sentences[1], sentences[0], *sentences[2:]]
    step = SearchStep(iteration=0, strategy="init", thinking=sentences, conclusion=drug, verdict="true")
    return ReasoningTrace(
        problem_id=f"prob-{i}", question=f"Which drug first for patient {family}?", ground_truth=drug,
        steps=[step], success=True, natural_thinking=" ".join(sentences), final_response=f"{drug}.",
    )  # fmt: skip


STAGES = [
    {"stage": "exact_dedup"},
    {"stage": "near_dedup", "threshold": 0.77, "ngram": 3},
    {"stage": "semantic_dedup", "threshold": 0.95, "batch_size": 4},
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    traces = [_trace(f * 3 + v, f, v) for f in range(7) for v in range(3)]
    traces += [_trace(100 + f, 10 + f, 0) for f in range(5)]  # distinct families, one member each
    return write_run(tmp_path_factory.mktemp("in"), traces)


@pytest.fixture(scope="module")
def ray_compute():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from synth.quality.ray_exec import RayCompute

    compute = RayCompute(None, num_cpus=2, minhash_chunk=5)
    yield compute
    compute.ray.shutdown()


def _outputs(out: Path) -> tuple[list[tuple], list[str], list[tuple]]:
    ledger = [json.loads(x) for x in (out / "ledger.jsonl").read_text().splitlines()]
    drops = sorted((e["record_id"], e["stage"], e["reason"], e.get("duplicate_of")) for e in ledger)
    kept = sorted(t.model_dump_json() for t in iter_records(out, "reasoning", ReasoningTrace))
    funnel = json.loads((out / "funnel.json").read_text()) if (out / "funnel.json").exists() else []
    counts = [(f["stage"], f["in"], f["out"]) for f in funnel] if isinstance(funnel, list) else []
    return drops, kept, counts


def test_the_ray_filter_equals_the_local_filter(run_dir: Path, ray_compute, tmp_path: Path) -> None:
    cfg = FilterConfig.model_validate({"stages": STAGES})
    local = asyncio.run(run_filter(run_dir, tmp_path / "local", cfg))
    on_ray = asyncio.run(run_filter(run_dir, tmp_path / "ray", cfg, compute=ray_compute))
    drops_local, kept_local, _ = _outputs(local.out)
    drops_ray, kept_ray, _ = _outputs(on_ray.out)
    stages = {d[1] for d in drops_local}
    assert {"near_dedup", "semantic_dedup"} <= stages, drops_local  # both stages had work to do
    assert drops_ray == drops_local
    assert kept_ray == kept_local and len(kept_local) == 7 + 5  # one per family
    assert [(f["stage"], f["in"], f["out"]) for f in on_ray.funnel] == [
        (f["stage"], f["in"], f["out"]) for f in local.funnel
    ]


def test_the_ray_embedder_gives_the_local_vectors_bit_for_bit(ray_compute) -> None:
    import numpy as np

    from synth.quality.embed import load_embedder

    texts = [" ".join(_trace(i, i, 0).steps[0].thinking) * (1 + i % 4) for i in range(30)] + [""]
    local = load_embedder("all-MiniLM-L6-v2").encode(texts, batch_size=4)
    remote = ray_compute.embedder("all-MiniLM-L6-v2").encode(texts, batch_size=4)
    assert remote.shape == local.shape and np.array_equal(remote, local)


def test_the_cli_runs_the_filter_on_ray(run_dir: Path, ray_compute, tmp_path: Path) -> None:
    cfg_path = tmp_path / "filter.yaml"
    cfg_path.write_text(yaml.safe_dump({"stages": STAGES}))
    out = tmp_path / "cli"
    # The fixture's cluster is already up in this process: `--executor ray` connects to it.
    res = CliRunner().invoke(
        app, ["filter", str(run_dir), str(out), "--config", str(cfg_path), "--executor", "ray"]
    )
    assert res.exit_code == 0, res.output
    local = asyncio.run(
        run_filter(run_dir, tmp_path / "local", FilterConfig.model_validate({"stages": STAGES}))
    )
    assert _outputs(out)[:2] == _outputs(local.out)[:2]
