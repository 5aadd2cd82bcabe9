"""What a job is: a deterministic stream of work items, and an async `process` that turns one item into records.

The runner owns concurrency, caching, state, shards, progress and the quarantine; a job never sees them. A job
signals a rejected item by raising `ItemFailed` with a typed kind (teacher failures arrive as TeacherError).
"""

from __future__ import annotations

import abc
import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from schemas.common import Provenance, Record, TeacherCall, TemplateRef
from synth.teachers.base import Completion, SamplingParams
from synth.teachers.teacher import Teacher


def ids_stream_key(job: str, ids: Iterable[str], **extra: object) -> str:
    """A `Job.stream_key` for a job whose stream is a list it reads in full (cases, MCQs, problems): the digest
    of its item ids in order (and of `extra`, what else fixes item i), so a different list is another stream."""
    h = hashlib.sha256()
    for i in ids:
        h.update(i.encode())
        h.update(b"\x1f")
    more = "".join(f" {k}={v}" for k, v in sorted(extra.items()))
    return f"{job}/1{more} ids={h.hexdigest()[:32]}"


class ItemFailed(Exception):
    """An item rejected on purpose (failed a check), with a typed kind for the quarantine."""

    def __init__(self, kind: str, stage: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.stage = stage
        self.message = message


@dataclass(frozen=True)
class WorkItem:
    id: str
    payload: Any


@dataclass
class Estimate:
    """Before spending anything: what a run would send."""

    job: str
    items_total: int
    items_todo: int
    requests: int  # expected, first attempts only
    requests_max: int  # with every re-ask used
    prompt_tokens: int  # expected, ≈ chars/4
    completion_tokens_max: int  # upper bound: max_tokens per request
    cached_requests: int = 0  # first attempts already in the request cache
    teachers: list[str] = field(default_factory=list)


@dataclass
class RunContext:
    run_id: str
    seed: int
    engine_version: str
    teachers: dict[str, Teacher]

    def teacher(self, name: str) -> Teacher:
        return self.teachers[name]

    def provenance(self, job: str, calls: list[TeacherCall], seed: int | None = None) -> Provenance:
        return Provenance(
            engine_version=self.engine_version, run_id=self.run_id, job=job, seed=seed, calls=calls
        )


def call_record(
    role: str, c: Completion, template: TemplateRef | None, params: SamplingParams | None
) -> TeacherCall:
    return TeacherCall(
        role=role,
        teacher=c.teacher,
        backend=c.backend,
        model=c.model,
        template=template,
        params=params.model_dump(mode="json", exclude_none=True) if params else {},
        prompt_tokens=c.prompt_tokens,
        completion_tokens=c.completion_tokens,
        cache_hit=c.cache_hit,
        attempts=c.attempts,
    )


class Job(abc.ABC):
    name: ClassVar[str]
    table: ClassVar[str]  # output table under data/
    record_type: ClassVar[type[Record]]
    # The job of the same run whose output this one reads, if any, and (set by the runner before a dry run's
    # `estimate`) the upstream items still to process: only those can still add items to this job.
    upstream: Job | None = None
    upstream_todo: list[WorkItem] | None = None

    @abc.abstractmethod
    def items(self) -> Iterator[WorkItem]:
        """Every item of the job, in a deterministic order, with stable ids."""

    def stream_key(self) -> str | None:
        """A name for this job's item stream, for jobs whose item number i is the same item (id and payload)
        under every config with the same key, however many items the config asks for. With one, a resume
        starts the stream past the leading items an earlier clean run finished (`items_from`) instead of
        building and looking up each of them. None (the default): every item is built and looked up."""
        return None

    def items_from(self, start: int) -> Iterator[WorkItem]:
        """`items()` from item number `start` on; a job with a `stream_key` overrides it to skip cheaply."""
        return itertools.islice(self.items(), start, None)

    @abc.abstractmethod
    def total(self) -> int: ...

    @abc.abstractmethod
    def teacher_names(self) -> list[str]: ...

    @abc.abstractmethod
    async def process(self, item: WorkItem, ctx: RunContext) -> list[Record]: ...

    @abc.abstractmethod
    def estimate(self, todo: list[WorkItem], teachers: dict[str, Teacher]) -> Estimate: ...
