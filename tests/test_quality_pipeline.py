"""The quality filter's pipeline: reading a run folder (invalid rows, corrupt shards), the ledger, the funnel, the
complexity and quality judges with a scripted teacher, selection, the CLI (`synth filter`, `synth report`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from schemas import LedgerEntry, ReasoningTrace, SearchStep, VerifiableProblem
from synth.cli import app
from synth.config import ConfigError, load_config, load_filter_config
from synth.quality.base import make_doc
from synth.quality.config import FilterConfig
from synth.quality.judges import complexity_features, feature_score
from synth.quality.pipeline import run_filter
from synth.store.shards import ShardWriter, iter_records
from synth.teachers.teacher import Teacher
from tests.fakes import ScriptedBackend


def trace(i: int, steps: int = 1, thinking: int = 1) -> ReasoningTrace:
    st = [
        SearchStep(
            iteration=k,
            strategy="init" if k == 0 else "correct",
            thinking=[
                f"step {k}.{j} of problem {i}: " + "reasoning " * (5 * (k + 1)) for j in range(thinking)
            ],
            conclusion="metformin" if k == steps - 1 else "glipizide",
            verdict="true" if k == steps - 1 else "false",
        )
        for k in range(steps)
    ]
    return ReasoningTrace(
        problem_id=f"prob-{i}", question=f"Question {i}: which drug first?", ground_truth="metformin", steps=st,
        success=True, natural_thinking="Hmm. " * (20 * steps), final_response="Metformin.",
    )  # fmt: skip


def write_run(root: Path, traces: list[ReasoningTrace], problems: list[VerifiableProblem] = ()) -> Path:
    for table, recs in (("reasoning", traces), ("problems", list(problems))):
        if recs:
            w = ShardWriter(root, table, "t", 0, max_records=1000, max_bytes=2**30)
            w.write([(r.id, r.id, r.schema_version, r.model_dump_json()) for r in recs])
    (root / "manifest.json").write_text(json.dumps({"run_id": "r1", "teachers": {"default": "x"}}))
    (root / "quarantine.jsonl").write_text("")
    return root


def cfg(stages: list[dict], **kw) -> FilterConfig:
    return FilterConfig.model_validate({"stages": stages, **kw})


def ledger(out: Path) -> list[LedgerEntry]:
    return [LedgerEntry.model_validate_json(x) for x in (out / "ledger.jsonl").read_text().splitlines()]


def test_features_are_absolute_and_selection_drops_to_the_ledger(tmp_path):
    traces = [trace(0, steps=1), trace(1, steps=3, thinking=3), trace(2, steps=2, thinking=2)]
    run = write_run(tmp_path / "in", traces)
    f = [feature_score(make_doc("reasoning", t)) for t in traces]
    assert f[1] > f[2] > f[0] and all(1 <= x <= 10 for x in f)  # type: ignore[operator]
    # absolute: a record's score does not depend on the batch it comes in
    assert feature_score(make_doc("reasoning", traces[0])) == f[0]
    assert complexity_features(make_doc("reasoning", traces[1]))["search_steps"] == 3

    res = asyncio.run(
        run_filter(
            run, tmp_path / "out", cfg([{"stage": "complexity", "select": {"threshold": f[2] - 0.01}}])
        )
    )
    kept = list(iter_records(res.out, "reasoning", ReasoningTrace))
    assert sorted(t.problem_id for t in kept) == ["prob-1", "prob-2"]
    assert all("complexity" in t.scores and "complexity_features" in t.scores for t in kept)
    [drop] = ledger(res.out)
    assert (drop.record_id, drop.stage) == (traces[0].id, "complexity") and "below" in drop.reason
    funnel = json.loads((res.out / "funnel.json").read_text())
    assert [(x["stage"], x["in"], x["out"]) for x in funnel] == [("input", 3, 3), ("complexity", 3, 2)]
    assert json.loads((res.out / "manifest.json").read_text())["filter"]["input"] == str(run)
    assert (res.out / "quarantine.jsonl").exists()


def test_top_fraction(tmp_path):
    run = write_run(tmp_path / "in", [trace(i, steps=1 + i % 3, thinking=1 + i % 3) for i in range(6)])
    res = asyncio.run(
        run_filter(run, tmp_path / "out", cfg([{"stage": "complexity", "select": {"top_fraction": 0.5}}]))
    )
    assert res.kept == {"reasoning": 4} and res.dropped == 2  # ties at the cut are kept


def test_invalid_rows_and_corrupt_shards_are_in_the_ledger(tmp_path, capsys):
    run = write_run(tmp_path / "in", [trace(0)])
    # The writer validates on the way in, so the invalid row comes in an older run's JSON-column shard.
    broken = json.loads(trace(1).model_dump_json())
    del broken["steps"]
    pq.write_table(pa.table({"id": ["trace-broken"], "item_id": ["x"], "schema_version": ["1.0"],
                             "record": [json.dumps(broken)]}), run / "data" / "reasoning" / "part-00001-bad.parquet")  # fmt: skip
    (run / "data" / "reasoning" / "part-00009-junk.parquet").write_bytes(b"not parquet at all")
    res = asyncio.run(run_filter(run, tmp_path / "out", cfg([{"stage": "complexity"}])))
    entries = {e.stage: e for e in ledger(res.out)}
    assert (
        entries["validate"].record_id == "trace-broken"
        and "steps: Field required" in entries["validate"].reason
    )
    assert (
        entries["read"].record_id == "part-00009-junk.parquet" and "corrupt shard" in entries["read"].reason
    )
    assert "part-00009-junk.parquet" in capsys.readouterr().err
    assert res.kept == {"reasoning": 1}


def test_out_is_replaced_only_with_force(tmp_path):
    run = write_run(tmp_path / "in", [trace(0)])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")
    from synth.quality.pipeline import FilterError

    with pytest.raises(FilterError, match="--force"):
        asyncio.run(run_filter(run, tmp_path / "out", cfg([{"stage": "complexity"}])))
    asyncio.run(run_filter(run, tmp_path / "out", cfg([{"stage": "complexity"}]), force=True))
    assert not (tmp_path / "out" / "old.txt").exists() and (tmp_path / "out" / "funnel.json").exists()


def judge_teacher(script) -> Teacher:
    return Teacher("judge", ScriptedBackend(script), cache=None)


def test_judges_score_select_and_drop_failures(tmp_path):
    from synth.teachers.errors import ServerError

    traces = [trace(i, steps=1 + i % 2) for i in range(4)]
    run = write_run(tmp_path / "in", traces)

    def script(req):
        system, user = req.messages[0]["content"], req.messages[-1]["content"]
        i = int(user.split("Question ")[1][0])
        if "how much clinical reasoning" in system:
            return {"score": 2 + 2 * i, "rationale": "ok"}
        if i == 3:
            return ServerError("boom")
        return {"clinical_correctness": 3 + 3 * i, "reasoning_coherence": 9, "rationale": f"fine {i}"}

    stages = [
        {"stage": "complexity", "judge": "judge", "judge_weight": 1.0},
        {"stage": "quality", "judge": "judge", "min_score": 7},
    ]
    res = asyncio.run(
        run_filter(run, tmp_path / "out", cfg(stages, concurrency=2), {"judge": judge_teacher(script)})
    )
    kept = {t.problem_id: t for t in iter_records(res.out, "reasoning", ReasoningTrace)}
    assert sorted(kept) == ["prob-1", "prob-2"]
    assert kept["prob-2"].scores["complexity"] == 6 and kept["prob-2"].scores["quality"] == 9.0
    reasons = {e.record_id: (e.stage, e.reason) for e in ledger(res.out)}
    assert reasons[traces[0].id] == ("quality", "quality 6.00 below 7: fine 0")  # (3 + 9) / 2
    assert reasons[traces[3].id][0] == "quality" and reasons[traces[3].id][1].startswith(
        "judge_failed: ServerError"
    )


def test_filter_and_report_cli(tmp_path):
    run = write_run(tmp_path / "in", [trace(i, steps=1 + i % 3, thinking=1 + i % 2) for i in range(5)])
    fy = tmp_path / "filter.yaml"
    fy.write_text(yaml.safe_dump({"stages": [{"stage": "complexity", "select": {"top_fraction": 0.6}}]}))
    r = CliRunner().invoke(app, ["filter", str(run), str(tmp_path / "out"), "--config", str(fy)])
    assert r.exit_code == 0, r.output
    assert "complexity: 5 -> 3" in r.output and "synth report" in r.output
    r = CliRunner().invoke(app, ["filter", str(run), str(tmp_path / "out"), "--config", str(fy)])
    assert r.exit_code == 2 and "--force" in r.output
    r = CliRunner().invoke(app, ["report", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "Funnel" in r.output and "complexity" in r.output and "Scores" in r.output
    pngs = sorted(p.name for p in (tmp_path / "out" / "plots").glob("*.png"))
    assert pngs == ["funnel.png", "scores-reasoning.png"]
    assert (tmp_path / "out" / "plots" / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(app, ["report", str(tmp_path / "out"), "--json", "--no-plots"])
    rep = json.loads(r.stdout)
    assert rep["ledger"]["by_stage"] == {"complexity": {"complexity": 2}}
    assert rep["scores"]["reasoning"]["complexity"]["n"] == 3


def test_filter_config_errors(tmp_path, write_config):
    fy = tmp_path / "f.yaml"
    fy.write_text(yaml.safe_dump({"stages": [{"stage": "complexity", "judgee": "x"}]}))
    with pytest.raises(ConfigError, match=r"stages\.0\.judgee: unknown key \(did you mean 'judge'\?\)"):
        load_filter_config(fy)
    fy.write_text(yaml.safe_dump({"stages": [{"stage": "quality", "judge": "nope"}]}))
    with pytest.raises(ConfigError, match="names teacher 'nope'"):
        load_filter_config(fy)
    fy.write_text(yaml.safe_dump({"stages": [{"stage": "decontaminate", "benchmarks": ["missing.jsonl"]}]}))
    with pytest.raises(ConfigError, match=r"stages\[0\]\.benchmarks: .*missing\.jsonl does not exist"):
        load_filter_config(fy)
    base = {"run": {"output": str(tmp_path / "o")}, "teachers": {"default": {"backend": "local"}}}
    with pytest.raises(ConfigError, match=r"filter\.stages\[0\]\.judge names teacher 'nope'"):
        load_config(write_config({**base, "filter": {"stages": [{"stage": "quality", "judge": "nope"}]}}))
    c = load_config(write_config({**base, "filter": {"stages": [{"stage": "quality", "judge": "default"}]}}))
    assert c.filter is not None and c.filter.stages[0].stage == "quality"


def test_run_with_a_filter_section_filters_its_own_records(tmp_path, write_config):
    """`synth run` with consultations and a `filter:` section, against a real HTTP server (the stub): the run's
    records come out in OUT/filtered with a funnel, and every record is either kept or in the ledger."""
    from synth.store.shards import iter_records as records
    from tests.servers.openai_stub import StubServer

    with StubServer(latency_ms=0) as stub:
        out = tmp_path / "out"
        path = write_config(
            {
                "run": {"output": str(out), "concurrency": 8},
                "teachers": {
                    "default": {
                        "backend": "openai",
                        "model": "stub",
                        "base_url": stub.base_url,
                        "api_key_env": None,
                    }
                },
                "consultations": {"cases": "seeds", "limit": 4, "min_turns": 2, "max_turns": 3},
                "filter": {
                    "stages": [
                        {"stage": "heuristics", "min_turns": 2, "language": None},
                        {"stage": "exact_dedup"},
                        {"stage": "complexity", "select": {"top_fraction": 0.5}},
                    ]
                },
            }
        )
        r = CliRunner().invoke(app, ["run", str(path), "--plain"])
    assert r.exit_code == 0, r.output
    assert "filtered:" in r.output and "synth report" in r.output
    from schemas import Consultation

    kept = list(records(out / "filtered", "consultations", Consultation))
    dropped = ledger(out / "filtered")
    assert len(kept) + len(dropped) == 4 and kept and all("complexity" in c.scores for c in kept)
    funnel = json.loads((out / "filtered" / "funnel.json").read_text())
    assert [f["stage"] for f in funnel] == ["input", "heuristics", "exact_dedup", "complexity"]
