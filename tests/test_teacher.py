"""Teacher control flow with a scripted backend: cache, re-asks, typed failures, in-flight dedup, the breaker."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, ValidationError

from synth.teachers.base import SamplingParams
from synth.teachers.breaker import BreakerConfig
from synth.teachers.cache import RequestCache
from synth.teachers.config import OpenAITeacherConfig
from synth.teachers.errors import (
    ConnectionFailed,
    Refusal,
    RequestRejected,
    SchemaInvalid,
    ServerError,
    TeacherUnavailable,
    Truncated,
)
from synth.teachers.teacher import Teacher
from tests.fakes import ScriptedBackend, raw


class Answer(BaseModel):
    diagnosis: str
    confidence: float


MSGS = [{"role": "user", "content": "diagnose"}]


async def test_parsed_and_cached(tmp_path):
    backend = ScriptedBackend([{"diagnosis": "gout", "confidence": 0.8}])
    cache = RequestCache(tmp_path / "c.sqlite")
    t = Teacher("t", backend, cache=cache)
    c1 = await t.complete(MSGS, response_format=Answer, tag="tpl@v1")
    assert isinstance(c1.parsed, Answer) and c1.parsed.diagnosis == "gout" and not c1.cache_hit
    c2 = await t.complete(MSGS, response_format=Answer, tag="tpl@v1")
    assert c2.cache_hit and c2.parsed == c1.parsed
    assert len(backend.calls) == 1
    # A different template version is a different request.
    backend.script.append({"diagnosis": "pseudogout", "confidence": 0.5})
    c3 = await t.complete(MSGS, response_format=Answer, tag="tpl@v2")
    assert c3.parsed.diagnosis == "pseudogout" and len(backend.calls) == 2
    cache.close()
    # Survives reopening (a new process).
    cache2 = RequestCache(tmp_path / "c.sqlite")
    t2 = Teacher("t", ScriptedBackend([]), cache=cache2)
    c4 = await t2.complete(MSGS, response_format=Answer, tag="tpl@v1")
    assert c4.cache_hit and c4.parsed.diagnosis == "gout"
    cache2.close()


async def test_reask_then_success():
    backend = ScriptedBackend(
        ['{"diagnosis": "gout"}', '```json\n{"diagnosis": "gout", "confidence": 1}\n```']
    )
    t = Teacher("t", backend, max_reasks=2)
    c = await t.complete(MSGS, response_format=Answer)
    assert c.attempts == 2 and c.parsed.confidence == 1.0
    # The re-ask appends to the conversation (unchanged prefix) and names the failing field.
    second = backend.calls[1].messages
    assert second[: len(MSGS)] == tuple(MSGS)
    assert "confidence" in second[-1]["content"]
    assert t.stats.reasks == 1


async def test_schema_invalid_after_bounded_reasks():
    backend = ScriptedBackend(["not json"] * 5)
    t = Teacher("t", backend, max_reasks=2)
    with pytest.raises(SchemaInvalid, match="after 3 attempts"):
        await t.complete(MSGS, response_format=Answer)
    assert len(backend.calls) == 3
    assert t.stats.failures["SchemaInvalid"] == 1


async def test_truncated_and_refusal_are_typed():
    t = Teacher("t", ScriptedBackend([raw('{"diagn', finish_reason="length")]))
    with pytest.raises(Truncated):
        await t.complete(MSGS, SamplingParams(max_tokens=3), response_format=Answer)
    t = Teacher("t", ScriptedBackend([raw("", refusal="I can't help with that")]))
    with pytest.raises(Refusal):
        await t.complete(MSGS)


async def test_transport_error_propagates_typed_and_nothing_cached(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    backend = ScriptedBackend([ServerError("boom", status=500), "ok"])
    t = Teacher("t", backend, cache=cache)
    with pytest.raises(ServerError):
        await t.complete(MSGS)
    c = await t.complete(MSGS)
    assert c.text == "ok" and not c.cache_hit
    cache.close()


async def test_identical_concurrent_requests_sent_once(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    backend = ScriptedBackend(lambda r: raw("same"), delay_s=0.05)
    t = Teacher("t", backend, cache=cache)
    outs = await asyncio.gather(*[t.complete(MSGS) for _ in range(10)])
    assert {o.text for o in outs} == {"same"}
    assert len(backend.calls) == 1
    cache.close()


async def test_cache_batches_many_concurrent_writes(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    backend = ScriptedBackend(lambda r: raw(r.messages[-1]["content"]))
    t = Teacher("t", backend, cache=cache)
    await asyncio.gather(*[t.complete([{"role": "user", "content": f"q{i}"}]) for i in range(500)])
    assert cache.summary()["entries"] == 500
    assert cache.stats.commits < 100  # group commit: far fewer transactions than writes
    cache.close()


# -- the circuit breaker ---------------------------------------------------------------------------------------

FAST = BreakerConfig(failures=3, probe_initial_s=0.01, probe_max_s=0.05, give_up_after_s=5.0)


class CheckedBackend(ScriptedBackend):
    """A scripted backend with a `check`, like a server's: `up` says whether the probe gets an answer."""

    location = "http://teacher.test/v1"

    def __init__(self, script, **kw):
        super().__init__(script, **kw)
        self.up = True
        self.checks = 0

    async def check(self) -> str | None:
        self.checks += 1
        return None if self.up else "connection refused"


