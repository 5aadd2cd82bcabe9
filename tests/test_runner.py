"""Runner control flow: records, quarantine, resume, orphans, status (scripted backend); unreachable teachers,
transient failures and the circuit breaker (the stub server); what a dry run predicts after a complete run."""

from __future__ import annotations

import asyncio
import gc
import json
import socket

import pytest

from schemas import CaseCard
from synth.config import load_config
from synth.runner import RUN_GC_THRESHOLDS, Runner, build_jobs, run_gc_thresholds
from synth.status import collect_status
from synth.store.shards import iter_records, shard_paths
from synth.teachers.errors import TRANSIENT_KINDS, BadResponse, ServerError, TeacherUnavailable
from tests.fakes import ScriptedBackend, good_case_draft, raw
from tests.servers.openai_stub import StubServer


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


def test_jobs_run_under_the_run_gc_thresholds_and_the_process_gets_its_own_back(write_config, tmp_path):
    seen = []

    def script(request):
        seen.append(gc.get_threshold())
        return good_case_draft(request)

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        res = _run(_cfg(write_config, tmp_path, n=3), ScriptedBackend(script))
        assert res.status == "completed" and gc.get_threshold() == (700, 10, 10)
        assert seen and set(seen) == {RUN_GC_THRESHOLDS}
        # A process that set higher thresholds keeps them, position by position, and gets them back.
        gc.set_threshold(50_000, 5, 500)
        with run_gc_thresholds():
            assert gc.get_threshold() == (50_000, RUN_GC_THRESHOLDS[1], 500)
        assert gc.get_threshold() == (50_000, 5, 500)
    finally:
        gc.set_threshold(*before)


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
        backend = ScriptedBackend(good_case_draft, delay_s=0.02)
        runner = Runner(cfg, backends={"default": backend}, argv=["t"])
        task = asyncio.create_task(runner.run(build_jobs(cfg)))
        # Interrupt once some items are through (not after a fixed time: start-up on a busy machine varies).
        while len(backend.calls) < 12:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    kept = len(list(iter_records(cfg.run.output, "cases", CaseCard)))
    assert 0 < kept < 40
    res = _run(cfg, ScriptedBackend(good_case_draft))
    assert res.jobs[0].skipped == kept and res.jobs[0].done == 40 - kept


# -- transport faults, unreachable teachers, the breaker ------------------------------------------------------


def _openai_cfg(write_config, tmp_path, base_url, n=12, concurrency=4, **teacher):
    return load_config(
        write_config(
            {
                "run": {"output": str(tmp_path / "out"), "concurrency": concurrency, "flush_interval_s": 0.2},
                "teachers": {
                    "default": {
                        "backend": "openai",
                        "model": "stub",
                        "base_url": base_url,
                        "api_key_env": None,
                        **teacher,
                    }
                },
                "cases": {"synthesize": {"n": n}},
            }
        )
    )


