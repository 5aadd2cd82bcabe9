"""The runner: streams a job's items through bounded concurrency, writes shards and run state, resumes.

Guarantees, whatever moment the process dies (kill -9 included):
- a finished item is recorded done in the same transaction as the shard holding its records, after the shard
  file is in place; a shard without that commit is an orphan, removed at the next start, and its items redone;
- every completed teacher request is in the request cache before its caller continues, so redoing an item
  sends nothing that had completed;
- memory does not grow with the corpus: items are drawn lazily, at most `concurrency` in flight, and records
  leave memory at every shard flush; a resume looks items up in the run state batch by batch (no set of every
  done id).

Before the first item every teacher the jobs use is checked (`Teacher.check`): one that cannot be reached stops
the run at once with TeacherUnavailable, before anything is written or quarantined. The same error from a
teacher's circuit breaker (down past its patience) stops a run under way; what finished is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import json
import os
import secrets
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.common import Record
from synth import __version__
from synth.config import RunConfig
from synth.executors import Partition, partition_layout
from synth.jobs import Estimate, ItemFailed, Job, RunContext, WorkItem
from synth.manifest import write_manifest
from synth.progress import Display, LogDisplay, Snapshot
from synth.store.errors import STORAGE_ERRORS, OutputWriteError
from synth.store.shards import ShardWriter, remove_orphans
from synth.store.state import Quarantined, RunState
from synth.teachers.base import Backend
from synth.teachers.cache import RequestCache
from synth.teachers.errors import TRANSIENT_KINDS, TeacherError, TeacherUnavailable
from synth.teachers.registry import build_teacher
from synth.teachers.teacher import Teacher

# The cyclic collector's thresholds while jobs run. Almost nothing a run allocates is cyclic garbage (the
# histories, turns and records in flight are freed by reference counting), yet with Python's defaults
# (700, 10, 10) the collector walked the live heap over and over: 20,000 requests of consultations at 1,024 in
# flight spent 8.2 of 24 s in it (2,700 young, 250 middle and 23 full collections of ~330k objects, freeing
# ~2,500 objects in all). Young collections every 10,000 allocations instead of 700, the older ones 5x and 10x
# rarer: 2.5 s, 780 -> 1,060 requests/s; single-turn at 256 in flight 1,550 -> 1,930 (docs/benchmarks.md,
# Peers). What is cyclic is still freed, only in larger batches; peak RSS was unchanged.
RUN_GC_THRESHOLDS = (10_000, 50, 100)


@contextlib.contextmanager
def run_gc_thresholds() -> Iterator[None]:
    """At least RUN_GC_THRESHOLDS while the block runs (a process that set higher ones keeps its own)."""
    before = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(before, RUN_GC_THRESHOLDS, strict=True)))
    try:
        yield
    finally:
        gc.set_threshold(*before)


class RunLocked(RuntimeError):
    pass


@dataclass
class JobResult:
    job: str
    done: int = 0
    skipped: int = 0
    quarantined: int = 0
    failures: Counter[str] = field(default_factory=Counter)


@dataclass
class RunResult:
    run_id: str
    output: Path
    status: str
    jobs: list[JobResult]
    # Items of this run's jobs left quarantined for a transport fault (this run's or an earlier one's): the next
    # plain run tries them again. Non-zero makes `synth run` exit with EXIT_TRANSIENT.
    transient: int = 0


def build_jobs(cfg: RunConfig) -> list[Job]:
    jobs: list[Job] = []
    if cfg.cases and cfg.cases.synthesize:
        from synth.cases.synthesize import CaseSynthesisJob

        jobs.append(CaseSynthesisJob(cfg.cases.synthesize, cfg.run.seed))
    if cfg.consultations:
        from synth.dialogue.job import ConsultationJob

        # After case synthesis: with `cases: from_run` it consults on the cards that job wrote.
        jobs.append(ConsultationJob(cfg.consultations, cfg.run.seed, cfg.run.output))
    problems = None
    if cfg.problems:
        from synth.problems.job import ProblemJob

        problems = ProblemJob(cfg.problems, cfg.run.seed)
        jobs.append(problems)
    if cfg.reasoning:
        from synth.problems.job import ReasoningJob

        # After the problems job: it searches a chain for every problem in the output folder.
        jobs.append(ReasoningJob(cfg.reasoning, cfg.run.seed, cfg.run.output, upstream=problems))
    if cfg.rlaif:
        from synth.rlaif import PreferenceJob

        # Last: it pairs the consultations and traces in the output folder, this run's included.
        jobs.append(PreferenceJob(cfg.rlaif, cfg.run.seed, cfg.run.output))
    return jobs


class _OutputLock:
    """One writer per output folder (fcntl lock, released by the OS even on kill -9)."""

    def __init__(self, out: Path):
        self.path = out / ".lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(self.fd, 32).decode().strip() or "?"
            os.close(self.fd)
            self.fd = None
            raise RunLocked(f"another run (pid {pid}) is writing to {self.path.parent}") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def run_is_active(out: Path) -> int | None:
    """The pid of the run holding the output folder, or None."""
    path = out / ".lock"
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.read(fd, 32).decode().strip()
        return int(pid) if pid.isdigit() else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class Runner:
    def __init__(
        self,
        cfg: RunConfig,
        *,
        use_cache: bool = True,
        retry_quarantined: bool = False,
        display: Display | None = None,
        argv: list[str] | None = None,
        backends: dict[str, Backend] | None = None,
        partition: Partition | None = None,
    ):
        self.cfg = cfg
        self.out = cfg.run.output
        self.use_cache = use_cache and cfg.run.cache.enabled
        self.retry_quarantined = retry_quarantined
        self.display = display or LogDisplay()
        self.argv = argv if argv is not None else sys.argv
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        self.teachers: dict[str, Teacher] = {}
        self.cache: RequestCache | None = None
        # Python API: a ready backend per teacher name replaces the one the config would build.
        self.backends = backends or {}
        self._last_heartbeat = 0.0
        self._job_base: tuple[int, int, int] = (0, 0, 0)
        # One partition of a Ray run (synth/executors): its state under self.out, its shards in the shared data/.
        self.partition = partition
        self.data_root = partition.data_root if partition else self.out

    # -- set-up shared by run and dry-run --------------------------------------------------------------
    def _open_cache(self) -> RequestCache | None:
        if not self.use_cache:
            return None
        return RequestCache(self.cfg.run.cache.path or self.out / "cache.sqlite")

    def _teachers_for(self, jobs: list[Job]) -> dict[str, Teacher]:
        names = sorted({n for j in jobs for n in j.teacher_names()})
        out = {}
        for n in names:
            cfg = self.cfg.teachers[n]
            if n in self.backends:
                out[n] = Teacher(
                    n,
                    self.backends[n],
                    cache=self.cache,
                    params=cfg.params,
                    max_reasks=cfg.max_reasks,
                    breaker=cfg.breaker,
                )
            else:
                out[n] = build_teacher(n, cfg, self.cache)
        return out

    def estimate(self, jobs: list[Job]) -> list[Estimate]:
        """Dry run: nothing is sent, nothing is written (the state and cache are only read)."""
        state_path = self.out / "state.sqlite"
        state: Any = RunState(state_path) if state_path.exists() else None
        if partition_layout(self.out):  # a Ray run: what its partitions finished
            from synth.executors.status import MergedState

            state = MergedState(self.out)
        cache_path = self.cfg.run.cache.path or self.out / "cache.sqlite"
        self.cache = RequestCache(cache_path) if (self.use_cache and cache_path.exists()) else None
        try:
            teachers = self._teachers_for(jobs)
            out = []
            todos: dict[str, list[WorkItem]] = {}
            for job in jobs:
                finished = (
                    state.finished_ids(job.name, retry_quarantined=self.retry_quarantined) if state else set()
                )
                todo = todos[job.name] = [it for it in job.items() if it.id not in finished]
                if job.upstream is not None:
                    # What the upstream job will still process is what can still reach this one: not every
                    # upstream item (those it already quarantined never will).
                    job.upstream_todo = todos.get(job.upstream.name)
                out.append(job.estimate(todo, teachers))
            return out
        finally:
            if state:
                state.close()
            if self.cache:
                self.cache.close()

    # -- the run ----------------------------------------------------------------------------------------
    async def run(self, jobs: list[Job]) -> RunResult:
        if partition_layout(self.out) and self.partition is None:
            raise RunLocked(f"{self.out} holds the partitions of a Ray run: run it again with --executor ray")
        # Teachers first, checked before anything is written: an unreachable one stops the run right here.
        self.teachers = self._teachers_for(jobs)
        checks = await asyncio.gather(*(t.check() for t in self.teachers.values()), return_exceptions=True)
        failed = next((c for c in checks if isinstance(c, BaseException)), None)
        if failed is not None:
            await self._close_teachers()
            raise failed
        lock = _OutputLock(self.out)
        state: RunState | None = None
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            lock.acquire()
            state = RunState(self.out / "state.sqlite")
            self.cache = self._open_cache()
            for t in self.teachers.values():
                t.cache = self.cache
            state.start_run(self.run_id, self.argv)
            write_manifest(self.out, self.cfg, self.run_id, jobs, status="running")
        except BaseException as e:
            await self._close_teachers()
            if self.cache:
                with contextlib.suppress(*STORAGE_ERRORS):
                    self.cache.close()
            if state is not None:
                state.close()
            lock.release()
            if isinstance(e, STORAGE_ERRORS):
                raise OutputWriteError(f"cannot write the output folder {self.out}: {e}") from e
            raise
        results: list[JobResult] = []
        status = "failed"
        finished = False  # the jobs ran to their end: an error in the closing steps is then the run's error
        transient = 0
        try:
            ctx = RunContext(self.run_id, self.cfg.run.seed, __version__, self.teachers)
            with run_gc_thresholds():
                for job in jobs:
                    results.append(await self._run_job(job, ctx, state))
            status = "completed"
            names = {j.name for j in jobs}
            transient = state.count_quarantined(names, TRANSIENT_KINDS)
            finished = True
        except (KeyboardInterrupt, asyncio.CancelledError):
            status = "interrupted"
            raise
        except TeacherUnavailable:
            status = "stopped"  # a teacher went away for good; the next run resumes
            raise
        except STORAGE_ERRORS as e:
            status = "failed"
            raise OutputWriteError(f"cannot write the output folder {self.out}: {e}") from e
        finally:
            # Bookkeeping on a full disk fails too: it must neither hide the run's own error nor skip the
            # closing steps. Without an error already on its way, a failure here is the run's error.
            errors: list[BaseException] = []
            for step in (
                lambda: state.save_teacher_stats(self.run_id, self._stats_rows()),
                lambda: state.finish_run(self.run_id, status),
                lambda: _export_quarantine(self.out, state),
                lambda: write_manifest(self.out, self.cfg, self.run_id, jobs, status=status),
            ):
                try:
                    step()
                except STORAGE_ERRORS as e:
                    errors.append(e)
            await self._close_teachers()
            if self.cache:
                with contextlib.suppress(*STORAGE_ERRORS):
                    self.cache.close()
            state.close()
            lock.release()
            if errors and finished:
                raise OutputWriteError(f"cannot write the output folder {self.out}: {errors[0]}") from errors[
                    0
                ]
        return RunResult(self.run_id, self.out, status, results, transient=transient)

    async def _close_teachers(self) -> None:
        for t in self.teachers.values():
            try:
                await t.aclose()
            except Exception as e:  # closing must not hide the run's own outcome
                print(f"warning: closing teacher {t.name}: {e}", file=sys.stderr)

    def _stats_rows(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        return [(t.name, t.kind, t.model, t.stats.as_dict()) for t in self.teachers.values()]

    def _totals(self) -> tuple[int, int, int]:
        ts = self.teachers.values()
        return (
            sum(t.stats.requests for t in ts),
            sum(t.stats.cache_hits for t in ts),
            sum(t.stats.prompt_tokens + t.stats.completion_tokens for t in ts),
        )

    def _snapshot(self, job: Job, res: JobResult, in_flight: int, started: float) -> Snapshot:
        # Rates are per job: count only what this job has sent since it started.
        requests, hits, tokens = (a - b for a, b in zip(self._totals(), self._job_base, strict=True))
        return Snapshot(
            job=job.name,
            total=job.total(),
            done=res.done,
            skipped=res.skipped,
            quarantined=res.quarantined,
            in_flight=in_flight,
            requests=requests,
            cache_hits=hits,
            tokens=tokens,
            failures=Counter(res.failures),
            started=started,
        )

    async def _run_job(self, job: Job, ctx: RunContext, state: RunState) -> JobResult:
        self._job_base = self._totals()
        rc = self.cfg.run
        owner = self.partition.tag if self.partition else None
        removed = remove_orphans(self.data_root, job.table, state.shard_names(job.table), owner)
        if removed:
            print(
                f"[{job.name}] removed {len(removed)} uncommitted shard file(s) from an interrupted run",
                file=sys.stderr,
            )
        # Counted, not loaded: the finished ids are looked up batch by batch as the items stream past
        # (RunState.unfinished), so neither memory nor start-up grows with what earlier runs did.
        res = JobResult(
            job.name, skipped=state.finished_count(job.name, retry_quarantined=self.retry_quarantined)
        )
        writer = ShardWriter(
            self.data_root,
            job.table,
            (f"{owner}-" if owner else "") + self.run_id.split("-")[-1],
            state.next_shard_seq(job.table),
            max_records=rc.shard_max_records,
            max_bytes=rc.shard_max_bytes,
        )
        quarantine: list[Quarantined] = []
        write_lock = asyncio.Lock()
        writes: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        last_flush = time.monotonic()

        async def write_shard(rows: list[tuple[str, str, str, str]], items: list[tuple[str, str]]) -> None:
            # Serialised, and never split by a cancellation: the file and its commit go together.
            async with write_lock:
                name, nbytes = await asyncio.to_thread(writer.write, rows)
                if self.partition and self.partition.storage:  # shared storage: upload, then commit
                    await asyncio.to_thread(self.partition.storage.put_shard, self.data_root, job.table, name)
                state.commit_shard(job.table, name, len(rows), nbytes, items)
                if self.partition and self.partition.storage:
                    await asyncio.to_thread(self.partition.storage.put_state, self.out)

        async def flush(everything: bool = True) -> None:
            """Commit quarantine entries and write shards: all pending items, or only full shards."""
            nonlocal last_flush
            if quarantine:
                batch = quarantine[:]
                quarantine.clear()
                state.quarantine(batch)
            while writer.pending_items and (everything or writer.full()):
                rows, items = writer.take()
                t = asyncio.create_task(write_shard(rows, items))
                writes.add(t)
                t.add_done_callback(writes.discard)
                await asyncio.shield(t)
            state.save_teacher_stats(self.run_id, self._stats_rows())
            last_flush = time.monotonic()

        # The finished prefix (Job.stream_key): the stream starts past it. It is removed before anything is
        # done and written back only when the job ends cleanly: an interrupted run leaves none behind.
        key = job.stream_key()
        start = state.finished_prefix(job.name, key) if key and not self.retry_quarantined else 0
        state.clear_finished_prefix(job.name)
        first_transient: list[int] = []  # the stream position of the first item quarantined as transient

        def reject(item: WorkItem, kind: str, stage: str, message: str, pos: int) -> None:
            quarantine.append(Quarantined(job.name, item.id, kind, stage, message))
            res.quarantined += 1
            res.failures[kind] += 1
            if kind in TRANSIENT_KINDS and (not first_transient or pos < first_transient[0]):
                first_transient[:] = [pos]

        async def one(pos: int, item: WorkItem) -> None:
            try:
                records = await job.process(item, ctx)
                bad = [type(r).__name__ for r in records if not isinstance(r, Record)]
                if bad:
                    raise TypeError(f"job {job.name} returned {bad[0]}, not a Record")
            except (TeacherUnavailable, OutputWriteError):
                raise  # the run's failure, not this item's: it stops the run and the item stays to do
            except TeacherError as e:
                return reject(item, e.kind, f"teacher:{job.name}", str(e), pos)
            except ItemFailed as e:
                return reject(item, e.kind, e.stage, e.message, pos)
            except Exception as e:  # a bug on one item must not end a long run; it is recorded, loudly
                tb = traceback.format_exception_only(type(e), e)[-1].strip()
                print(f"[{job.name}] internal error on {item.id}: {tb}", file=sys.stderr)
                return reject(item, "InternalError", job.name, tb, pos)
            writer.add(job.name, item.id, records)
            res.done += 1
            # Outside the try: a failing shard write is the run's problem, not this item's.
            if writer.full():
                await flush(everything=False)

        # Slots, not `asyncio.wait`: waiting on every task in flight after each completion costs O(concurrency)
        # (a callback added to and removed from each pending task): 0.1-0.2 ms of CPU per request at 1,024 in
        # flight (docs/benchmarks.md, "The runner's wait").
        # Each task's own done-callback frees its slot and wakes the loop only when it waits for one.
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []
        wake: list[asyncio.Future[None]] = []  # the loop's current wait, if any
        last_tick = time.monotonic()

        def on_done(t: asyncio.Task[None]) -> None:
            pending.discard(t)
            if not t.cancelled() and (e := t.exception()) is not None:
                errors.append(e)
            if wake and not wake[0].done():
                wake[0].set_result(None)

        async def wait_until(free: int) -> None:
            """Until at most `free` tasks are in flight (or a task failed), ticking the display meanwhile."""
            nonlocal last_tick
            while len(pending) > free and not errors:
                fut = loop.create_future()
                wake[:] = [fut]
                timer = loop.call_later(_TICK_S, _resolve, fut)
                try:
                    await fut
                finally:
                    timer.cancel()
                    wake.clear()
                if time.monotonic() - last_tick >= _TICK_S:
                    last_tick = time.monotonic()
                    await self._tick(job, res, pending, started, writer, flush, last_flush)
            if errors:
                raise errors[0]

        self.display.start(self._snapshot(job, res, 0, started))
        try:
            end = [start]  # the stream position past the last item drawn

            def numbered() -> Iterator[tuple[int, WorkItem]]:
                for pos, item in enumerate(job.items_from(start), start):
                    end[0] = pos + 1
                    yield pos, item

            items = state.unfinished(
                job.name, numbered(), retry_quarantined=self.retry_quarantined, id_of=_id_of_numbered
            )
            for pos, item in items:
                if len(pending) >= rc.concurrency or errors:
                    await wait_until(rc.concurrency - 1)
                t = loop.create_task(one(pos, item))
                pending.add(t)
                t.add_done_callback(on_done)
            await wait_until(0)
            await flush()
            if key:
                # Every item before `end` is now done or quarantined, and only a transient quarantine is
                # unfinished: the prefix runs up to the first of those.
                state.set_finished_prefix(job.name, key, min([end[0], *first_transient]))
        except BaseException:
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            # Keep what finished before the interruption: shard writes under way, then the rest.
            await asyncio.gather(*writes, return_exceptions=True)
            await asyncio.shield(flush())
            raise
        finally:
            self.display.stop(self._snapshot(job, res, 0, started))
            _write_heartbeat(self.out, self.run_id, self._snapshot(job, res, 0, started))
        return res

    async def _tick(self, job, res, pending, started, writer, flush, last_flush) -> None:  # type: ignore[no-untyped-def]
        snap = self._snapshot(job, res, len(pending), started)
        self.display.update(snap)
        now = time.monotonic()
        if now - self._last_heartbeat >= 1.0:
            self._last_heartbeat = now
            _write_heartbeat(self.out, self.run_id, snap)
        if writer.full() or time.monotonic() - last_flush >= self.cfg.run.flush_interval_s:
            await flush()


def _id_of_numbered(pair: tuple[int, WorkItem]) -> str:
    return pair[1].id


# How often a waiting runner refreshes the display, the heartbeat and the time-based flush.
_TICK_S = 0.25


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _write_heartbeat(out: Path, run_id: str, snap: Snapshot) -> None:
    """progress.json for `synth status` while a run is live (atomic)."""
    data = {
        "run_id": run_id,
        "pid": os.getpid(),
        "job": snap.job,
        "total": snap.total,
        "done": snap.done,
        "earlier": snap.skipped,
        "quarantined": snap.quarantined,
        "in_flight": snap.in_flight,
        "requests_per_s": round(snap.requests / snap.elapsed, 2),
        "tokens_per_s": round(snap.tokens / snap.elapsed, 1),
        "eta_s": snap.eta_s(),
        "updated": datetime.now(UTC).isoformat(),
    }
    tmp = out / ".progress.json.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, out / "progress.json")


def _export_quarantine(out: Path, state: RunState) -> None:
    """quarantine.jsonl: every quarantined item with its typed reason (rewritten atomically)."""
    from schemas.failure import QuarantineRecord

    tmp = out / ".quarantine.jsonl.tmp"
    with open(tmp, "w") as f:
        for q in state.iter_quarantined():
            rec = QuarantineRecord(
                item_id=q.item_id, job=q.job, stage=q.stage, error_type=q.error_type, message=q.message
            )
            f.write(rec.model_dump_json(exclude={"created_at"}) + "\n")
    os.replace(tmp, out / "quarantine.jsonl")
