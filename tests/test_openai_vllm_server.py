"""The openai backend against a real vLLM OpenAI-compatible server serving the embedded model.

The server runs as a subprocess in its own process group on 127.0.0.1 (an OS-assigned free port) and is killed,
group and all, when the module's tests are done.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from schemas.embedded import embedded_model_path
from synth.teachers.base import Request, SamplingParams
from synth.teachers.config import OpenAITeacherConfig
from synth.teachers.openai_backend import OpenAIBackend

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

SERVED_NAME = "smollm2"
STARTUP_TIMEOUT_S = 180.0


class Triage(BaseModel):
    complaint: str
    urgency: int = Field(ge=1, le=5)
    needs_ecg: bool


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    # The CPU build's defaults reserve a core and size the KV cache for a server; both are too much for CI.
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    return env


def _wait_ready(proc: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
                ids = [m["id"] for m in json.load(resp)["data"]]
                if SERVED_NAME in ids:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(1.0)
    raise TimeoutError(f"vLLM server not ready after {STARTUP_TIMEOUT_S:.0f} s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    # The server spawns an engine-core process; signalling the whole group leaves no orphan behind.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = embedded_model_path()
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        str(model),
        "--served-model-name",
        SERVED_NAME,
        "--max-model-len",
        "2048",
        "--enforce-eager",
        "--disable-log-stats",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=_server_env(), start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(proc, base_url, log)
        yield base_url
    finally:
        _stop(proc)


def _backend(base_url: str, transport: str) -> OpenAIBackend:
    return OpenAIBackend(
        OpenAITeacherConfig(
            backend="openai", model=SERVED_NAME, base_url=base_url, api_key_env=None, transport=transport
        )
    )


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
async def test_json_schema_request_validates(vllm_server: str, transport: str):
    backend = _backend(vllm_server, transport)
    try:
        out = await backend.generate(
            Request(
                messages=({"role": "user", "content": "Triage a patient with chest pain. Answer as JSON."},),
                params=SamplingParams(temperature=0.0, max_tokens=96, seed=0),
                json_schema=Triage.model_json_schema(),
                schema_name="Triage",
            )
        )
    finally:
        await backend.aclose()
    assert out.finish_reason == "stop", out
    Triage.model_validate_json(out.text)
    assert out.prompt_tokens > 0 and out.completion_tokens > 0


async def test_plain_request(vllm_server: str):
    backend = _backend(vllm_server, "aiohttp")
    try:
        out = await backend.generate(
            Request(
                messages=({"role": "user", "content": "Name one symptom of influenza."},),
                params=SamplingParams(temperature=0.0, max_tokens=24),
            )
        )
    finally:
        await backend.aclose()
    assert out.text.strip()
    assert out.finish_reason in ("stop", "length")
    assert out.model
