"""benchmarks/peers.py without the peers installed: its command line, the workloads' schemas against the engine's,
the stub's forced-tool answers, and tiny runs of the aiohttp and engine cells counted on both sides.

Nothing here is timed: the cells' figures are only checked for being counts that agree with the server's."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from tests.servers.openai_stub import StubServer

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = ROOT / "benchmarks" / "peers" / "clients.py"


def _clients() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peer_clients", CLIENTS)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # pydantic resolves the models' postponed annotations through it
    spec.loader.exec_module(mod)
    return mod


def test_help_lists_the_flags() -> None:
    out = subprocess.run(
        [sys.executable, "benchmarks/peers.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in ("--setup", "--quick", "--tools", "--workloads", "--concurrency", "--n"):
        assert flag in out


def test_unknown_tool_is_refused_before_any_cell() -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/peers.py", "--tools", "engine,langchain"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "unknown tool or workload: langchain" in proc.stderr


def test_consultation_schemas_are_the_engines() -> None:
    # The peers cannot import the engine, so the loop restates its schemas: they must not drift apart.
    from synth.dialogue.agents import DoctorOutput, PatientReply

    clients = _clients()
    assert clients.DoctorOutput.model_json_schema() == DoctorOutput.model_json_schema()
    assert clients.PatientReply.model_json_schema() == PatientReply.model_json_schema()


def test_stub_answers_a_forced_tool_call_with_valid_arguments() -> None:
    clients = _clients()
    params = clients.DoctorTurn.model_json_schema()
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "DoctorTurn", "parameters": params}}],
        "tool_choice": {"type": "function", "function": {"name": "DoctorTurn"}},
    }
    with StubServer() as stub:
        req = urllib.request.Request(
            stub.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            choice = json.load(resp)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "DoctorTurn"
    clients.DoctorTurn.model_validate_json(call["function"]["arguments"])


@pytest.mark.parametrize("tool", ["aiohttp", "engine"])
@pytest.mark.parametrize("workload", ["single", "multi"])
def test_a_tiny_cell_counts_what_the_server_counts(tool: str, workload: str) -> None:
    clients = _clients()
    n = 40
    with StubServer() as stub:
        cmd = [sys.executable, str(CLIENTS), "--tool", tool, "--workload", workload, "--url", stub.base_url]
        proc = subprocess.run(
            [*cmd, "--n", str(n), "--concurrency", "8"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        server_total = stub.stats()["total"]
    assert row["errors"] == 0, row["error_samples"]
    assert row["requests"] == server_total  # every request the hook counted reached the server, and no other
    if workload == "single":
        assert row["items"] == n == row["requests"]
    else:
        k = clients.conversations_for(n)
        assert row["items"] == k
        # at least MIN_TURNS doctor requests per consultation, at most MAX_TURNS+1 doctor and MAX_TURNS patient
        assert clients.MIN_TURNS * k <= row["requests"] <= (2 * clients.MAX_TURNS + 1) * k
    if tool == "engine":
        assert row["engine_requests"] == row["requests"]
        assert row["cache_hits"] == 0  # a fresh cache: every answer came from the server
    assert row["startup_cpu_s"] > 0 and row["peak_rss_mib"] > 0
