"""Typed teacher failures. A call either returns a Completion or raises one of these — never None.

Each error has a stable `kind` that lands in the quarantine, so a run's failures can be counted by type.
Transport failures (`TRANSIENT_KINDS`) say nothing about the item: the next plain run tries the item again. The
others are about the content (or the request itself) and stay quarantined until asked (`--retry-quarantined`).
"""

from __future__ import annotations


class TeacherError(Exception):
    """Base of every failure a teacher call can end in."""

    kind = "TeacherError"

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


class RateLimited(TeacherError):
    """429 that persisted through every retry."""

    kind = "RateLimited"


class TeacherTimeout(TeacherError):
    """The request did not finish within the timeout, on every attempt."""

    kind = "Timeout"


class ServerError(TeacherError):
    """5xx (or 408/409) that persisted through every retry."""

    kind = "ServerError"


class ConnectionFailed(TeacherError):
    """Could not connect, or the connection dropped, on every attempt."""

    kind = "ConnectionFailed"


class RequestRejected(TeacherError):
    """A 4xx that retrying cannot fix (bad request, auth, unknown model)."""

    kind = "RequestRejected"


class BadResponse(TeacherError):
    """2xx with a body that is not a chat completion (cut-off or unparseable JSON, no choices), on every attempt.

    A transport fault like a dropped connection: the model's own output was never seen. An answer whose envelope
    is well formed but whose message content fails the response schema is a content failure (SchemaInvalid).
    """

    kind = "BadResponse"


class SchemaInvalid(TeacherError):
    """The output did not validate against the response schema after the bounded re-asks."""

    kind = "SchemaInvalid"


class Truncated(TeacherError):
    """Generation stopped at max_tokens (finish_reason=length)."""

    kind = "Truncated"


class Refusal(TeacherError):
    """The model refused (a refusal field, or finish_reason=content_filter)."""

    kind = "Refusal"


#: kinds that are transport trouble, not the item's content: retried by the next run without being asked
TRANSIENT_KINDS = frozenset(
    {
        RateLimited.kind,
        TeacherTimeout.kind,
        ServerError.kind,
        ConnectionFailed.kind,
        BadResponse.kind,
    }
)


def is_transient(error: TeacherError) -> bool:
    return error.kind in TRANSIENT_KINDS


class TeacherUnavailable(Exception):
    """A teacher cannot be reached (checked before the first item, or down past its breaker's patience).

    Not a TeacherError on purpose: it is the run's failure, never an item's, so it stops the run instead of
    being quarantined against whichever item happened to be asking.
    """

    def __init__(self, teacher: str, where: str, reason: str):
        super().__init__(f"cannot reach teacher '{teacher}' at {where}: {reason}")
        self.teacher = teacher
        self.where = where
        self.reason = reason
