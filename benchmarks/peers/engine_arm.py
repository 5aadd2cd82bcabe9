"""The engine's arm of benchmarks/peers.py: its public Python API on the full path — `Runner` with a teacher on the
openai backend, the request cache on (a fresh output folder per cell, so nothing is a cache hit), run state,
shards and the quarantine — for both workloads.

single  a minimal `Job` (what a user adds to the engine for a new kind of item): each item is one
        `Teacher.complete` into the `DoctorTurn` schema, stored as one record.
multi   the engine's own consultation job (synth/dialogue), built from a run config as `synth run` builds it,
        over the shipped seed cases, with the same turn limits as the peers' loop.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clients import MAX_TOKENS, MAX_TURNS, MIN_TURNS, MODEL, DoctorTurn, conversations_for, single_messages

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout: make `synth` importable
    sys.path.insert(0, str(ROOT))


def _config(out: Path, url: str, concurrency: int, consultations: int | None) -> Any:
    from synth.config import RunConfig

    raw: dict[str, Any] = {
        "run": {"output": str(out), "seed": 7, "concurrency": concurrency, "cache": {"enabled": True}},
        "teachers": {
            "default": {
                "backend": "openai",
                "model": MODEL,
                "base_url": url,
                "api_key_env": None,
                "max_concurrency": concurrency,
                "params": {"temperature": 0.7, "max_tokens": MAX_TOKENS, "seed": 0},
            }
        },
    }
    if consultations is not None:
        raw["consultations"] = {
            "cases": "seeds",
            "per_case": consultations,
            "n": consultations,
            "min_turns": MIN_TURNS,
            "max_turns": MAX_TURNS,
            # The stub's differentials are arbitrary: re-asking them would measure the snapshot contract's
            # re-asks, which the peers' loop has no counterpart for.
            "snapshot_retries": 0,
        }
    return RunConfig.model_validate(raw)


def _single_job(n: int) -> Any:
    from schemas.common import Record
    from synth.jobs import Estimate, Job, RunContext, WorkItem
    from synth.teachers.teacher import Teacher

    class Answer(Record):
        id: str
        turn: DoctorTurn

    class SingleTurnJob(Job):
        name = "single_turn"
        table = "single_turn"
        record_type = Answer

        def items(self) -> Iterator[WorkItem]:
            return (WorkItem(id=f"q-{i:07d}", payload=i) for i in range(n))

        def total(self) -> int:
            return n

        def teacher_names(self) -> list[str]:
            return ["default"]

        async def process(self, item: WorkItem, ctx: RunContext) -> list[Record]:
            c = await ctx.teacher("default").complete(
                single_messages(item.payload), response_format=DoctorTurn
            )
            assert isinstance(c.parsed, DoctorTurn)
            return [Answer(id=item.id, turn=c.parsed)]

        def estimate(self, todo: list[WorkItem], teachers: dict[str, Teacher]) -> Estimate:
            return Estimate(
                job=self.name,
                items_total=n,
                items_todo=len(todo),
                requests=len(todo),
                requests_max=len(todo),
                prompt_tokens=100 * len(todo),
                completion_tokens_max=MAX_TOKENS * len(todo),
                teachers=["default"],
            )

    return SingleTurnJob()


async def run_engine(workload: str, url: str, n: int, c: int, errors: list[str]) -> dict[str, Any]:
    """Runs the cell; returns items done plus what the engine itself counted (requests, cache hits)."""
    from synth.progress import LogDisplay
    from synth.runner import Runner, build_jobs

    out = Path(tempfile.mkdtemp(prefix="peers-engine-"))
    try:
        if workload == "single":
            cfg = _config(out, url, c, None)
            jobs = [_single_job(n)]
        else:
            cfg = _config(out, url, c, conversations_for(n))
            jobs = build_jobs(cfg)
        runner = Runner(cfg, display=LogDisplay(every_s=30.0, stream=sys.stderr), argv=["peers-benchmark"])
        result = await runner.run(jobs)
        (res,) = result.jobs
        errors.extend(f"quarantined {kind}: {count}" for kind, count in dict(res.failures).items())
        stats = [t.stats for t in runner.teachers.values()]
        return {
            "items": res.done,
            "engine_requests": sum(s.requests for s in stats),
            "cache_hits": sum(s.cache_hits for s in stats),
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)
