"""`synth run --executor ray`: the run's items in fixed partitions, each partition one Ray task.

A partition is the set of a job's items whose id hashes (blake2b, 8 bytes, mod P) to it. P is fixed at the first
run of an output folder and recorded in OUT/partitions.json, so a resume with other workers sees the same
partitions. Each task runs the local engine unchanged — the same Job, Teacher, request cache, run state and shard
writer (synth.runner.Runner) — restricted to its partition:

    OUT/manifest.json, partitions.json, quarantine.jsonl     the driver's (merged over partitions)
    OUT/data/TABLE/part-00003-p0007-1a2b3c.parquet           every partition's shards, side by side
    OUT/partitions/p0007/state.sqlite, cache.sqlite, ...     one partition's state, cache, manifest, quarantine

Shards share data/ so every reader of a run folder (status, filter, publish, a job reading `from_run`) reads a
Ray run exactly as a local one; the tag in a shard's name keeps each partition's orphan clean-up to its own files.
Jobs run in order: job k+1's partitions start once every partition of job k has finished, so a job reading an
earlier job's output sees all of it. A task whose worker dies is retried by Ray (`run.task_retries`) and resumes
from its partition's state, like a local run after kill -9. `import ray` happens only in this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from synth.config import RunConfig
from synth.executors import PARTITIONS_FILE, Partition, init_ray
from synth.jobs import Job
from synth.progress import Display, Snapshot
from synth.runner import JobResult, RunLocked, RunResult, _OutputLock, _write_heartbeat

# A local Ray started by the driver: small, and never anything but 127.0.0.1 (no dashboard, no usage report).
LOCAL_OBJECT_STORE_BYTES = 100 * 2**20


class PartitionsMismatch(ValueError):
    pass


def partition_of(item_id: str, partitions: int) -> int:
    """The partition of an item: stable across processes and machines (unlike hash(), which is salted)."""
    digest = hashlib.blake2b(item_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def partition_tag(p: int) -> str:
    return f"p{p:04d}"


def restrict(job: Job, p: int, partitions: int) -> Job:
    """The job limited to partition p: its items() and total() see only that partition's items."""
    every = job.items
    count: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        return (it for it in every() if partition_of(it.id, partitions) == p)

    def total() -> int:
        if not count:  # the display asks at every tick; the items are counted once
            count.append(sum(1 for _ in items()))
        return count[0]

    whole_key = job.stream_key

    def stream_key() -> str | None:  # the partition's own stream: its positions count its items only
        # Asked when the job starts, never at wrapping: a job reading an earlier job's output (reasoning over
        # the run's problems) names the stream it will really iterate only once that job has written.
        key = whole_key()
        return f"{key} partition {p}/{partitions}" if key else None

    def items_from(start: int):  # type: ignore[no-untyped-def]
        return itertools.islice(items(), start, None)

    # Instance attributes shadow the methods: the Runner iterates only this partition, nothing else changes.
    setattr(job, "items", items)  # noqa: B010
    setattr(job, "total", total)  # noqa: B010
    setattr(job, "stream_key", stream_key)  # noqa: B010
    setattr(job, "items_from", items_from)  # noqa: B010
    return job


def resolve_partitions(out: Path, requested: int | None, workers: int) -> int:
    """P from OUT/partitions.json when the folder has one (a resume), else the config's or 2 x workers."""
    path = out / PARTITIONS_FILE
    if path.exists():
        fixed = int(json.loads(path.read_text())["partitions"])
        if requested is not None and requested != fixed:
            raise PartitionsMismatch(
                f"{out} was written with {fixed} partitions; run.partitions={requested} would move items "
                "between partitions (leave it unset, or use a new output folder)"
            )
        return fixed
    return requested or 2 * workers


