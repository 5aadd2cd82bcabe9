"""The `local` backend. Fast tests check the scheduler with a stand-in for the model; the slow ones run the real
embedded model (SmolLM2-135M-Instruct): constrained JSON, batching, truncation, plain text, stop strings and
seeded reproducibility, one backend (one model load) serving them all."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pytest
import pytest_asyncio
from pydantic import BaseModel, Field

from synth.teachers.base import RawCompletion, Request, SamplingParams
from synth.teachers.config import LocalTeacherConfig
from synth.teachers.local_backend import LocalBackend


def test_import_and_construction_stay_light():
    code = (
        "import sys; from synth.teachers.local_backend import LocalBackend; "
        "from synth.teachers.config import LocalTeacherConfig; "
        "b = LocalBackend(LocalTeacherConfig(backend='local')); "
        "assert b.kind == 'local' and b.model == 'SmolLM2-135M-Instruct'; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


class _FakeModelBackend(LocalBackend):
    """The real scheduler over a stand-in model that records the batches it is given."""

    def __init__(self, cfg: LocalTeacherConfig):
        super().__init__(cfg)
        self.batches: list[list[str]] = []

    def _load(self) -> None:
        self._model = object()

    def _run_batch(self, requests: list[Request]) -> list:
        time.sleep(0.05)  # while this "runs", the next batch accumulates
        self.batches.append([r.messages[0]["content"] for r in requests])
        return [RawCompletion(r.messages[0]["content"].upper(), "stop", 1, 1, self.model) for r in requests]


async def test_scheduler_batches_concurrent_calls_and_routes_results():
    b = _FakeModelBackend(LocalTeacherConfig(backend="local", max_batch_size=8, batch_wait_ms=30))
    outs = await asyncio.gather(*(b.generate(_ask(f"q{i}")) for i in range(20)))
    assert [o.text for o in outs] == [f"Q{i}" for i in range(20)]
    assert sorted(len(batch) for batch in b.batches) == [4, 8, 8]
    await b.aclose()


async def test_scheduler_skips_cancelled_callers_and_serves_late_ones():
    b = _FakeModelBackend(LocalTeacherConfig(backend="local", max_batch_size=4, batch_wait_ms=30))
    doomed = asyncio.ensure_future(b.generate(_ask("cancelled")))
    await asyncio.sleep(0)
    doomed.cancel()
    out = await b.generate(_ask("kept"))
    assert out.text == "KEPT"
    assert all("cancelled" not in batch for batch in b.batches)
    await b.aclose()


class Severity(StrEnum):
    mild = "mild"
    moderate = "moderate"
    severe = "severe"


class Vitals(BaseModel):
    heart_rate: int = Field(ge=30, le=220)
    temperature_c: float = Field(ge=34.0, le=43.0)


class Assessment(BaseModel):
    diagnosis: str = Field(min_length=1, max_length=20)
    severity: Severity
    confidence: int = Field(ge=0, le=100)
    vitals: Vitals
    findings: list[Annotated[str, Field(max_length=16)]] = Field(min_length=1, max_length=2)


def _ask(text: str, **params) -> Request:
    return Request(messages=({"role": "user", "content": text},), params=SamplingParams(**params))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend():
    # No skip when the model is missing: `make test` installs it, and a silent skip would hide a broken set-up.
    from schemas.embedded import embedded_model_path

    embedded_model_path()
    b = LocalBackend(LocalTeacherConfig(backend="local", max_batch_size=8, batch_wait_ms=50))
    await b.start()
    yield b
    await b.aclose()


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_concurrent_schema_requests_are_valid_and_batched(backend):
    schema = Assessment.model_json_schema()
    prompts = [
        "A 60-year-old man has crushing chest pain. Assess him.",
        "A child has fever and a rash. Assess her.",
        "An elderly woman is suddenly confused. Assess her.",
        "A smoker has coughed for three months. Assess him.",
    ]
    before = backend.stats.batches
    outs = await asyncio.gather(
        *(
            backend.generate(
                Request(
                    messages=({"role": "user", "content": p + " Reply in JSON."},),
                    params=SamplingParams(temperature=0.7, max_tokens=128, seed=i),
                    json_schema=schema,
                    schema_name="Assessment",
                )
            )
            for i, p in enumerate(prompts)
        )
    )
    for out in outs:
        assert out.finish_reason == "stop", out.text
        Assessment.model_validate_json(out.text)
        assert out.prompt_tokens > 20 and 10 < out.completion_tokens <= 128
    # Four concurrent calls must share generate calls rather than run one by one.
    assert backend.stats.batches - before < len(prompts)
    assert backend.stats.max_rows_in_batch >= 2


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_small_max_tokens_is_length(backend):
    out = await backend.generate(_ask("Write a long essay about the heart.", max_tokens=4, temperature=0.0))
    assert out.finish_reason == "length"
    assert out.completion_tokens == 4
    assert out.text


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_plain_text(backend):
    out = await backend.generate(_ask("What is the capital of France?", max_tokens=24, temperature=0.0))
    assert out.finish_reason == "stop"
    assert "Paris" in out.text
    assert out.completion_tokens <= 24


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_stop_string(backend):
    out = await backend.generate(
        _ask("What is the capital of France?", max_tokens=24, temperature=0.0, stop=("Paris",))
    )
    assert out.finish_reason == "stop"
    assert "Paris" not in out.text


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_seeded_requests_reproduce(backend):
    def story(seed: int) -> Request:
        return _ask("Tell me a story about a doctor.", max_tokens=16, temperature=1.0, seed=seed)

    first = await backend.generate(story(7))
    again = await backend.generate(story(7))
    assert first.text == again.text
    others = [(await backend.generate(story(s))).text for s in (8, 9)]
    assert len({first.text, *others}) > 1
