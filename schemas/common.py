"""Shared pieces of the record contract: schema version, content-derived ids, provenance.

Every record carries `schema_version` so a consumer can refuse data it does not understand, and an `id`
derived from its content so a rerun (or a second machine) producing the same thing never duplicates it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Minor bump: fields added with defaults, so older records still validate and read (1.1: the consultation's
# per-turn evaluation). Major bump: a change an older reader would misread.
SCHEMA_VERSION = "1.1"


class Record(BaseModel):
    """Base of every stored record: strict (unknown fields are errors) and versioned."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    schema_version: str = SCHEMA_VERSION


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same content always gives the same bytes."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_id(prefix: str, *parts: Any, length: int = 16) -> str:
    """A stable id from content: `prefix-<hex>`; the same parts always give the same id."""
    h = hashlib.sha256()
    for p in parts:
        h.update(canonical_json(p).encode())
        h.update(b"\x1f")
    return f"{prefix}-{h.hexdigest()[:length]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class TemplateRef(BaseModel):
    """Which prompt template produced a step: id, version and the hash of its text."""

    model_config = ConfigDict(extra="forbid")

    id: str
    version: int
    sha256: str


class TeacherCall(BaseModel):
    """One teacher call behind a record: who answered, with which template and sampling, at what cost."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="what the call was for, e.g. 'case_synthesis' or 'patient'")
    teacher: str = Field(description="name of the teacher in the run config")
    backend: str
    model: str
    template: TemplateRef | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit: bool = False
    attempts: int = 1


class Provenance(BaseModel):
    """How a record was made. Never holds an API key or any other secret."""

    model_config = ConfigDict(extra="forbid")

    engine_version: str
    run_id: str
    job: str
    seed: int | None = None
    calls: list[TeacherCall] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    synthetic: bool = Field(default=True, description="generated text: synthetic, not for clinical use")
