"""The teacher protocol: one async call, many backends.

A *backend* only moves a request to a model and back (`generate`). A `Teacher` (synth/teachers/teacher.py)
wraps a backend with what every backend needs the same way: the request cache, schema validation with bounded
re-asks, typed failures and statistics. So a backend never parses JSON into models and never touches the cache.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
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
        """Canonical form used for cache keys (the same text as json.dumps(..., sort_keys=True))."""
        return self.to_json_bytes().decode()

    def to_json_bytes(self) -> bytes:
        """`to_json`, UTF-8 encoded. Built from pieces encoded once: the schema, the params and each message
        (a consultation re-sends its whole history every turn, and re-encoding it was most of the key's cost)."""
        return b"".join(
            (
                b'{"json_schema":',
                _encoded_schema(self.json_schema),
                b',"messages":',
                encode_messages(self.messages, _message_bytes, _dumps_bytes),
                b',"params":',
                _encoded_params(self.params),
                b',"schema_name":',
                b"null" if self.schema_name is None else _dumps_bytes(self.schema_name),
                b"}",
            )
        )


# One encoder object: json.dumps would build a new one on every call with these options.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dumps_bytes(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode()


class MessageMemo:
    """(role, content) -> the message's encoding, least recently used out first, bounded by BYTES held.

    A consultation re-sends its whole history at every turn, so each message is encoded once and spliced in.
    The bound is on bytes, not entries: with a count bound (32,768 entries before) the memory held depended on
    how long the messages were — ~75 MiB at 2,000 consultations against the stub, more with longer prompts —
    and most entries were finished conversations'. 32 MiB holds the live history of ~1,000 concurrent
    consultations; past that it only misses, which costs what encoding always cost.
    """

    def __init__(self, encode: Callable[[Any], bytes], max_bytes: int = 32 * 2**20):
        self._encode = encode
        self.max_bytes = max_bytes
        self._memo: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self.held = 0  # the encodings' bytes plus the texts kept as keys
        self._lock = threading.Lock()  # the runner calls it from one loop; a Ray worker's threads may not

    def __call__(self, role: str, content: str) -> bytes:
        key = (role, content)
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return hit
        enc = self._encode({"role": role, "content": content})
        size = len(enc) + len(content)
        if size > self.max_bytes // 8:
            return enc  # one huge message would flush everything else
        with self._lock:
            if key not in self._memo:
                # A copy of exactly its length: orjson's bytes keep the 4 KiB buffer they were written into
                # (measured: ~4,100 bytes held for an 80-byte message), which made the old count-bound memo of
                # the openai backend hold ~128 MiB when full.
                self._memo[key] = bytes(memoryview(enc))
                self.held += size
                while self.held > self.max_bytes:
                    (_, old), old_enc = self._memo.popitem(last=False)
                    self.held -= len(old_enc) + len(old)
        return enc

    def __len__(self) -> int:
        return len(self._memo)

    def clear(self) -> None:
        with self._lock:
            self._memo.clear()
            self.held = 0


_message_bytes = MessageMemo(_dumps_bytes)


def encode_messages(
    messages: Sequence[ChatMessage],
    cached: Callable[[str, str], bytes],
    dumps: Callable[[Any], bytes],
    order: tuple[str, str] | None = None,
) -> bytes:
    """A JSON array of messages, each {role, content} message from `cached` and any other from `dumps`.

    `order`, when given, is the key order the cached form assumes (encoders that keep insertion order); without
    it the encoder sorts keys, so any order of the two keys fits.
    """
    parts = []
    # The last message goes uncached: it is the new one (a single-turn item's prompt, a consultation's latest
    # turn), and caching prompts that are never sent again kept up to `maxsize` of them alive: up to ~80 MB more
    # from 10k to 100k single-turn items (docs/benchmarks.md). Each message is cached once it is re-sent.
    last = len(messages) - 1
    for i, m in enumerate(messages):
        if i == last:
            parts.append(dumps(m))
            continue
        if len(m) == 2 and (tuple(m) == order if order else "role" in m and "content" in m):
            role, content = m["role"], m["content"]
            if type(role) is str and type(content) is str:
                parts.append(cached(role, content))
                continue
        parts.append(dumps(m))
    return b"[" + b",".join(parts) + b"]"


# A response schema is one dict per response model, sent with every request: encode it once. Sampling params are
# frozen and shared by every turn of a consultation. Each object is kept alongside its encoding so its id()
# cannot be reused by another object; the params table is emptied when full (a new consultation, new params).
_SCHEMA_JSON: dict[int, tuple[dict[str, Any], bytes]] = {}
_PARAMS_JSON: dict[int, tuple[SamplingParams, bytes]] = {}


def _encoded_schema(schema: dict[str, Any] | None) -> bytes:
    if schema is None:
        return b"null"
    hit = _SCHEMA_JSON.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    enc = _dumps_bytes(schema)
    if len(_SCHEMA_JSON) < 4096:
        _SCHEMA_JSON[id(schema)] = (schema, enc)
    return enc


def _encoded_params(params: SamplingParams) -> bytes:
    hit = _PARAMS_JSON.get(id(params))
    if hit is not None and hit[0] is params:
        return hit[1]
    enc = _dumps_bytes(params.model_dump(mode="json"))
    if len(_PARAMS_JSON) >= 4096:
        _PARAMS_JSON.clear()
    _PARAMS_JSON[id(params)] = (params, enc)
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
