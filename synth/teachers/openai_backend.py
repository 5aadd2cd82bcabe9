"""The `openai` backend: any OpenAI-compatible chat server (OpenAI, vLLM serve, SGLang, llama.cpp, Ollama).

Two transports, one behaviour:

- ``aiohttp`` (default): a thin client over one `aiohttp.ClientSession`. Measured here, the official SDK spends
  4–9 ms of CPU per request against well under 1 ms for a raw aiohttp request, so at corpus scale the SDK, not
  the server, becomes the limit (see docs/benchmarks.md).
- ``sdk``: `openai.AsyncOpenAI` (its own retries turned off), for comparison and for users who want the SDK.

Either way there is exactly one retry loop on the request path, `_with_retries`, with the official client's
semantics: `max_retries` retries after the first try; retry on 408, 409, 429, >=500, connection errors, timeouts
and 2xx bodies that are not a chat completion (cut off, unparseable, no choices: the model's answer never
arrived, exactly as with a dropped connection); obey `x-should-retry`; honour `retry-after-ms` / `retry-after`
(seconds or an HTTP date) when it is within (0, 60] s; otherwise back off 0.5 s * 2^n, capped at 8 s, times a
jitter of 1 - 0.25*random(). Every failure ends as a typed error of synth.teachers.errors. Concurrency,
requests/min and tokens/min are bounded per backend instance. `check` asks the server's `/models` whether it
can be reached at all (before a run's first item, and to probe a paused teacher).

`base_url` may list several servers: a pool (synth/teachers/pool.py). Each attempt goes to the endpoint with the
fewest requests outstanding; a retry goes to another endpoint when one is in. A transport fault on one endpoint
while another in one has not been tried by that request fails over to it at once, without backoff and without
using a retry: so a request fails on transport only once no endpoint can take it, and the teacher-level breaker
opens only when every endpoint is out. With one URL this is exactly the single-server loop above.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson  # about 3x faster than json on the encode/decode that every request pays
from aiolimiter import AsyncLimiter

from synth.teachers.base import MessageMemo, RawCompletion, Request, SamplingParams, encode_messages
from synth.teachers.config import OpenAITeacherConfig
from synth.teachers.errors import (
    BadResponse,
    ConnectionFailed,
    RateLimited,
    RequestRejected,
    ServerError,
    TeacherError,
    TeacherTimeout,
    is_transient,
)
from synth.teachers.pool import Endpoint, EndpointPool


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


_loads = orjson.loads


# A consultation re-sends its whole history at every turn: each message is encoded once, in a memo bounded by
# bytes like the request cache key's (synth/teachers/base.py).
_message_bytes = MessageMemo(_dumps)


# The official client's constants (openai._constants), kept in one place so tests can shrink the backoff.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
_BODY_SNIPPET = 500
CHECK_TIMEOUT_S = 10.0  # `check` is one GET of a tiny list: a server that takes longer is not fit to serve
_PLACEHOLDER_KEY = "not-needed"  # the SDK insists on a key; local servers ignore it


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server-directed delay in seconds, from `retry-after-ms`, then `retry-after` (seconds or HTTP date)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            continue
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed) - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def retry_delay(retries_taken: int, headers: Mapping[str, str] | None) -> float:
    """How long to wait before retry number `retries_taken + 1` (the SDK's `_calculate_retry_timeout`)."""
    if headers is not None:
        after = retry_after_seconds(headers)
        if after is not None and math.isfinite(after) and 0 < after <= MAX_RETRY_AFTER:
            return after
    backoff = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_taken, 1000), MAX_RETRY_DELAY)
    return max(backoff * (1 - 0.25 * random.random()), 0.0)


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """The SDK's `_should_retry`: the server's explicit word first, then the status code."""
    explicit = headers.get("x-should-retry")
    if explicit == "true":
        return True
    if explicit == "false":
        return False
    return status in (408, 409, 429) or status >= 500


def _status_error(status: int, body: str) -> TeacherError:
    snippet = body[:_BODY_SNIPPET]
    message = f"HTTP {status}: {snippet}"
    if status == 429:
        return RateLimited(message, status=status, body=snippet)
    if status >= 500 or status in (408, 409):
        return ServerError(message, status=status, body=snippet)
    return RequestRejected(message, status=status, body=snippet)


class _Failed(Exception):
    """One attempt's failure inside the retry loop: the typed error, whether a retry may fix it, and the headers
    that may say when."""

    def __init__(self, error: TeacherError, retryable: bool, headers: Mapping[str, str] | None = None):
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.headers = headers


