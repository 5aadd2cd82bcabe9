"""prompts/ and datasets/seeds/ must work from an installed wheel, not only from a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_prompts_and_seeds(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "synth/_resources/prompts/case_synthesis/v1.yaml" in names
    assert "synth/_resources/datasets/seeds/case_sampler.yaml" in names
    assert "synth/_resources/datasets/seeds/cases/cardiology.jsonl" in names
    assert not any(n.startswith("datasets/") for n in names), "datasets/ must not become a package"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(tmp_path / "site"),
            str(wheel),
        ],
        check=True,
    )
    probe = (
        "import synth, synth.resources as r; from synth.prompts import load_template; "
        "from synth.cases.sampler import load_table; "
        "assert '_resources' in str(r.resource_dir('prompts')), r.resource_dir('prompts'); "
        "t = load_template('case_synthesis'); print(t.id, t.version, len(load_table(None)['specialties']))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("case_synthesis 1 ")
