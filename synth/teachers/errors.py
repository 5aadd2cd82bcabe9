"""Typed teacher failures. A call either returns a Completion or raises one of these — never None.

Each error has a stable `kind` that lands in the quarantine, so a run's failures can be counted by type.
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
    """The server answered 2xx with something that is not a chat completion (garbage, missing fields)."""

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