def _connect_reason(exc: BaseException) -> str:
    """A short human reason for a failed connection ("connection refused", "host name not resolved")."""
    import socket

    os_error = getattr(exc, "os_error", None) or exc.__cause__ or exc
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(os_error, socket.gaierror):
        return f"host name not resolved ({os_error.strerror or os_error})"
    return str(os_error) or type(os_error).__name__


class OpenAIBackend:
    """Chat completions against an OpenAI-compatible server. Cheap to build; connects on first use."""

    kind = "openai"

    def __init__(self, cfg: OpenAITeacherConfig):
        self.cfg = cfg
        self.model = cfg.model
        # One endpoint or many; `location` is named in "cannot reach teacher ... at URL".
        self._pool = EndpointPool(cfg.base_urls, cfg.model, cfg.breaker, self._check_url)
        self.location = self._pool.location
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        self._api_key = key or None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._sem = asyncio.Semaphore(cfg.max_concurrency)
        self._rpm = AsyncLimiter(cfg.rpm, 60.0) if cfg.rpm else None
        self._tpm = AsyncLimiter(cfg.tpm, 60.0) if cfg.tpm else None
        self._http: Any = None  # aiohttp.ClientSession, created lazily inside the running loop
        self._sdk: Any = None  # True once each endpoint has its openai.AsyncOpenAI, when transport == "sdk"
        self._start_lock = asyncio.Lock()
        self._formats: dict[tuple[int, str | None, str], tuple[dict[str, Any], dict[str, Any], bytes]] = {}
        self._model_bytes: bytes | None = None
        self._tails: dict[int, tuple[SamplingParams, bytes]] = {}

    async def start(self) -> None:
        """Open the HTTP connection pool (or the SDK client). Called by the first `generate` if not called before."""
        async with self._start_lock:
            if self.cfg.transport == "sdk":
                if self._sdk is None:
                    import openai

                    # No retries inside the SDK: `_with_retries` is the one loop, for both transports (the
                    # SDK cannot retry a 2xx body it fails to parse, and two nested loops multiply attempts).
                    for endpoint in self._pool.endpoints:
                        endpoint.client = openai.AsyncOpenAI(
                            base_url=endpoint.base_url,
                            api_key=self._api_key or _PLACEHOLDER_KEY,
                            max_retries=0,
                            timeout=self.cfg.timeout_s,
                        )
                    self._sdk = True
            elif self._http is None:
                import aiohttp

                self._aiohttp = aiohttp
                self._timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_s)
                self._http = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=self.cfg.max_concurrency),
                    headers=self._headers,
                    timeout=self._timeout,
                    skip_auto_headers=("User-Agent",),
                )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._sdk is not None:
            for endpoint in self._pool.endpoints:
                await endpoint.client.close()
                endpoint.client = None
            self._sdk = None
        await self._pool.aclose()

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per endpoint of the pool: attempts sent, answered, failed, outstanding, whether it is in."""
        return self._pool.stats()

    async def generate(self, request: Request) -> RawCompletion:
        if self._http is None and self._sdk is None:
            await self.start()
        await self._acquire_rate(request)
        async with self._sem:
            if self.cfg.transport == "sdk":
                payload = self._payload(request)
                return await self._with_retries(lambda ep: self._attempt_sdk(ep, payload))
            data = self._body(request)
            return await self._with_retries(lambda ep: self._attempt_aiohttp(ep, data))

    async def check(self) -> str | None:
        """Whether the server can be reached: None if it answers `GET /models`, else the reason it cannot.

        One attempt, never retried (the caller decides: a run stops, a paused teacher's probe backs off). Any
        HTTP answer means reachable, except 401/403: then every request would be rejected, so it is reported.
        A pool is reachable when one endpoint is; the others are named on stderr and taken out until they are.
        """
        return await self._pool.check()

    async def _check_url(self, base_url: str) -> str | None:
        """`check` of one endpoint."""
        import aiohttp

        timeout_s = min(self.cfg.timeout_s, CHECK_TIMEOUT_S)
        url = base_url.rstrip("/") + "/models"
        try:
            async with (
                aiohttp.ClientSession(
                    headers=self._headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
                ) as http,
                http.get(url) as resp,
            ):
                status = resp.status
                await resp.read()
        except TimeoutError:
            return f"no answer within {timeout_s:g} s"
        except aiohttp.ClientConnectorError as exc:
            return _connect_reason(exc)
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"
        if status in (401, 403):
            key = f"the key in ${self.cfg.api_key_env}" if self.cfg.api_key_env else "no key (api_key_env)"
            return f"HTTP {status} from {url}: the server refuses {key}"
        return None

    # -- request building -------------------------------------------------------------------------------------

    def _response_format(self, request: Request) -> tuple[dict[str, Any], bytes] | None:
        """The response_format field, as a dict and pre-encoded (it is the same for every call of one schema)."""
        mode = self.cfg.structured_output
        if request.json_schema is None or mode == "none":
            return None
        key = (id(request.json_schema), request.schema_name, mode)
        hit = self._formats.get(key)
        if hit is not None and hit[0] is request.json_schema:
            return hit[1], hit[2]
        fmt: dict[str, Any] = {"type": "json_object"}
        if mode == "json_schema":
            name = request.schema_name or "response"
            fmt = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": request.json_schema, "strict": True},
            }
        encoded = _dumps(fmt)
        if len(self._formats) < 256:  # the schema object is kept alive here, so its id cannot be reused
            self._formats[key] = (request.json_schema, fmt, encoded)
        return fmt, encoded

    def _base_payload(self, request: Request) -> dict[str, Any]:
        p = request.params
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
        }
        if p.seed is not None:
            payload["seed"] = p.seed
        if p.stop:
            payload["stop"] = list(p.stop)
        return payload

    def _payload(self, request: Request) -> dict[str, Any]:
        """The request body as a dict: what the server receives, whichever transport sends it."""
        payload = self._base_payload(request)
        fmt = self._response_format(request)
        if fmt is not None:
            payload["response_format"] = fmt[0]
        if self.cfg.extra_body:
            payload.update(self.cfg.extra_body)
        return payload

    def _body(self, request: Request) -> bytes:
        """`_payload` encoded: the bytes the aiohttp transport sends.

        Built from pieces so that a conversation's history and the schema are not encoded again at every turn:
        each message's encoding is cached (`_message_bytes`) and the schema's cached bytes are spliced in. The
        result is the encoder's output for the payload dict with `extra_body` merged in and `response_format`
        last.
        """
        fmt = self._response_format(request)
        extra = self.cfg.extra_body
        if "response_format" in extra:
            return _dumps(self._payload(request))
        if "model" in extra or "messages" in extra:
            # extra_body overrides a field spliced below: encode the whole payload.
            fields = self._base_payload(request)
            fields.update(extra)
            head = _dumps(fields)[:-1]
        else:
            if self._model_bytes is None:
                self._model_bytes = _dumps(self.model)
            messages = encode_messages(request.messages, _message_bytes, _dumps, order=("role", "content"))
            head = b"".join(
                (b'{"model":', self._model_bytes, b',"messages":', messages, b",", self._tail(request))
            )
        if fmt is None:
            return head + b"}"
        return b"".join((head, b',"response_format":', fmt[1], b"}"))

    def _tail(self, request: Request) -> bytes:
        """The encoded fields after the messages (sampling params, then extra_body), without braces. The same
        for every turn of a conversation: cached per params object, kept alive here so its id is not reused."""
        params = request.params
        hit = self._tails.get(id(params))
        if hit is not None and hit[0] is params:
            return hit[1]
        fields = self._base_payload(request)
        del fields["model"], fields["messages"]
        fields.update(self.cfg.extra_body)
        tail = _dumps(fields)[1:-1]  # never empty (temperature, top_p, max_tokens)
        if len(self._tails) >= 4096:
            self._tails.clear()
        self._tails[id(params)] = (params, tail)
        return tail

    async def _acquire_rate(self, request: Request) -> None:
        # One acquisition per logical request, not per retry: a retry is paced by its backoff instead.
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:
            chars = sum(len(m.get("content") or "") for m in request.messages)
            estimate = chars / 4 + request.params.max_tokens
            await self._tpm.acquire(min(estimate, self._tpm.max_rate))

    # -- the one retry loop, then one attempt per transport ---------------------------------------------------

    async def _with_retries(self, attempt: Callable[[Endpoint], Awaitable[RawCompletion]]) -> RawCompletion:
        max_retries = self.cfg.max_retries
        retries_taken = 0
        tried: set[str] = set()
        while True:
            endpoint = self._pool.pick(tried)
            if endpoint is None:
                failed = _Failed(
                    ConnectionFailed(f"every endpoint is out: {self._pool.out_reasons()}"), retryable=True
                )
            else:
                tried.add(endpoint.base_url)
                epoch = endpoint.begin()
                try:
                    out = await attempt(endpoint)
                except _Failed as f:
                    endpoint.end(f.error, epoch)
                    failed = f
                else:
                    endpoint.end(None, epoch)
                    return out
            if failed.retryable and is_transient(failed.error) and self._pool.untried_in(tried):
                continue  # failover: another endpoint has not seen this request; not a retry of it
            if failed.retryable and retries_taken < max_retries:
                await asyncio.sleep(retry_delay(retries_taken, failed.headers))
                retries_taken += 1
                continue
            raise failed.error from failed.__cause__

    async def _attempt_aiohttp(self, endpoint: Endpoint, data: bytes) -> RawCompletion:
        aiohttp = self._aiohttp
        url = endpoint.chat_url
        try:
            async with self._http.post(url, data=data) as resp:
                status = resp.status
                body = await resp.read()  # a body cut short by the server raises ClientPayloadError here
                headers = resp.headers
        except TimeoutError as exc:  # before ClientError: aiohttp's timeouts subclass both
            error: TeacherError = TeacherTimeout(f"no answer within {self.cfg.timeout_s} s from {url}")
            raise _Failed(error, retryable=True) from exc
        except aiohttp.ClientError as exc:
            error = ConnectionFailed(f"{type(exc).__name__} talking to {url}: {exc}")
            raise _Failed(error, retryable=True) from exc
        if status < 300:
            try:
                return self._parse(body)
            except BadResponse as exc:
                raise _Failed(exc, retryable=True) from exc.__cause__
        raise _Failed(
            _status_error(status, body.decode("utf-8", "replace")), should_retry(status, headers), headers
        )

    def _parse(self, body: bytes) -> RawCompletion:
        try:
            data = _loads(body)
            choice = data["choices"][0]
            message = choice.get("message") or {}
            usage = data.get("usage") or {}
            details = usage.get("prompt_tokens_details") or {}
            return RawCompletion(
                text=message.get("content") or "",
                finish_reason=choice.get("finish_reason") or "unknown",
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                model=data.get("model") or self.model,
                refusal=message.get("refusal") or None,
                cached_prompt_tokens=details.get("cached_tokens"),
            )
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            snippet = body[:_BODY_SNIPPET].decode("utf-8", "replace")
            raise BadResponse(
                f"not a chat completion ({type(exc).__name__}): {snippet}", body=snippet
            ) from exc

    # -- sdk transport ----------------------------------------------------------------------------------------

    async def _attempt_sdk(self, endpoint: Endpoint, payload: dict[str, Any]) -> RawCompletion:
        import openai

        url = endpoint.chat_url

        known = ("model", "messages", "temperature", "top_p", "max_tokens", "seed", "stop", "response_format")
        kwargs = {k: payload[k] for k in known if k in payload}
        extra = {k: v for k, v in payload.items() if k not in known}
        try:
            out = await endpoint.client.chat.completions.create(**kwargs, extra_body=extra or None)
        except openai.APITimeoutError as exc:  # before APIConnectionError, which it subclasses
            error: TeacherError = TeacherTimeout(f"no answer within {self.cfg.timeout_s} s from {url}")
            raise _Failed(error, retryable=True) from exc
        except openai.APIConnectionError as exc:
            raise _Failed(ConnectionFailed(f"connection to {url} failed: {exc}"), retryable=True) from exc
        except openai.APIStatusError as exc:
            status, headers = exc.status_code, exc.response.headers
            error = _status_error(status, exc.response.text)
            raise _Failed(error, should_retry(status, headers), headers) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:  # a 2xx body it could not parse
            raise _Failed(BadResponse(f"not a chat completion: {exc}"), retryable=True) from exc
        if not getattr(out, "choices", None):
            error = BadResponse(f"no choices in the answer: {str(out)[:_BODY_SNIPPET]}")
            raise _Failed(error, retryable=True)
        choice = out.choices[0]
        usage = out.usage
        details = getattr(usage, "prompt_tokens_details", None) if usage else None
        return RawCompletion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason or "unknown",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=out.model or self.model,
            refusal=getattr(choice.message, "refusal", None) or None,
            cached_prompt_tokens=getattr(details, "cached_tokens", None) if details else None,
        )
