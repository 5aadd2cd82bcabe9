"""Shared fixtures: a minimal config written to a temp folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import yaml

# A local `ray.init()` turns Ray's token authentication on by setting RAY_AUTH_MODE=token in its own process when
# the mode is unset; clusters started after that in the same test session, and the CLI subprocesses the tests
# start with an environment captured earlier, would then disagree about it ("Unauthenticated"). One mode for the
# whole session, decided before any test module is imported: token auth, with one token for the session. Ray
# generates a token (~/.ray/auth_token) only in `ray.init()`; a `cluster_utils.Cluster` started before any
# `ray.init()` on a fresh machine found none and its GCS died at start ("couldn't find an authentication token"),
# seen as a time-out waiting for the GCS port file — so the tests passed or not by the order they ran in.
os.environ.setdefault("RAY_AUTH_MODE", "token")
if not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


@pytest.fixture
def write_config(tmp_path: Path):
    def _write(data: dict, name: str = "config.yaml") -> Path:
        p = tmp_path / name
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return p

    return _write
