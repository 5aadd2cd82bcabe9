"""Memory stays flat with the corpus: what a run allocates between two points of a long run must not grow with the
items done between them (docs/benchmarks.md, "Memory with the corpus"), and a resume does not load every done id.

The run is case synthesis against a scripted backend that keeps nothing per call, through the real Runner,
Teacher, request cache, run state and shards; tracemalloc snapshots are taken from the runner's own progress hook.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

from synth.config import load_config
from synth.runner import Runner, build_jobs
from synth.store.state import RunState
from synth.teachers import base
from synth.teachers.base import RawCompletion, Request
from tests.fakes import ScriptedBackend, good_case_draft

# Between the two snapshots 2,000 items finish. Before the fix each one left its prompt and its encoding in the
# message cache (~1.5 KiB a case-synthesis item: ~3 MiB, on top of the rest). What remains is dominated by the
# per-item sampling params that the params table (synth/teachers/base.py) keeps up to its bound of 4,096 (~0.8 KiB
# an item, until full: ~1.6 MiB here), with up to ~0.5 MiB of noise from one run to the next (pydantic, copies,
# shard buffers). The window is wide enough that the leak's 3 MiB stands clear of both.
GROWTH_BOUND = 3.0 * 2**20
FIRST, SECOND = 1_000, 3_000


class _Forgetful(ScriptedBackend):
    """The scripted backend without its record of calls (which grows with the run by design)."""

    async def generate(self, request: Request) -> RawCompletion:
        out = self.script(request)  # type: ignore[operator]
        assert isinstance(out, RawCompletion)
        return out


class _Snapshots:
    """A progress display taking a tracemalloc snapshot when FIRST, then SECOND items are done."""

    def __init__(self) -> None:
        self.taken: list[tuple[int, Any]] = []

    def start(self, snap: Any) -> None:
        pass

    def update(self, snap: Any) -> None:
        marks = (FIRST, SECOND)
        if len(self.taken) < 2 and snap.done >= marks[len(self.taken)]:
            gc.collect()
            self.taken.append((snap.done, tracemalloc.take_snapshot()))

    def stop(self, snap: Any) -> None:
        pass


def _cfg(write_config, tmp_path, n):  # type: ignore[no-untyped-def]
    return load_config(
        write_config(
            {
                # Small shards and concurrency: several flushes fall between the snapshots, which land close
                # to their marks (the display is updated as each item finishes).
                "run": {"output": str(tmp_path / "out"), "concurrency": 8, "shard_max_records": 250},
                "teachers": {"default": {"backend": "local"}},
                "cases": {"synthesize": {"n": n}},
            }
        )
    )


def test_run_memory_does_not_grow_with_items_done(write_config, tmp_path):
    cfg = _cfg(write_config, tmp_path, SECOND + 200)
    display = _Snapshots()
    base._message_bytes.clear()  # what other tests of the session left there
    runner = Runner(cfg, backends={"default": _Forgetful(good_case_draft)}, display=display, argv=["test"])
    tracemalloc.start(1)
    try:
        res = asyncio.run(runner.run(build_jobs(cfg)))
    finally:
        tracemalloc.stop()
    assert res.status == "completed" and res.jobs[0].done == SECOND + 200
    assert len(display.taken) == 2
    (a, s0), (b, s1) = display.taken
    stats = s1.compare_to(s0, "lineno")
    growth = sum(s.size_diff for s in stats)
    top = "\n".join(str(s) for s in stats[:8])
    print(f"growth {growth / 2**20:.3f} MiB from {a} to {b} items done")
    assert growth < GROWTH_BOUND, f"{growth / 2**20:.2f} MiB more from {a} to {b} items done:\n{top}"
    # The culprit by name: single-turn prompts are never re-sent, so none of them stays in the message cache
    # (what it holds is the system prompt, shared by every item).
    assert len(base._message_bytes) <= 4


def test_resume_filters_done_items_without_loading_them(tmp_path):
    """RunState.unfinished gives what finished_ids would skip, in order, batch by batch."""
    state = RunState(tmp_path / "state.sqlite")
    from synth.jobs import WorkItem
    from synth.store.state import Quarantined
    from synth.teachers.errors import TRANSIENT_KINDS

    items = [WorkItem(f"i{k:05d}", k) for k in range(2_345)]
    done = [("j", it.id) for it in items if it.payload % 3 == 0]
    state.commit_shard("t", "part-0", len(done), 1, done)
    transient = sorted(TRANSIENT_KINDS)[0]
    state.quarantine(
        [Quarantined("j", it.id, "ScreenRejected", "s", "m") for it in items if it.payload % 7 == 1]
        + [Quarantined("j", it.id, transient, "s", "m") for it in items if it.payload % 11 == 2]
        + [Quarantined("other", it.id, "ScreenRejected", "s", "m") for it in items if it.payload % 5 == 0]
    )
    for retry in (False, True):
        finished = state.finished_ids("j", retry_quarantined=retry)
        expected = [it for it in items if it.id not in finished]
        got = list(state.unfinished("j", iter(items), retry_quarantined=retry, batch=100))
        assert got == expected
        assert state.finished_count("j", retry_quarantined=retry) == len(finished)
    assert state.count_quarantined(["j"], [transient]) == len([it for it in items if it.payload % 11 == 2])
    assert state.count_quarantined(["other"], [transient]) == 0
    state.close()
