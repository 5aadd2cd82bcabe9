"""Teacher control flow with a scripted backend: cache, re-asks, typed failures, in-flight dedup."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from synth.teachers.base import SamplingParams
from synth.teachers.cache import RequestCache
from synth.teachers.errors import Refusal, SchemaInvalid, ServerError, Truncated
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