def _down_then(answer: str, down_for: int):
    sent = {"n": 0}

    def script(req):
        sent["n"] += 1
        return ConnectionFailed("refused") if sent["n"] <= down_for else raw(answer)

    return script


async def test_breaker_pauses_after_k_transport_failures_and_resumes_on_a_good_probe():
    backend = CheckedBackend(_down_then("ok", down_for=3))
    backend.up = False
    t = Teacher("t", backend, breaker=FAST)
    for i in range(3):
        with pytest.raises(ConnectionFailed):
            await t.complete([{"role": "user", "content": f"q{i}"}])
    assert t.breaker.is_open and t.stats.pauses == 1
    waiting = asyncio.create_task(t.complete([{"role": "user", "content": "q3"}]))
    await asyncio.sleep(0.2)
    assert not waiting.done() and len(backend.calls) == 3  # paused: nothing sent, nothing failed
    assert backend.checks >= 2  # probed, with backoff
    backend.up = True
    out = await asyncio.wait_for(waiting, 2)
    assert out.text == "ok" and not t.breaker.is_open and len(backend.calls) == 4
    await t.aclose()


async def test_an_answer_sent_before_the_breaker_opened_does_not_close_it():
    # A server going down may finish what it had: that late answer says nothing about the server now.
    from synth.teachers.breaker import CircuitBreaker

    async def down() -> str | None:
        return "connection refused"

    b = CircuitBreaker("t", "http://127.0.0.1:1/v1", FAST, down)
    early = await b.admit()
    for _ in range(FAST.failures):
        b.failed(ConnectionFailed("refused"), await b.admit())
    assert b.is_open and b.pauses == 1
    b.succeeded(early)  # the stale answer
    assert b.is_open and b.pauses == 1
    b.failed(ConnectionFailed("refused"), early)
    assert b.is_open and b.pauses == 1
    b.succeeded(b.epoch)  # an answer to a request admitted now: reachable
    assert not b.is_open
    await b.aclose()


async def test_breaker_gives_up_with_teacher_unavailable():
    backend = CheckedBackend(lambda r: ConnectionFailed("refused"))
    backend.up = False
    t = Teacher("t", backend, breaker=FAST.model_copy(update={"give_up_after_s": 0.15}))
    for i in range(3):
        with pytest.raises(ConnectionFailed):
            await t.complete([{"role": "user", "content": f"q{i}"}])
    with pytest.raises(
        TeacherUnavailable, match=r"cannot reach teacher 't' at http://teacher.test/v1: still"
    ):
        await asyncio.wait_for(t.complete([{"role": "user", "content": "q3"}]), 2)
    assert len(backend.calls) == 3
    await t.aclose()


async def test_breaker_without_a_check_lets_one_request_through_at_a_time():
    backend = ScriptedBackend(_down_then("ok", down_for=4))  # no `check`: the probe is one real request
    t = Teacher("t", backend, breaker=FAST)
    for i in range(3):
        with pytest.raises(ConnectionFailed):
            await t.complete([{"role": "user", "content": f"q{i}"}])
    assert t.breaker.is_open
    outs = await asyncio.gather(
        *[t.complete([{"role": "user", "content": f"w{i}"}]) for i in range(5)], return_exceptions=True
    )
    # The first trial fails (the 4th failure); the next trial succeeds and lets the others go.
    assert sum(isinstance(o, ConnectionFailed) for o in outs) == 1
    assert sum(not isinstance(o, Exception) for o in outs) == 4
    assert len(backend.calls) == 3 + 5 and not t.breaker.is_open
    await t.aclose()


async def test_content_failures_and_rejections_never_pause():
    answers = [RequestRejected("HTTP 400", status=400), "not json"] * 10
    t = Teacher("t", ScriptedBackend(answers), max_reasks=0, breaker=FAST)
    for i in range(10):
        with pytest.raises((RequestRejected, SchemaInvalid)):
            await t.complete([{"role": "user", "content": f"q{i}"}], response_format=Answer)
    assert not t.breaker.is_open and t.stats.pauses == 0


async def test_breaker_off_and_threshold_from_config():
    t = Teacher(
        "t", ScriptedBackend(lambda r: ServerError("503", status=503)), breaker=BreakerConfig(failures=0)
    )
    for i in range(20):
        with pytest.raises(ServerError):
            await t.complete([{"role": "user", "content": f"q{i}"}])
    assert not t.breaker.is_open
    with pytest.raises(ValidationError, match="failurs"):
        OpenAITeacherConfig(backend="openai", model="m", breaker={"failurs": 3})  # type: ignore[arg-type]
    assert OpenAITeacherConfig(backend="openai", model="m", breaker={"failures": 3}).breaker.failures == 3  # type: ignore[arg-type]


async def test_check_names_the_teacher_and_where():
    backend = CheckedBackend(["ok"])
    backend.up = False
    with pytest.raises(TeacherUnavailable) as info:
        await Teacher("default", backend).check()
    assert str(info.value) == "cannot reach teacher 'default' at http://teacher.test/v1: connection refused"
    await Teacher("default", ScriptedBackend([])).check()  # nothing to reach: in-process backends pass
