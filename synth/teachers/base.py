"""The teacher protocol: one async call, many backends.

A *backend* only moves a request to a model and back (`generate`). A `Teacher` (synth/teachers/teacher.py)
wraps a backend with what every backend needs the same way: the request cache, schema validation with bounded
re-asks, typed failures and statistics. So a backend never parses JSON into models and never touches the cache.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

ChatMessage = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


class SamplingParams(BaseModel):
    """Sampling options every backend understands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=512, ge=1)
    seed: int | None = None
    stop: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Request:
    """What a backend sends. `json_schema` (a JSON Schema dict) asks for structured output."""

    messages: tuple[ChatMessage, ...]
    params: SamplingParams
    json_schema: dict[str, Any] | None = None
    schema_name: str | None = None

    def to_json(self) -> str:
        """Canonical form used for cache keys (the same bytes as json.dumps(..., sort_keys=True))."""
        return (
            '{"json_schema":'
            + _encoded_schema(self.json_schema)
            + ',"messages":'
            + _dumps(list(self.messages))
            + ',"params":'
            + _dumps(self.params.model_dump(mode="json"))
            + ',"schema_name":'
            + _dumps(self.schema_name)
            + "}"
        )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# A response schema is one dict per response model, sent with every request: encode it once.
# The dict is kept alongside its encoding so its id() cannot be reused by another object.
_SCHEMA_JSON: dict[int, tuple[dict[str, Any], str]] = {}


def _encoded_schema(schema: dict[str, Any] | None) -> str:
    if schema is None:
        return "null"
    hit = _SCHEMA_JSON.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    enc = _dumps(schema)
    if len(_SCHEMA_JSON) < 4096:
        _SCHEMA_JSON[id(schema)] = (schema, enc)
    return enc


FinishReason = Literal["stop", "length", "content_filter", "refusal", "tool_calls", "error", "unknown"]


@dataclass
class RawCompletion:
    """What a backend returns: text and accounting, nothing parsed."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    refusal: str | None = None
    cached_prompt_tokens: int | None = (
        None  # prompt tokens served from the server's prefix cache, if reported
    )


@dataclass
class Completion:
    """What a caller gets: text, parsed object, token counts, finish reason, latency, cache hit."""

    text: str
    parsed: BaseModel | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    latency_s: float
    cache_hit: bool
    teacher: str
    backend: str
    model: str
    attempts: int = 1  # 1 + number of schema re-asks
    raws: list[RawCompletion] = field(default_factory=list)


@runtime_checkable
class Backend(Protocol):
    """Transport to one model. Raises synth.teachers.errors.TeacherError subclasses on failure."""

    kind: str  # "openai" | "vllm" | "local" | "fake"
    model: str

    async def generate(self, request: Request) -> RawCompletion: ...

    async def aclose(self) -> None: ...
