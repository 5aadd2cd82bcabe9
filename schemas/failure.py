"""Quarantine: every item that did not make it, with a typed reason. Nothing disappears silently."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas.common import Record, utcnow


class QuarantineRecord(Record):
    item_id: str
    job: str
    stage: str = Field(description="where it failed: a teacher role, a check, validation")
    error_type: str = Field(description="typed reason, e.g. SchemaInvalid, Truncated, InconsistentCase")
    message: str
    created_at: datetime = Field(default_factory=utcnow)


class LedgerEntry(Record):
    """A record the quality filter dropped: which stage, why, and for duplicates the record it duplicated."""

    record_id: str
    table: str
    stage: str
    reason: str
    duplicate_of: str | None = None
