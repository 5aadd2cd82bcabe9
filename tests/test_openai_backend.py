"""The openai backend against a real HTTP server with injected faults, through both transports.

The stub server (tests/servers/openai_stub.py) counts every request it receives, so each test can assert how many
attempts the client made — the retry semantics are the official client's, and the two transports must agree:
transport faults (including 2xx bodies that are cut off or not JSON) are retried within the request, content
failures (a well-formed answer that fails the schema) are re-asked by the teacher.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from synth.teachers import openai_backend
from synth.teachers.base import Request, SamplingParams
from synth.teachers.config import OpenAITeacherConfig
from synth.teachers.errors import (
    BadResponse,
    ConnectionFailed,
    RateLimited,
    RequestRejected,
    SchemaInvalid,
    ServerError,
    TeacherError,
    TeacherTimeout,
    is_transient,
)
from synth.teachers.openai_backend import OpenAIBackend, retry_after_seconds, retry_delay
from synth.teachers.teacher import Teacher
from tests.servers.openai_stub import StubServer

TRANSPORTS = ["aiohttp", "sdk"]


class Finding(BaseModel):
    name: str = Field(min_length=2, max_length=30)
    present: bool


class Diagnosis(BaseModel):
    diagnosis: str = Field(min_length=3, max_length=60)
    confidence: float = Field(ge=0.0, le=1.0)
    severity: Literal["mild", "moderate", "severe"]
    differential: list[str] = Field(min_length=2, max_length=5)
    age: int | None = Field(default=None, ge=0, le=120)
    findings: list[Finding] = Field(min_length=1)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    stub.control(reset=True, clear_faults=True, latency_ms=0, fault_rate=0)
    # Small backoffs keep the suite fast; the Retry-After path is unaffected (it is the server's number).
    monkeypatch.setattr(openai_backend, "INITIAL_RETRY_DELAY", 0.01)
    import openai._base_client

    monkeypatch.setattr(openai._base_client, "INITIAL_RETRY_DELAY", 0.01)


def make(url: str, transport: str = "aiohttp", **kw: Any) -> OpenAIBackend:
    fields: dict[str, Any] = {"max_retries": 2, "timeout_s": 10.0, "api_key_env": None}
    fields.update(kw)
    return OpenAIBackend(
        OpenAITeacherConfig(backend="openai", model="stub-model", base_url=url, transport=transport, **fields)
    )  # type: ignore[arg-type]


def req(text: str = "Fever and cough for three days.", schema: bool = False, **params: Any) -> Request:
    return Request(
        messages=({"role": "system", "content": "You are a clinician."}, {"role": "user", "content": text}),
        params=SamplingParams(**params),
        json_schema=Diagnosis.model_json_schema() if schema else None,
        schema_name="Diagnosis" if schema else None,
    )


async def call(backend: OpenAIBackend, request: Request | None = None) -> Any:
    try:
        return await backend.generate(request or req())
    finally:
        await backend.aclose()


# -- retries ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_429_retry_after_is_honoured(stub: StubServer, transport: str) -> None:
    stub.inject({"kind": "status", "status": 429, "retry_after": 1})
    t0 = time.perf_counter()
    out = await call(make(stub.base_url, transport))
    elapsed = time.perf_counter() - t0
    assert out.finish_reason == "stop" and out.text
    assert 0.95 <= elapsed < 1.8, f"waited {elapsed:.2f} s for a Retry-After of 1 s"
    assert stub.stats()["total"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_retry_after_ms_is_preferred(stub: StubServer, transport: str) -> None:
    stub.inject({"kind": "status", "status": 503, "retry_after_ms": 300, "retry_after": 30})
    t0 = time.perf_counter()
    await call(make(stub.base_url, transport))
    assert 0.28 <= time.perf_counter() - t0 < 1.0
    assert stub.stats()["total"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_500_then_success(stub: StubServer, transport: str) -> None:
    stub.inject({"kind": "status", "status": 500})
    out = await call(make(stub.base_url, transport))
    assert out.text and out.prompt_tokens == 20 and out.completion_tokens == 10
    assert stub.stats()["total"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("status", "error"), [(500, ServerError), (503, ServerError), (429, RateLimited)])
async def test_persistent_failure_after_exactly_max_retries_plus_one(
    stub: StubServer, transport: str, status: int, error: type[Exception]
) -> None:
    stub.inject(*[{"kind": "status", "status": status}] * 10)
    with pytest.raises(error) as info:
        await call(make(stub.base_url, transport, max_retries=2))
    assert info.value.status == status  # type: ignore[attr-defined]
    assert stub.stats()["total"] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_400_is_rejected_without_retry(stub: StubServer, transport: str) -> None:
    stub.inject(
        {"kind": "status", "status": 400, "body": '{"error": {"message": "unknown model stub-model"}}'}
    )
    with pytest.raises(RequestRejected) as info:
        await call(make(stub.base_url, transport))
    assert info.value.status == 400
    assert "unknown model" in (info.value.body or "")
    assert stub.stats()["total"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_x_should_retry_header_is_obeyed(stub: StubServer, transport: str) -> None:
    stub.inject({"kind": "status", "status": 500, "headers": {"x-should-retry": "false"}})
    with pytest.raises(ServerError):
        await call(make(stub.base_url, transport))
    assert stub.stats()["total"] == 1

    stub.control(reset=True)
    stub.inject({"kind": "status", "status": 400, "headers": {"x-should-retry": "true"}})
    assert (await call(make(stub.base_url, transport))).text
    assert stub.stats()["total"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_hang_past_timeout(stub: StubServer, transport: str) -> None:
    stub.inject({"kind": "hang", "seconds": 5}, {"kind": "hang", "seconds": 5})
    t0 = time.perf_counter()
    with pytest.raises(TeacherTimeout):
        await call(make(stub.base_url, transport, timeout_s=0.3, max_retries=1))
    assert time.perf_counter() - t0 < 2.0
    assert stub.stats()["total"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connection_refused(transport: str) -> None:
    with socket.socket() as s:  # a port that was just free and that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionFailed):
        await call(make(f"http://127.0.0.1:{port}/v1", transport, max_retries=1))


# -- answers ---------------------------------------------------------------------------------------------------


BAD_BODIES = ["malformed", "cut", "no_choices"]  # cut-off JSON, a body short of its length, no choices


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", BAD_BODIES)
async def test_bad_body_is_retried_like_a_dropped_connection(
    stub: StubServer, transport: str, kind: str
) -> None:
    stub.inject({"kind": kind})
    out = await call(make(stub.base_url, transport))
    assert out.finish_reason == "stop" and out.text
    assert stub.stats()["total"] == 2 and stub.stats()["faults_served"] == {kind: 1}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", BAD_BODIES)
async def test_persistent_bad_body_is_a_transient_failure(
    stub: StubServer, transport: str, kind: str
) -> None:
    stub.inject(*[{"kind": kind}] * 10)
    with pytest.raises(TeacherError) as info:
        await call(make(stub.base_url, transport, max_retries=2))
    # A body cut short surfaces as a dropped connection, a complete but broken one as BadResponse: both are
    # transport faults, which the next run retries without being asked.
    expected = ConnectionFailed if kind == "cut" else BadResponse
    assert isinstance(info.value, expected), info.value
    assert is_transient(info.value)
    assert stub.stats()["total"] == 3  # the one retry loop: max_retries + 1 attempts, never more


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_wrong_shape_is_a_content_failure_reasked_not_retried(stub: StubServer, transport: str) -> None:
    """A well-formed completion whose content fails the schema is the model's answer: re-asked with the error,
    never re-sent as it was; a cut-off body is re-sent as it was and never re-asked."""
    teacher = Teacher("t", make(stub.base_url, transport), max_reasks=2)
    try:
        stub.inject({"kind": "wrong_shape"})
        c = await teacher.complete(req().messages, response_format=Diagnosis)
        assert isinstance(c.parsed, Diagnosis) and c.attempts == 2 and teacher.stats.reasks == 1
        assert stub.stats()["total"] == 2 and stub.stats()["max_repeat"] == 1  # the re-ask is a new request

        stub.control(reset=True)
        stub.inject({"kind": "malformed"})
        c = await teacher.complete(req("another case").messages, response_format=Diagnosis)
        assert c.attempts == 1 and teacher.stats.reasks == 1  # no re-ask for a transport fault
        assert stub.stats()["total"] == 2 and stub.stats()["max_repeat"] == 2  # the same request, re-sent

        stub.control(reset=True)
        stub.inject(*[{"kind": "wrong_shape"}] * 10)
        with pytest.raises(SchemaInvalid):
            await teacher.complete(req("a third case").messages, response_format=Diagnosis)
        assert stub.stats()["total"] == 3  # 1 + max_reasks asks, each sent once
        assert not is_transient(SchemaInvalid("x"))
    finally:
        await teacher.aclose()


async def test_check_says_why_a_server_cannot_be_reached(stub: StubServer) -> None:
    assert await make(stub.base_url).check() is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert await make(f"http://127.0.0.1:{port}/v1").check() == "connection refused"
    stub.control(models_status=401)
    try:
        reason = await make(stub.base_url, api_key_env="STUB_TEACHER_KEY").check()
    finally:
        stub.control(models_status=200)
    assert reason is not None and "HTTP 401" in reason and "STUB_TEACHER_KEY" in reason
    stub.control(models_status=404)  # a server without /models is still a server
    try:
        assert await make(stub.base_url).check() is None
    finally:
        stub.control(models_status=200)
    assert stub.stats()["total"] == 0  # a check sends no chat request


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_length_and_refusal_are_surfaced(stub: StubServer, transport: str) -> None:
    backend = make(stub.base_url, transport)
    try:
        stub.inject({"kind": "length"})
        out = await backend.generate(req())
        assert out.finish_reason == "length"
        stub.inject({"kind": "refusal", "text": "I cannot help with that."})
        out = await backend.generate(req())
        assert out.refusal == "I cannot help with that."
        assert out.text == ""
    finally:
        await backend.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_json_schema_answer_validates(stub: StubServer, transport: str) -> None:
    backend = make(stub.base_url, transport)
    try:
        a = await backend.generate(req("case A", schema=True))
        b = await backend.generate(req("case B", schema=True))
    finally:
        await backend.aclose()
    assert Diagnosis.model_validate_json(a.text) != Diagnosis.model_validate_json(b.text)
    assert a.cached_prompt_tokens == 0
    assert stub.stats()["max_repeat"] == 1


def test_payload_fields() -> None:
    backend = make("http://127.0.0.1:9/v1", extra_body={"top_k": 20, "repetition_penalty": 1.1})
    p = backend._payload(req(schema=True, temperature=0.2, top_p=0.9, max_tokens=64, seed=7, stop=("END",)))
    assert p["model"] == "stub-model" and len(p["messages"]) == 2
    assert (p["temperature"], p["top_p"], p["max_tokens"], p["seed"], p["stop"]) == (0.2, 0.9, 64, 7, ["END"])
    assert p["top_k"] == 20 and p["repetition_penalty"] == 1.1
    fmt = p["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"] == {
        "name": "Diagnosis",
        "schema": Diagnosis.model_json_schema(),
        "strict": True,
    }
    assert json.loads(backend._body(req(schema=True, seed=7))) == backend._payload(req(schema=True, seed=7))
    override = make("http://x/v1", extra_body={"response_format": {"type": "json_object"}})
    assert json.loads(override._body(req(schema=True)))["response_format"] == {"type": "json_object"}
    assert "seed" not in make("http://x/v1")._payload(req())
    assert "response_format" not in make("http://x/v1")._payload(req())
    assert make("http://x/v1", structured_output="json_object")._payload(req(schema=True))[
        "response_format"
    ] == {"type": "json_object"}
    assert "response_format" not in make("http://x/v1", structured_output="none")._payload(req(schema=True))


def test_api_key_from_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_TEACHER_KEY", "sk-test")
    assert make("http://x/v1", api_key_env="STUB_TEACHER_KEY")._headers["Authorization"] == "Bearer sk-test"
    monkeypatch.delenv("STUB_TEACHER_KEY")
    assert "Authorization" not in make("http://x/v1", api_key_env="STUB_TEACHER_KEY")._headers


def test_retry_delay_matches_the_official_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_backend, "INITIAL_RETRY_DELAY", 0.5)
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 5))
    assert 3.0 < (retry_after_seconds({"retry-after": date}) or 0) <= 5.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_delay(0, {"retry-after": "3"}) == 3.0
    # Out of (0, 60]: ignored, exponential backoff with jitter instead.
    for n, base in [(0, 0.5), (1, 1.0), (2, 2.0), (5, 8.0), (50, 8.0)]:
        for headers in (None, {"retry-after": "120"}, {"retry-after": "0"}):
            d = retry_delay(n, headers)
            assert 0.75 * base <= d <= base


# -- limits ----------------------------------------------------------------------------------------------------


async def test_concurrency_bound_is_respected(stub: StubServer) -> None:
    stub.control(latency_ms=50)
    backend = make(stub.base_url, max_concurrency=4)
    try:
        await asyncio.gather(*(backend.generate(req(f"case {i}")) for i in range(24)))
    finally:
        await backend.aclose()
    stats = stub.stats()
    assert stats["total"] == 24 and stats["max_repeat"] == 1
    assert stats["max_in_flight"] == 4


@pytest.mark.parametrize("limit", ["rpm", "tpm"])
async def test_rate_limiter_delays_requests(stub: StubServer, limit: str) -> None:
    # A token bucket lets the first minute's budget through at once, then leaks: 120 rpm = one request per 0.5 s.
    kw = {"rpm": 120.0} if limit == "rpm" else {"tpm": 120 * 1000.0}
    backend = make(stub.base_url, max_concurrency=256, **kw)
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(backend.generate(req(f"c{i}", max_tokens=1000)) for i in range(123)))
    finally:
        await backend.aclose()
    assert time.perf_counter() - t0 >= 1.2
    assert stub.stats()["total"] == 123


async def test_stub_as_subprocess_with_control_endpoint() -> None:
    import subprocess
    import sys
    from pathlib import Path

    import aiohttp

    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "tests.servers.openai_stub", "--port", "0", "--max-lifetime-s", "60"]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        server = url.removesuffix("/v1")
        async with aiohttp.ClientSession() as http:
            await http.post(f"{server}/control", json={"faults": [{"kind": "status", "status": 503}]})
            out = await call(make(url), req("via subprocess", schema=True))
            Diagnosis.model_validate_json(out.text)
            async with http.get(f"{server}/stats") as resp:
                stats = await resp.json()
            async with http.get(f"{url}/models") as resp:
                assert (await resp.json())["data"][0]["id"]
        assert stats["total"] == 2 and stats["max_repeat"] == 2 and stats["faults_served"] == {"status": 1}
    finally:
        proc.kill()
        proc.wait()