def _free_port() -> int:
    with socket.socket() as s:  # free a moment ago, and nobody listens on it
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_teacher_stops_before_the_first_item(write_config, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    cfg = _openai_cfg(write_config, tmp_path, url)
    with pytest.raises(TeacherUnavailable) as info:
        asyncio.run(Runner(cfg, argv=["test"]).run(build_jobs(cfg)))
    assert str(info.value) == f"cannot reach teacher 'default' at {url}: connection refused"
    assert not cfg.run.output.exists()  # nothing written, nothing quarantined


def test_transport_failures_are_retried_by_the_next_run_content_failures_are_not(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=6)
    roles: dict[str, str] = {}  # the first item asked fails on transport, the second on its content

    def script(req):
        prompt = next(m["content"] for m in req.messages if m["role"] == "user")
        role = roles.setdefault(prompt, ["transport", "content", "good"][min(len(roles), 2)])
        if role == "transport":
            return BadResponse('not a chat completion (JSONDecodeError): {"id": "chatcmpl-x", "cho')
        if role == "content":
            return raw("not json")  # the first attempt and every re-ask: SchemaInvalid
        return good_case_draft(req)

    res = _run(cfg, ScriptedBackend(script))
    assert res.jobs[0].failures == {"BadResponse": 1, "SchemaInvalid": 1}
    assert res.status == "completed" and res.transient == 1
    res2 = _run(cfg, ScriptedBackend(good_case_draft))
    assert res2.jobs[0].done == 1 and res2.transient == 0  # the BadResponse item, without --retry-quarantined
    assert collect_status(cfg.run.output)["items"]["case_synthesis"] == {"done": 5, "quarantined": 1}


async def test_breaker_pauses_while_the_server_is_down_and_resumes_when_it_is_back(write_config, tmp_path):
    n, concurrency, k = 60, 4, 2
    stub = StubServer(latency_ms=40).__enter__()
    port = int(stub.base_url.rsplit(":", 1)[1].split("/")[0])
    cfg = _openai_cfg(
        write_config,
        tmp_path,
        stub.base_url,
        n=n,
        concurrency=concurrency,
        max_retries=0,
        timeout_s=5,
        breaker={"failures": k, "probe_initial_s": 0.05, "probe_max_s": 0.2, "give_up_after_s": 30},
    )
    runner = Runner(cfg, argv=["test"])
    task = asyncio.create_task(runner.run(build_jobs(cfg)))
    back: StubServer | None = None
    try:
        while (await asyncio.to_thread(stub.stats))["total"] < 6:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(stub.__exit__, None, None, None)  # down: connections refused
        teacher = runner.teachers["default"]
        for _ in range(500):
            if teacher.breaker.is_open:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # down a while longer: nothing more is sent, nothing more fails
        assert teacher.breaker.is_open and not task.done()
        failed_while_down = sum(teacher.stats.failures.values())
        sent_while_down = teacher.stats.requests
        await asyncio.sleep(0.3)
        assert (sum(teacher.stats.failures.values()), teacher.stats.requests) == (
            failed_while_down,
            sent_while_down,
        )
        back = StubServer(latency_ms=40, port=port)
        await asyncio.to_thread(back.__enter__)  # back, where the teacher expects it
        res = await asyncio.wait_for(task, 30)
    finally:
        if back is not None:
            await asyncio.to_thread(back.__exit__, None, None, None)
    [job] = res.jobs
    assert job.done + job.quarantined == n
    # Only the K failures that opened it and requests already in flight then failed; the rest waited for the
    # server. (Other quarantine entries are the content gates' verdicts on the stub's generated cards.)
    transport = sum(v for k, v in job.failures.items() if k in TRANSIENT_KINDS)
    assert k <= transport <= k + concurrency - 1, job
    assert transport == failed_while_down == res.transient, (job, res.transient, failed_while_down)
    assert teacher.stats.pauses == 1 and not teacher.breaker.is_open
    with StubServer() as again:
        cfg2 = cfg.model_copy(deep=True)
        cfg2.teachers["default"].base_url = again.base_url  # type: ignore[union-attr]
        res2 = await Runner(cfg2, argv=["test"]).run(build_jobs(cfg2))
    assert res2.jobs[0].done + res2.jobs[0].quarantined == transport and res2.transient == 0


async def test_a_teacher_down_past_its_patience_stops_the_run_and_the_next_run_resumes(
    write_config, tmp_path
):
    n, concurrency = 24, 4
    stub = StubServer(latency_ms=30).__enter__()
    cfg = _openai_cfg(
        write_config,
        tmp_path,
        stub.base_url,
        n=n,
        concurrency=concurrency,
        max_retries=0,
        breaker={"failures": 2, "probe_initial_s": 0.05, "probe_max_s": 0.1, "give_up_after_s": 0.5},
    )
    task = asyncio.create_task(Runner(cfg, argv=["test"]).run(build_jobs(cfg)))
    while (await asyncio.to_thread(stub.stats))["total"] < 6:
        await asyncio.sleep(0.01)
    await asyncio.to_thread(stub.__exit__, None, None, None)  # down, for good
    with pytest.raises(TeacherUnavailable, match=r"cannot reach teacher 'default' at .*connection refused"):
        await asyncio.wait_for(task, 30)
    st = collect_status(cfg.run.output)
    counts = st["items"]["case_synthesis"]
    # The waiting items were not quarantined: they are still to do. Only requests in flight when it went
    # down failed on transport (other entries are the content gates' verdicts on the stub's cards).
    transport = [q for q in st["quarantine"] if q["error_type"] in TRANSIENT_KINDS]
    assert sum(q["count"] for q in transport) <= 2 + concurrency - 1 and sum(counts.values()) < n
    assert st["last_run"]["status"] == "stopped" and st["runs"] == 1
    with StubServer() as again:
        cfg2 = cfg.model_copy(deep=True)
        cfg2.teachers["default"].base_url = again.base_url  # type: ignore[union-attr]
        res = await Runner(cfg2, argv=["test"]).run(build_jobs(cfg2))
    assert res.transient == 0
    assert sum(collect_status(cfg.run.output)["items"]["case_synthesis"].values()) == n


def test_dry_run_after_a_complete_run_predicts_nothing_to_send(write_config, tmp_path):
    from tests.test_problems import config, mcq, teacher, write_jsonl

    # One question kept, one rejected by a screen, one broken line: the rejected one never reaches reasoning.
    path = write_jsonl(tmp_path / "q.jsonl", [mcq(0), mcq(1, question="Which drug?"), "{broken"])
    cfg = config(write_config, tmp_path, path, reasoning={"max_depth": 1})
    jobs = build_jobs(cfg)
    before = Runner(cfg, backends={"default": teacher()}).estimate(jobs)
    assert [(e.items_todo, e.requests) for e in before] == [(3, 2), (2, 2 * 3)]
    backend = teacher()
    asyncio.run(Runner(cfg, backends={"default": backend}, argv=["test"]).run(build_jobs(cfg)))
    sent = len(backend.calls)
    after = Runner(cfg, backends={"default": backend}).estimate(build_jobs(cfg))
    assert [(e.items_todo, e.requests) for e in after] == [(0, 0), (0, 0)]
    asyncio.run(Runner(cfg, backends={"default": backend}, argv=["test"]).run(build_jobs(cfg)))
    assert len(backend.calls) == sent  # and indeed the run sends nothing
