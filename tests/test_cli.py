"""The CLI as a user runs it: --help is instant, schema export, dry-run, status."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from synth.cli import app

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
