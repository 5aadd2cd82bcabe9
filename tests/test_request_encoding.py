"""Request encoding: the request-cache key bytes never change, and the openai body is what the payload says.

The encodings are built from per-message pieces cached between requests (a consultation re-sends its whole
history every turn); these tests pin them to the plain `json.dumps` definitions and to keys computed before the
pieces were cached, so an existing request cache stays valid.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from synth.teachers.base import Request, SamplingParams
from synth.teachers.cache import cache_key
from synth.teachers.config import OpenAITeacherConfig
from synth.teachers.openai_backend import OpenAIBackend

SCHEMA: dict[str, Any] = {
    "properties": {
        "answer": {"maxLength": 300, "minLength": 1, "title": "Answer", "type": "string"},
        "kind": {"enum": ["ask", "request_test", "final_diagnosis"], "type": "string"},
    },
    "required": ["answer", "kind"],
    "title": "Reply",
    "type": "object",
}

MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You are a doctor.\nAsk one question at a time."},
    {"role": "user", "content": 'Patient: "it hurts here" — für 3 Tage, 胸痛\t\x01 \\ end'},
    {"role": "assistant", "content": '{"answer": "When did it start?", "kind": "ask"}'},
    {"content": "content before role", "role": "user"},
    {"role": "user", "content": "with a name", "name": "examiner"},
    {"role": "user", "content": ""},
]


def golden_cases() -> dict[str, tuple[str, str, Request, str]]:
    plain = SamplingParams()
    seeded = SamplingParams(temperature=0.3, top_p=0.9, max_tokens=64, seed=7, stop=("###", "\n\n"))
    return {
        "schema": ("openai", "m", Request(tuple(MESSAGES), seeded, SCHEMA, "Reply"), "doctor@v1:abc"),
        "no_schema": ("vllm", "embedded", Request(tuple(MESSAGES[:3]), plain), ""),
        "one_message": ("openai", "gpt-x", Request((MESSAGES[1],), plain, SCHEMA, "Reply"), "t"),
        "empty": ("fake", "f", Request((), plain), ""),
    }


# Computed with the encoder as it was before its pieces were cached: every existing cache uses these.
GOLDEN = {
    "schema": "8e93a01c943745a49324535f29e72589fff34feef99f2e8f3f274e2e58d372c3",
    "no_schema": "7b1b82b771e96cdcb8b7e4a7bfd4756a425c0542a5bbe1ac35351b0ce2c4b3a4",
    "one_message": "ffd484f560ec7cad4a5dc504f94e4984a2ae12b982f6cb0d78578121b4dc96c3",
    "empty": "f3d436b21e1bd01cd8cae7042f95e70e483faf16fa3b240d94d91d048512d06b",
}


def _reference_json(r: Request) -> str:
    d = {
        "messages": list(r.messages),
        "params": r.params.model_dump(mode="json"),
        "json_schema": r.json_schema,
        "schema_name": r.schema_name,
    }
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_cache_key_bytes_unchanged(name: str) -> None:
    backend, model, request, tag = golden_cases()[name]
    assert cache_key(backend, model, request, tag) == GOLDEN[name]
    assert request.to_json() == _reference_json(request)
    assert request.to_json_bytes() == _reference_json(request).encode()
    # Again: the second encoding comes from the cached pieces.
    assert cache_key(backend, model, request, tag) == GOLDEN[name]


def test_long_parts_hash_the_same() -> None:
    import hashlib

    long = {"role": "user", "content": "x" * 10_000 + "é" * 3_000}
    request = Request((long, *MESSAGES), SamplingParams(), SCHEMA, "Reply")
    h = hashlib.sha256()
    for part in ("b", "m", "t", request.to_json()):
        h.update(part.encode() + b"\x1f")
    assert cache_key("b", "m", request, "t") == h.hexdigest()


def _reference_body(backend: OpenAIBackend, request: Request) -> bytes:
    # As sent before the body was built from pieces: the payload with extra_body merged in, response_format last.
    from synth.teachers.openai_backend import _dumps

    payload = backend._payload(request)
    if "response_format" in payload and "response_format" not in backend.cfg.extra_body:
        payload["response_format"] = payload.pop("response_format")
    return _dumps(payload)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"extra_body": {"top_k": 20}},
        {"extra_body": {"temperature": 0.1, "chat_template_kwargs": {"x": [1]}}},
        {"extra_body": {"model": "other"}},
        {"extra_body": {"messages": []}},
        {"extra_body": {"response_format": {"type": "json_object"}}},
        {"structured_output": "json_object"},
        {"structured_output": "none"},
    ],
)
def test_openai_body_is_the_payload(settings: dict[str, Any]) -> None:
    cfg = OpenAITeacherConfig.model_validate(
        {
            "backend": "openai",
            "model": 'm"é',
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": None,
            **settings,
        }
    )
    backend = OpenAIBackend(cfg)
    for _, _, request, _ in golden_cases().values():
        for _ in range(2):  # the second time from cached pieces
            body = backend._body(request)
            assert body == _reference_body(backend, request)
            assert json.loads(body) == json.loads(_dumps_payload(backend, request))


def _dumps_payload(backend: OpenAIBackend, request: Request) -> str:
    return json.dumps(backend._payload(request), ensure_ascii=False)


def test_message_memo_is_bounded_by_bytes_and_keeps_what_is_re_sent():
    from synth.teachers.base import MessageMemo, _dumps_bytes

    calls: list[str] = []

    def enc(m: dict[str, str]) -> bytes:
        calls.append(m["content"])
        return _dumps_bytes(m)

    memo = MessageMemo(enc, max_bytes=4096)
    first = memo("system", "s" * 100)
    assert memo("system", "s" * 100) == first == _dumps_bytes({"role": "system", "content": "s" * 100})
    assert calls == ["s" * 100]  # encoded once
    for i in range(200):  # far more than the bound: old conversations' messages
        memo("user", f"turn {i} " + "x" * 50)
        memo("system", "s" * 100)  # the re-sent one stays the most recent
    assert memo.held <= 4096
    assert len(memo) < 100
    assert calls.count("s" * 100) == 1  # never evicted while it kept being re-sent
    huge = "h" * 1000  # more than an eighth of the bound: encoded, not kept
    assert memo("user", huge) == _dumps_bytes({"role": "user", "content": huge})
    assert ("user", huge) not in memo._memo
    memo.clear()
    assert len(memo) == 0 and memo.held == 0


def test_message_memo_holds_what_its_bound_counts():
    """orjson's bytes keep the 4 KiB buffer they were written into; the memo keeps a copy of the right size,
    so the bytes its bound counts are the bytes it holds (the openai backend's memo held ~4 KiB per message)."""
    import tracemalloc

    import orjson

    from synth.teachers.base import MessageMemo

    memo = MessageMemo(orjson.dumps)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            memo("user", f"message number {i}")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(memo) == 2000
    assert grown / 2000 < 600, f"{grown / 2000:.0f} bytes per ~50-byte message"
