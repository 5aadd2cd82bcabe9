"""Shared fixtures: a minimal config written to a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


@pytest.fixture
def write_config(tmp_path: Path):
    def _write(data: dict, name: str = "config.yaml") -> Path:
        p = tmp_path / name
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return p

    return _write
