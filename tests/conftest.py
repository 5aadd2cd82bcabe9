"""Shared fixtures: a minimal config written to a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

# A local `ray.init()` turns Ray's token authentication on by setting RAY_AUTH_MODE=token in its own process when
# the mode is unset; clusters started after that in the same test session, and the CLI subprocesses the tests
# start with an environment captured earlier, would then disagree about it ("Unauthenticated"). One mode for the
# whole session, decided before any test module is imported: token auth, with the token Ray generates.
os.environ.setdefault("RAY_AUTH_MODE", "token")

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


@pytest.fixture
def write_config(tmp_path: Path):
    def _write(data: dict, name: str = "config.yaml") -> Path:
        p = tmp_path / name
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return p

    return _write
