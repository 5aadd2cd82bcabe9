"""Runner control flow with a scripted backend: records, quarantine, resume, orphans, status."""

from __future__ import annotations

import asyncio
import json

import pytest

from schemas import CaseCard
from synth.config import load_config
from synth.runner import Runner, build_jobs
from synth.status import collect_status
from synth.store.shards import iter_records, shard_paths
from synth.teachers.errors import ServerError
from tests.fakes import ScriptedBackend, good_case_draft, raw


def _cfg(write_config, tmp_path, n=12, **run):
    return load_config(
        write_config(
            {
                "run": {"output": str(tmp_path / "out"), "concurrency": 4, "shard_max_records": 5, **run},
                "teachers": {"default": {"backend": "local"}},
                "cases": {"synthesize": {"n": n}},
            }
        )
    )


def _run(cfg, backend, **kw):
    runner = Runner(cfg, backends={"default": backend}, argv=["test"], **kw)
    return asyncio.run(runner.run(build_jobs(cfg)))


def test_writes_valid_cards_with_provenance(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path)
    res = _run(cfg, ScriptedBackend(good_case_draft))
    assert res.status == "completed" and res.jobs[0].done == 12
    cards = list(iter_records(cfg.run.output, "cases", CaseCard))
    assert len(cards) == 12 and len({c.id for c in cards}) == 12
    assert len(shard_paths(cfg.run.output, "cases")) >= 3  # rolled at 5 records
    c = cards[0]
    assert c.provenance.calls[0].template.id == "case_synthesis"
    assert c.provenance.synthetic and c.source.dataset == "synthetic"
    manifest = json.loads((cfg.run.output / "manifest.json").read_text())
    assert manifest["prompts"]["case_synthesis"]["sha256"] == c.provenance.calls[0].template.sha256


def test_rerun_sends_nothing_and_writes_nothing_twice(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path)
    _run(cfg, ScriptedBackend(good_case_draft))
    b2 = ScriptedBackend(good_case_draft)
    res = _run(cfg, b2)
    assert res.jobs[0].done == 0 and res.jobs[0].skipped == 12 and b2.calls == []
    assert len(list(iter_records(cfg.run.output, "cases", CaseCard))) == 12


def test_failures_quarantined_with_reason_and_transient_ones_retried(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=6)
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        if calls["n"] == 1:
            return ServerError("upstream 503 after retries", status=503)
        if calls["n"] == 2:
            return raw("this is not json at all")  # schema-invalid, then re-asked
        return good_case_draft(req)

    res = _run(cfg, ScriptedBackend(flaky))
    assert res.jobs[0].quarantined == 1 and res.jobs[0].failures["ServerError"] == 1
    q = [json.loads(line) for line in (cfg.run.output / "quarantine.jsonl").read_text().splitlines()]
    assert q[0]["error_type"] == "ServerError" and "503" in q[0]["message"]
    st = collect_status(cfg.run.output)
    assert st["items"]["case_synthesis"] == {"done": 5, "quarantined": 1}
    assert st["teachers"][0]["failures"] == {"ServerError": 1} and st["teachers"][0]["reasks"] == 1
    # A transient failure is retried by the next run without asking.
    res2 = _run(cfg, ScriptedBackend(good_case_draft))
    assert res2.jobs[0].done == 1
    assert collect_status(cfg.run.output)["items"]["case_synthesis"] == {"done": 6}


def test_inconsistent_case_quarantined(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=3)

    def leaky(req):
        out = json.loads(good_case_draft(req).text)
        dx = req.messages[-1]["content"].split("Write a case of ")[1].split(" (")[0]
        out["opening_statement"] = f"My doctor said it might be {dx}, I am worried."
        return raw(json.dumps(out))

    res = _run(cfg, ScriptedBackend(leaky))
    assert res.jobs[0].quarantined == 3
    reasons = collect_status(cfg.run.output)["quarantine"]
    assert reasons[0]["error_type"] == "InconsistentCase"
    assert "opening statement names the diagnosis" in reasons[0]["example"]


def test_orphan_shard_removed_and_items_redone(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=5)
    _run(cfg, ScriptedBackend(good_case_draft))
    d = cfg.run.output / "data" / "cases"
    # Simulate a kill between the shard's rename and its commit: a shard the state never registered.
    (d / "part-00099-deadbe.parquet").write_bytes(next(d.glob("*.parquet")).read_bytes())
    (d / ".part-00100-deadbe.parquet.tmp").write_bytes(b"partial")
    _run(cfg, ScriptedBackend(good_case_draft))
    assert not (d / "part-00099-deadbe.parquet").exists()
    assert len(list(iter_records(cfg.run.output, "cases", CaseCard))) == 5


def test_interrupt_keeps_finished_items(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=40, concurrency=2, flush_interval_s=1000)

    async def go():
        runner = Runner(cfg, backends={"default": ScriptedBackend(good_case_draft, delay_s=0.02)}, argv=["t"])
        task = asyncio.create_task(runner.run(build_jobs(cfg)))
        await asyncio.sleep(0.25)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    kept = len(list(iter_records(cfg.run.output, "cases", CaseCard)))
    assert 0 < kept < 40
    res = _run(cfg, ScriptedBackend(good_case_draft))
    assert res.jobs[0].skipped == kept and res.jobs[0].done == 40 - kept
