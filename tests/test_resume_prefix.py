"""The finished prefix (Job.stream_key): a resume starts a job's stream past the leading items an earlier clean
run finished, without building or looking them up — and never skips an item that is not finished."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from schemas import CaseCard
from synth.config import load_config
from synth.executors.ray_executor import restrict
from synth.runner import Runner, build_jobs
from synth.store.shards import iter_records
from synth.store.state import RunState
from synth.teachers.errors import BadResponse
from tests.fakes import ScriptedBackend, good_case_draft, raw
from tests.test_runner import _cfg, _run


def _prefix(cfg) -> int:
    (job,) = build_jobs(cfg)
    st = RunState(cfg.run.output / "state.sqlite")
    try:
        return st.finished_prefix(job.name, job.stream_key())
    finally:
        st.close()


@pytest.fixture
def looked_up(monkeypatch):
    """The item ids the run state was asked about (the per-item look-ups the prefix saves)."""
    seen: list[str] = []
    real = RunState._unfinished_batch

    def spy(self, job, chunk, retry_quarantined, id_of):
        seen.extend(id_of(it) for it in chunk)
        return real(self, job, chunk, retry_quarantined, id_of)

    monkeypatch.setattr(RunState, "_unfinished_batch", spy)
    return seen


def test_a_clean_run_records_its_prefix_and_a_resume_neither_builds_nor_looks_up_it(
    write_config, tmp_path, looked_up
):
    cfg = _cfg(write_config, tmp_path)
    _run(cfg, ScriptedBackend(good_case_draft))
    assert _prefix(cfg) == 12
    looked_up.clear()
    b2 = ScriptedBackend(good_case_draft)
    res = _run(cfg, b2)
    assert b2.calls == [] and res.jobs[0].done == 0 and res.jobs[0].skipped == 12
    assert looked_up == []  # the 12 finished items were not drawn at all
    # A longer run of the same stream: only the new items are drawn, looked up and sent.
    longer = _cfg(write_config, tmp_path, n=20)
    b3 = ScriptedBackend(good_case_draft)
    res = _run(longer, b3)
    assert res.jobs[0].done == 8 and len(b3.calls) == 8
    assert looked_up == [f"synth-{longer.run.seed}-{i:06d}" for i in range(12, 20)]
    assert _prefix(longer) == 20
    ids = [c.id for c in iter_records(cfg.run.output, "cases", CaseCard)]
    assert len(ids) == 20 and len(set(ids)) == 20


def test_the_prefix_stops_at_the_first_transient_failure_and_content_failures_stay_inside(
    write_config, tmp_path, looked_up
):
    cfg = _cfg(write_config, tmp_path, n=10, concurrency=1)
    calls = {"n": 0}

    def script(req):
        calls["n"] += 1
        if calls["n"] <= 3:  # item 0 fails on its content (every re-ask too)
            return raw("not json")
        if calls["n"] == 7:  # item 4: a transport fault, retried by the next plain run
            return BadResponse("not a chat completion (JSONDecodeError): {")
        return good_case_draft(req)

    res = _run(cfg, ScriptedBackend(script))
    assert res.jobs[0].failures == {"SchemaInvalid": 1, "BadResponse": 1}
    assert _prefix(cfg) == 4  # items 0-3 are finished (0 quarantined for content); item 4 is not
    looked_up.clear()
    b2 = ScriptedBackend(good_case_draft)
    res = _run(cfg, b2)
    assert res.jobs[0].done == 1 and len(b2.calls) == 1  # item 4 only
    assert looked_up == [f"synth-{cfg.run.seed}-{i:06d}" for i in range(4, 10)]
    assert _prefix(cfg) == 10
    # --retry-quarantined ignores the prefix: the content failure inside it is tried again (past the cache,
    # which holds its bad answers).
    b3 = ScriptedBackend(good_case_draft)
    res = _run(cfg, b3, retry_quarantined=True, use_cache=False)
    assert res.jobs[0].done == 1 and len(b3.calls) == 1
    assert _prefix(cfg) == 10


def test_an_interrupted_run_leaves_no_prefix_and_the_next_run_looks_every_item_up(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=12)
    _run(cfg, ScriptedBackend(good_case_draft))
    longer = _cfg(write_config, tmp_path, n=40, concurrency=2, flush_interval_s=1000)

    async def go():
        backend = ScriptedBackend(good_case_draft, delay_s=0.02)
        runner = Runner(longer, backends={"default": backend}, argv=["t"])
        task = asyncio.create_task(runner.run(build_jobs(longer)))
        while len(backend.calls) < 8:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert _prefix(longer) == 0
    kept = len(list(iter_records(cfg.run.output, "cases", CaseCard)))
    res = _run(longer, ScriptedBackend(good_case_draft))
    assert res.jobs[0].skipped == kept and res.jobs[0].done == 40 - kept
    assert _prefix(longer) == 40


def test_a_prefix_belongs_to_its_stream(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=6)
    _run(cfg, ScriptedBackend(good_case_draft))
    other = load_config(
        write_config(
            {
                "run": {"output": str(tmp_path / "out"), "seed": cfg.run.seed + 1, "concurrency": 4},
                "teachers": {"default": {"backend": "local"}},
                "cases": {"synthesize": {"n": 6}},
            }
        )
    )
    b2 = ScriptedBackend(good_case_draft)
    res = _run(other, b2)  # another seed is another stream: its 6 items are new
    assert res.jobs[0].done == 6 and len(b2.calls) == 6


def test_a_partition_numbers_its_own_items(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=30)
    (whole,) = build_jobs(cfg)
    (job,) = build_jobs(cfg)
    part = restrict(job, 1, 3)
    assert part.stream_key() == f"{whole.stream_key()} partition 1/3"
    mine = [it.id for it in part.items()]
    assert 0 < len(mine) < 30
    assert [it.id for it in part.items_from(2)] == mine[2:]


# ------------------------------------------------------------------ the other jobs' streams: lists read in full


def _prefixes(cfg) -> dict[str, int]:
    st = RunState(cfg.run.output / "state.sqlite")
    try:
        return {job.name: st.finished_prefix(job.name, job.stream_key()) for job in build_jobs(cfg)}
    finally:
        st.close()


def test_a_consultation_stream_is_its_case_list_and_per_case(write_config, tmp_path, looked_up):
    from tests.test_dialogue import cfg_for, final_at, run, scripted

    cfg = cfg_for(write_config, tmp_path, cards=3, per_case=2, n=4)
    (job,) = build_jobs(cfg)
    every = [it.id for it in job.items()]
    assert len(every) == 4 and all([it.id for it in job.items_from(k)] == every[k:] for k in range(6))
    (more,) = build_jobs(cfg_for(write_config, tmp_path, cards=3, per_case=2))
    assert more.stream_key() == job.stream_key()  # n only cuts the stream
    assert [it.id for it in more.items()][:4] == every
    (other,) = build_jobs(cfg_for(write_config, tmp_path, cards=3, per_case=3))
    assert other.stream_key() != job.stream_key()  # item i is another consultation
    (whole,) = build_jobs(cfg)
    part = restrict(whole, 0, 2)  # a partition replaces items, items_from and total: none may call another
    mine = [it.id for it in part.items()]
    assert (
        set(mine) <= set(every)
        and part.total() == len(mine)
        and [it.id for it in part.items_from(1)] == mine[1:]
    )

    res, recs = run(cfg, scripted(final_at(3)))
    assert res.jobs[0].done == 4 and _prefixes(cfg) == {"consultations": 4}
    looked_up.clear()
    longer = cfg_for(write_config, tmp_path, cards=3, per_case=2)
    b2 = scripted(final_at(3))
    res, recs = run(longer, b2)
    assert res.jobs[0].done == 2 and res.jobs[0].skipped == 4  # the prefix counts as skipped
    assert len(b2.calls) > 0 and looked_up == [it.id for it in more.items()][4:]
    assert len(recs) == 6 and sorted(Counter(r.case_id for r in recs).values()) == [2, 2, 2]
    assert _prefixes(longer) == {"consultations": 6}


def test_problems_and_reasoning_streams_follow_their_inputs(write_config, tmp_path, looked_up):
    from tests.test_problems import config, mcq, run, teacher, traces, write_jsonl

    source = write_jsonl(tmp_path / "mcq.jsonl", [mcq(i) for i in range(6)])
    cfg = config(write_config, tmp_path, source, problems={"limit": 3}, reasoning={})
    res, _ = run(cfg, teacher())
    done = {r.job: r.done for r in res.jobs}
    assert done["problems"] == 3 and done["reasoning"] == 3
    assert _prefixes(cfg) == {"problems": 3, "reasoning": 3}
    # More questions: the problems stream is the same (limit only cuts it), so its first 3 are not drawn;
    # the reasoning stream is the run's problems sorted by id, another list now: every item is looked up,
    # and none is skipped for a prefix that belonged to the shorter list.
    looked_up.clear()
    bigger = config(write_config, tmp_path, source, problems={"limit": 6}, reasoning={})
    res, _ = run(bigger, teacher())
    done = {r.job: r.done for r in res.jobs}
    assert done["problems"] == 3 and done["reasoning"] == 3
    problem_ids = {it.id for it in build_jobs(bigger)[1].items()}
    assert len(problem_ids) == 6 and {t.problem_id for t in traces(bigger)} == problem_ids
    assert problem_ids <= set(looked_up)
    assert _prefixes(bigger) == {"problems": 6, "reasoning": 6}


def test_a_partition_asks_its_jobs_key_when_the_job_starts(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, n=30)
    (job,) = build_jobs(cfg)
    keys = iter(["first", "second"])
    job.stream_key = lambda: next(keys)  # type: ignore[method-assign]
    part = restrict(job, 0, 2)
    assert part.stream_key() == "first partition 0/2"
    assert part.stream_key() == "second partition 0/2"  # not the key the job had when it was wrapped