class _ProgressDisplay:
    """A partition's display: its snapshots go to the driver's progress actor (at most twice a second)."""

    def __init__(self, actor: Any, p: int):
        self.actor = actor
        self.p = p
        self._last = 0.0

    def _send(self, snap: Snapshot, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= 0.5:
            self._last = now
            fields = ("done", "skipped", "quarantined", "in_flight", "requests", "cache_hits", "tokens")
            data: dict[str, Any] = {k: getattr(snap, k) for k in fields}
            data["failures"] = dict(snap.failures)
            self.actor.update.remote(self.p, data)

    def start(self, snap: Snapshot) -> None:
        self._send(snap, force=True)

    def update(self, snap: Snapshot) -> None:
        self._send(snap)

    def stop(self, snap: Snapshot) -> None:
        self._send(snap, force=True)


def run_partition(
    cfg: RunConfig, job_index: int, p: int, partitions: int, options: dict[str, Any], actor: Any
) -> dict[str, Any]:
    """One partition of one job, in a Ray worker: the local Runner on the partition's items."""
    from synth.runner import Runner, build_jobs

    cpu0 = time.process_time()
    root = cfg.run.output
    tag = partition_tag(p)
    part_dir = root / "partitions" / tag
    storage = None
    if cfg.run.storage:
        from synth.store.remote import RemoteStore

        storage = RemoteStore(cfg.run.storage)
        # Another node may have run this partition before: its state, and the shards of earlier jobs.
        storage.restore_partition(part_dir)
        storage.sync_down(root)
    job = restrict(build_jobs(cfg)[job_index], p, partitions)
    pcfg = cfg.model_copy(deep=True)
    pcfg.run.output = part_dir
    if cfg.run.cache.path is not None:  # one SQLite cache per partition: writers never share a file
        pcfg.run.cache.path = cfg.run.cache.path.with_name(f"{cfg.run.cache.path.stem}.{tag}.sqlite")
    runner = Runner(
        pcfg,
        use_cache=options["use_cache"],
        retry_quarantined=options["retry_quarantined"],
        display=_ProgressDisplay(actor, p),
        argv=options["argv"],
        partition=Partition(tag=tag, data_root=root, storage=storage),
    )
    from synth.store.errors import OutputWriteError
    from synth.teachers.errors import TeacherUnavailable

    try:
        result = asyncio.run(runner.run([job]))
    except TeacherUnavailable as e:
        # The run's own failures go back as data: Ray cannot rebuild an exception whose __init__ differs from
        # its args, and the driver raises them as themselves (synth run then exits 4 or 5, as locally).
        return {"error": "TeacherUnavailable", "args": [e.teacher, e.where, e.reason]}
    except OutputWriteError as e:
        return {"error": "OutputWriteError", "args": [str(e)]}
    if storage is not None:
        storage.put_state(part_dir)
        for name in ("manifest.json", "quarantine.jsonl"):
            storage.put_file(part_dir / name, f"partitions/{tag}/{name}")
    j = result.jobs[0]
    return {
        "done": j.done,
        "skipped": j.skipped,
        "quarantined": j.quarantined,
        "failures": dict(j.failures),
        "transient": result.transient,
        "status": result.status,
        "requests": sum(t.stats.requests for t in runner.teachers.values()),
        "cpu_s": time.process_time() - cpu0,  # this worker's CPU on the partition (benchmarks read it)
    }


def _merged(job: Job, snaps: dict[int, dict[str, Any]], started: float) -> Snapshot:
    total = Counter[str]()
    failures = Counter[str]()
    for s in snaps.values():
        failures.update(s["failures"])
        total.update({k: v for k, v in s.items() if k != "failures"})
    return Snapshot(
        job=job.name,
        total=job.total(),
        done=total["done"],
        skipped=total["skipped"],
        quarantined=total["quarantined"],
        in_flight=total["in_flight"],
        requests=total["requests"],
        cache_hits=total["cache_hits"],
        tokens=total["tokens"],
        failures=failures,
        started=started,
    )


def _init_ray(address: str | None, workers: int | None) -> Any:
    return init_ray(address, workers, LOCAL_OBJECT_STORE_BYTES)


class RayExecutor:
    """The driver: fixes the partitions, runs each job's partitions as Ray tasks, merges their progress."""

    def __init__(
        self,
        cfg: RunConfig,
        *,
        use_cache: bool = True,
        retry_quarantined: bool = False,
        display: Display | None = None,
        argv: list[str] | None = None,
    ):
        from synth.progress import LogDisplay

        self.cfg = cfg
        self.out = cfg.run.output
        self.display = display or LogDisplay()
        self.options = {
            "use_cache": use_cache,
            "retry_quarantined": retry_quarantined,
            "argv": argv if argv is not None else sys.argv,
        }
        self.outcomes: list[list[dict[str, Any]]] = []  # per job, each partition's counts and CPU seconds

    def run(self, jobs: list[Job]) -> RunResult:
        import secrets
        from datetime import UTC, datetime

        from synth.manifest import write_manifest

        rc = self.cfg.run
        if (self.out / "state.sqlite").exists():
            raise RunLocked(f"{self.out} holds a local run: resume it without --executor ray")
        asyncio.run(_check_teachers(self.cfg, jobs))
        self.out.mkdir(parents=True, exist_ok=True)
        storage = None
        if rc.storage:
            from synth.store.remote import RemoteStore

            storage = RemoteStore(rc.storage)
            if not (self.out / PARTITIONS_FILE).exists():  # a driver on another machine than last time
                storage.get_file(PARTITIONS_FILE, self.out / PARTITIONS_FILE)
        ray = _init_ray(rc.address, rc.workers)
        workers = rc.workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
        partitions = resolve_partitions(self.out, rc.partitions, workers)
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        lock = _OutputLock(self.out)
        lock.acquire()
        status = "failed"
        results: list[JobResult] = []
        transient = 0
        try:
            meta = {
                "partitions": partitions,
                "hash": "blake2b-64(item id) mod partitions",
                "workers": workers,
            }
            (self.out / PARTITIONS_FILE).write_text(json.dumps(meta, indent=2))
            write_manifest(self.out, self.cfg, run_id, jobs, status="running")
            task = ray.remote(num_cpus=1, max_retries=rc.task_retries)(run_partition)
            actor = ray.remote(num_cpus=0)(_ProgressActor).remote()
            for k, job in enumerate(jobs):
                res, trans = self._run_job(ray, task, actor, k, job, partitions, workers, run_id)
                results.append(res)
                transient += trans
            status = "completed"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except Exception as e:
            status = "stopped" if type(e).__name__ == "TeacherUnavailable" else "failed"
            raise
        finally:
            _merge_quarantine(self.out)
            write_manifest(self.out, self.cfg, run_id, jobs, status=status)
            if storage is not None:
                for name in ("manifest.json", PARTITIONS_FILE, "quarantine.jsonl"):
                    storage.put_file(self.out / name, name)
            lock.release()
        return RunResult(run_id, self.out, status, results, transient=transient)

    def _run_job(
        self, ray: Any, task: Any, actor: Any, k: int, job: Job, partitions: int, workers: int, run_id: str
    ) -> tuple[JobResult, int]:
        started = time.monotonic()
        ray.get(actor.reset.remote())
        self.display.start(_merged(job, {}, started))
        todo = list(range(partitions))
        running: dict[Any, int] = {}
        outcomes: list[dict[str, Any]] = []
        try:
            while todo or running:
                # At most `workers` partitions at once; the next one starts when one finishes.
                while todo and len(running) < workers:
                    p = todo.pop(0)
                    running[task.remote(self.cfg, k, p, partitions, self.options, actor)] = p
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                for ref in ready:
                    running.pop(ref)
                    outcome = ray.get(ref)
                    if "error" in outcome:  # a teacher down past its breaker, a full disk: the run's error
                        raise _rebuild(outcome)
                    outcomes.append(outcome)
                snap = _merged(job, ray.get(actor.snapshots.remote()), started)
                self.display.update(snap)
                _write_heartbeat(self.out, run_id, snap)
        except BaseException:
            for ref in running:
                ray.cancel(ref)
            raise
        finally:
            snap = _merged(job, ray.get(actor.snapshots.remote()), started)
            self.display.stop(snap)
        self.outcomes.append(outcomes)
        res = JobResult(job.name)
        for o in outcomes:
            res.done += o["done"]
            res.skipped += o["skipped"]
            res.quarantined += o["quarantined"]
            res.failures.update(o["failures"])
        return res, sum(o["transient"] for o in outcomes)


def _rebuild(outcome: dict[str, Any]) -> Exception:
    from synth.store.errors import OutputWriteError
    from synth.teachers.errors import TeacherUnavailable

    kinds: dict[str, Any] = {"TeacherUnavailable": TeacherUnavailable, "OutputWriteError": OutputWriteError}
    return kinds[outcome["error"]](*outcome["args"])


async def _check_teachers(cfg: RunConfig, jobs: list[Job]) -> None:
    """Every teacher the jobs use, checked by the driver before any task starts (as the local runner does)."""
    from synth.runner import Runner

    probe = Runner(cfg, use_cache=False)
    probe.teachers = probe._teachers_for(jobs)
    try:
        for t in probe.teachers.values():
            await t.check()
    finally:
        await probe._close_teachers()


class _ProgressActor:
    """Holds the latest snapshot of each partition of the job under way."""

    def __init__(self) -> None:
        self.snaps: dict[int, dict[str, Any]] = {}

    def reset(self) -> None:
        self.snaps = {}

    def update(self, p: int, snap: dict[str, Any]) -> None:
        self.snaps[p] = snap

    def snapshots(self) -> dict[int, dict[str, Any]]:
        return self.snaps


def _merge_quarantine(out: Path) -> None:
    """OUT/quarantine.jsonl: the partitions' quarantine files, one after the other (rewritten atomically)."""
    parts = sorted((out / "partitions").glob("p*/quarantine.jsonl"))
    tmp = out / ".quarantine.jsonl.tmp"
    with open(tmp, "w") as f:
        for path in parts:
            f.write(path.read_text())
    os.replace(tmp, out / "quarantine.jsonl")
