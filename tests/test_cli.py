"""The CLI as a user runs it: --help is instant, schema export, dry-run, status, `synth run`'s exit codes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from synth.cli import app
from tests.servers.openai_stub import StubServer

runner = CliRunner()


def test_help_is_instant_and_lists_commands():
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "synth.cli", "--help"], capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - t0
    for cmd in ("run", "status", "schema", "cache"):
        assert cmd in out.stdout
    # No heavy library is imported to answer --help.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, synth.cli; print(sorted(m for m in ('torch','transformers','vllm',"
            "'polars','pyarrow','openai','aiohttp') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"
    assert elapsed < 5  # generous: a cold interpreter on a busy CI machine


def test_schema_export(tmp_path):
    r = runner.invoke(app, ["schema", "export", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    names = {p.name for p in (tmp_path / "s").iterdir()}
    assert {"case_card.schema.json", "consultation.schema.json", "sft.schema.json"} <= names
    schema = json.loads((tmp_path / "s" / "case_card.schema.json").read_text())
    assert "opening_statement" in schema["properties"]


def test_bad_config_exit_code_and_message(write_config):
    p = write_config({"run": {"output": "o", "seeed": 1}, "cases": {"synthesize": {"n": 1}}})
    r = runner.invoke(app, ["run", str(p)])
    assert r.exit_code == 2 and "run.seeed: unknown key" in r.output


def test_dry_run_sends_and_writes_nothing(write_config, tmp_path):
    p = write_config({"run": {"output": "out"}, "cases": {"synthesize": {"n": 5}}})
    r = runner.invoke(app, ["run", str(p), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "case_synthesis" in r.output and "Dry run" in r.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["status", "nowhere"], ["cache", "stats", "nowhere"]])
def test_missing_folder_is_a_clear_error(args):
    r = runner.invoke(app, args)
    assert r.exit_code == 2


def _stub_config(write_config, tmp_path, base_url, n=4):
    return write_config(
        {
            "run": {"output": str(tmp_path / "out"), "concurrency": 2},
            "teachers": {
                "default": {
                    "backend": "openai",
                    "model": "stub",
                    "base_url": base_url,
                    "api_key_env": None,
                    "max_retries": 0,
                }
            },
            "cases": {"synthesize": {"n": n}},
        }
    )


def test_unreachable_teacher_exits_4_at_once_and_quarantines_nothing(write_config, tmp_path):
    with socket.socket() as s:  # free a moment ago, and nobody listens on it
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    r = runner.invoke(app, ["run", str(_stub_config(write_config, tmp_path, url)), "--plain"])
    assert r.exit_code == 4, r.output
    assert f"cannot reach teacher 'default' at {url}: connection refused" in r.output
    assert "completed" not in r.output and not (tmp_path / "out").exists()


def test_exit_3_while_transport_failures_remain_then_0(write_config, tmp_path):
    with StubServer() as stub:
        cfg = _stub_config(write_config, tmp_path, stub.base_url)
        stub.inject({"kind": "malformed"})  # max_retries 0: one item ends quarantined as BadResponse
        r = runner.invoke(app, ["run", str(cfg), "--plain"])
        assert r.exit_code == 3, r.output
        assert "BadResponse: 1" in r.output and "1 item(s) failed on transport faults" in r.output
        r = runner.invoke(app, ["run", str(cfg), "--plain"])  # no --retry-quarantined needed
        assert r.exit_code == 0, r.output  # what may stay quarantined is content (the case gates' verdicts)
        assert ", 3 finished earlier," in r.output and "BadResponse" not in r.output
