"""Teacher: a backend plus what every backend needs the same way.

- the request cache (a completed request is never sent again, across runs and crashes);
- schema validation with bounded re-asks (the validation error goes back to the model);
- typed failures: Truncated, Refusal, SchemaInvalid, or the backend's own transport errors — never None;
- a circuit breaker (synth/teachers/breaker.py): after a run of transport failures, requests wait while the
  teacher is probed instead of failing one after another;
- statistics per teacher (requests sent, cache hits, tokens in/out, failures by kind, pauses).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from synth.teachers.base import Backend, ChatMessage, Completion, RawCompletion, Request, SamplingParams
from synth.teachers.breaker import BreakerConfig, CircuitBreaker
from synth.teachers.cache import RequestCache, cache_key
from synth.teachers.errors import Refusal, SchemaInvalid, TeacherError, TeacherUnavailable, Truncated

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass
class TeacherStats:
    requests: int = 0  # sent to the backend
    cache_hits: int = 0
    prompt_tokens: int = 0  # of requests actually sent
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # server-side prefix-cache hits, where the backend reports them
    reasks: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    latency_s: float = 0.0
    pauses: int = 0  # times the circuit breaker paused this teacher

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "reasks": self.reasks,
            "failures": dict(self.failures),
            "latency_s": round(self.latency_s, 3),
            "pauses": self.pauses,
        }


def _schema_for(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _strip_fences(text: str) -> str:
    m = _FENCE.match(text)
    return m.group(1) if m else text


def _short_errors(e: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in e.errors()[:limit]:
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = len(e.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class Teacher:
    """One named teacher of a run. `complete` is the only call the rest of the engine makes."""

    def __init__(
        self,
        name: str,
        backend: Backend,
        *,
        cache: RequestCache | None = None,
        params: SamplingParams | None = None,
        max_reasks: int = 2,
        breaker: BreakerConfig | None = None,
    ):
        self.name = name
        self.backend = backend
        self.cache = cache
        self.params = params or SamplingParams()
        self.max_reasks = max_reasks
        self.stats = TeacherStats()
        self._schemas: dict[type[BaseModel], dict[str, Any]] = {}
        self._inflight: dict[str, asyncio.Future[RawCompletion]] = {}
        # `check` and `location` are optional on a backend: servers have them, in-process backends need neither.
        self.location: str = getattr(backend, "location", None) or f"{backend.kind}:{backend.model}"
        self._check = getattr(backend, "check", None)
        self.breaker = CircuitBreaker(name, self.location, breaker or BreakerConfig(), self._check)

    async def check(self) -> None:
        """Raise TeacherUnavailable if the backend says it cannot be reached (a no-op for in-process ones)."""
        if self._check is None:
            return
        reason = await self._check()
        if reason is not None:
            raise TeacherUnavailable(self.name, self.location, reason)

    @property
    def kind(self) -> str:
        return self.backend.kind

    @property
    def model(self) -> str:
        return self.backend.model

    def request_for(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams | None = None,
        response_format: type[BaseModel] | None = None,
    ) -> Request:
        return self._request(tuple(dict(m) for m in messages), params, response_format)

    def _request(
        self,
        messages: tuple[ChatMessage, ...],
        params: SamplingParams | None,
        response_format: type[BaseModel] | None,
    ) -> Request:
        schema = None
        if response_format is not None:
            schema = self._schemas.get(response_format)
            if schema is None:
                schema = self._schemas[response_format] = _schema_for(response_format)
        return Request(
            messages=messages,
            params=params or self.params,
            json_schema=schema,
            schema_name=response_format.__name__ if response_format is not None else None,
        )

    def key_for(self, request: Request, tag: str = "") -> str:
        return cache_key(self.kind, self.model, request, tag)

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams | None = None,
        response_format: type[BaseModel] | None = None,
        *,
        tag: str = "",
    ) -> Completion:
        t0 = time.perf_counter()
        msgs = [dict(m) for m in messages]
        raws: list[RawCompletion] = []
        hits: list[bool] = []
        try:
            while True:
                # `msgs` holds this call's own copies of the caller's messages, never changed once appended.
                request = self._request(tuple(msgs), params, response_format)
                key = self.key_for(request, tag) if self.cache is not None else None
                raw, hit = await self._generate(request, tag, key)
                raws.append(raw)
                hits.append(hit)
                if raw.refusal or raw.finish_reason in ("content_filter", "refusal"):
                    raise Refusal(
                        f"{self.name}: model refused: {raw.refusal or raw.finish_reason}", body=raw.text
                    )
                if raw.finish_reason == "length":
                    raise Truncated(
                        f"{self.name}: output cut at max_tokens={request.params.max_tokens}",
                        body=raw.text[-500:],
                    )
                if response_format is None:
                    return self._completion(raws, hits, None, t0)
                try:
                    parsed = response_format.model_validate_json(_strip_fences(raw.text))
                except ValidationError as e:
                    if len(raws) > self.max_reasks:
                        raise SchemaInvalid(
                            f"{self.name}: output does not match {response_format.__name__} after "
                            f"{len(raws)} attempts: {_short_errors(e)}",
                            body=raw.text[:2000],
                        ) from None
                    # Re-ask with the error: the conversation so far stays an unchanged prefix.
                    self.stats.reasks += 1
                    msgs += [
                        {"role": "assistant", "content": raw.text},
                        {
                            "role": "user",
                            "content": "That answer does not match the required JSON schema "
                            f"({_short_errors(e)}). Reply again with only one JSON object that matches it.",
                        },
                    ]
                    continue
                return self._completion(raws, hits, parsed, t0)
        except TeacherError as e:
            self.stats.failures[e.kind] += 1
            raise

    def _completion(
        self, raws: list[RawCompletion], hits: list[bool], parsed: BaseModel | None, t0: float
    ) -> Completion:
        last = raws[-1]
        return Completion(
            text=last.text,
            parsed=parsed,
            prompt_tokens=sum(r.prompt_tokens for r in raws),
            completion_tokens=sum(r.completion_tokens for r in raws),
            finish_reason=last.finish_reason,
            latency_s=time.perf_counter() - t0,
            cache_hit=all(hits),
            teacher=self.name,
            backend=self.kind,
            model=self.model,
            attempts=len(raws),
            raws=raws,
        )

    async def _generate(self, request: Request, tag: str, key: str | None) -> tuple[RawCompletion, bool]:
        if key is not None and self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                self.stats.cache_hits += 1
                return cached, True
            # Identical requests in flight at once are sent once.
            pending = self._inflight.get(key)
            if pending is not None:
                return await asyncio.shield(pending), True
        fut: asyncio.Future[RawCompletion] | None = None
        if key is not None:
            fut = asyncio.get_running_loop().create_future()
            self._inflight[key] = fut
        try:
            epoch = await self.breaker.admit()
            t0 = time.perf_counter()
            self.stats.requests += 1
            try:
                raw = await self.backend.generate(request)
            except TeacherError as e:
                self.breaker.failed(e, epoch)
                self.stats.pauses = self.breaker.pauses
                raise
            self.breaker.succeeded(epoch)
            self.stats.latency_s += time.perf_counter() - t0
            self.stats.prompt_tokens += raw.prompt_tokens
            self.stats.completion_tokens += raw.completion_tokens
            self.stats.cached_prompt_tokens += raw.cached_prompt_tokens or 0
            if key is not None and self.cache is not None:
                await self.cache.put(key, self.kind, tag, raw)
            if fut is not None:
                fut.set_result(raw)
            return raw, False
        except BaseException as e:
            if fut is not None:
                fut.set_exception(e)
                fut.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            if key is not None:
                self._inflight.pop(key, None)

    async def aclose(self) -> None:
        await self.breaker.aclose()
        await self.backend.aclose()


def describe_params(params: SamplingParams) -> dict[str, Any]:
    return json.loads(params.model_dump_json(exclude_none=True))
