"""Shared storage on S3: a Ray run mirrors shards, state and manifest to s3://; readers and publish use it.

The S3 server is moto's, in server mode on 127.0.0.1 and a free port, started and stopped here; s3fs reaches it
through AWS_ENDPOINT_URL with fake credentials, and nothing else is ever addressed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from synth.store.remote import RemoteStore, as_url, is_url
from tests.servers.openai_stub import StubServer

BUCKET = "medsynth-test"


@pytest.fixture(scope="module")
def s3_env():
    from moto.server import ThreadedMotoServer

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import fsspec

    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(BUCKET)
    yield env
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _fs():
    import fsspec

    return fsspec.filesystem("s3", skip_instance_cache=True)


def test_url_spellings():
    assert is_url("s3://b/p") and is_url(Path("s3://b/p")) and not is_url("/tmp/x") and not is_url("out")
    assert as_url(Path("s3://b/p")) == "s3://b/p"


def test_orphan_shard_in_storage_is_removed_and_state_restored(s3_env, tmp_path):
    """Uploaded, then killed before its commit: that partition's next start deletes the shard from storage."""
    from synth.store.state import RunState

    store = RemoteStore(f"s3://{BUCKET}/orphans")
    part = tmp_path / "node-a" / "partitions" / "p0001"
    state = RunState(part / "state.sqlite")
    state.commit_shard("cases", "part-00000-p0001-aaaaaa.parquet", 1, 10, [("case_synthesis", "x")])
    state.close()
    store.put_state(part)
    fs = _fs()
    for name in ("part-00000-p0001-aaaaaa.parquet", "part-00001-p0001-bbbbbb.parquet"):
        fs.pipe(f"{BUCKET}/orphans/data/cases/{name}", b"x")
    fs.pipe(f"{BUCKET}/orphans/data/cases/part-00000-p0002-cccccc.parquet", b"x")  # another partition's
    other = tmp_path / "node-b" / "partitions" / "p0001"  # a node that never ran this partition
    store.restore_partition(other)
    restored = RunState(other / "state.sqlite")
    assert restored.shard_names("cases") == {"part-00000-p0001-aaaaaa.parquet"}
    restored.close()
    left = sorted(p.rsplit("/", 1)[-1] for p in fs.find(f"{BUCKET}/orphans/data"))
    assert left == ["part-00000-p0001-aaaaaa.parquet", "part-00000-p0002-cccccc.parquet"]
    assert store.sync_down(tmp_path / "node-b") == 2
    assert (tmp_path / "node-b" / "data" / "cases" / "part-00000-p0002-cccccc.parquet").exists()


def _run(args, env, timeout=240):
    full = {**os.environ, **env, "RAY_USAGE_STATS_ENABLED": "0"}
    full["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run(
        [sys.executable, "-m", "synth.cli", *args], capture_output=True, text=True, timeout=timeout, env=full
    )


@pytest.mark.slow
def test_ray_run_to_s3_then_status_resume_elsewhere_and_publish(s3_env, write_config, tmp_path):
    url = f"s3://{BUCKET}/run1"
    out = tmp_path / "node-a"
    with StubServer(latency_ms=5) as stub:
        cfg = write_config(
            {
                "run": {
                    "output": str(out),
                    "executor": "ray",
                    "workers": 2,
                    "storage": url,
                    "concurrency": 4,
                    "shard_max_records": 3,
                    "flush_interval_s": 0.3,
                },
                "teachers": {
                    "default": {
                        "backend": "openai",
                        "model": "stub",
                        "base_url": stub.base_url,
                        "api_key_env": None,
                    }
                },
                "cases": {"synthesize": {"n": 8}},
                "consultations": {"cases": "from_run", "min_turns": 2, "max_turns": 3},
            }
        )
        r = _run(["run", str(cfg), "--plain"], s3_env)
        assert r.returncode == 0, r.stderr
        fs = _fs()
        local = {p.relative_to(out).as_posix() for p in (out / "data").rglob("*.parquet")}
        remote = {p[len(f"{BUCKET}/run1/") :] for p in fs.find(f"{BUCKET}/run1/data")}
        assert local == remote and any(p.startswith("data/consultations/") for p in remote)
        assert fs.exists(f"{BUCKET}/run1/manifest.json") and fs.exists(f"{BUCKET}/run1/partitions.json")
        assert len(fs.glob(f"{BUCKET}/run1/partitions/p*/state.sqlite")) == 4

        # Another machine: no local output at all; it takes the partitions, state and shards from storage and
        # sends nothing (with other workers: the partitions stay those of the first run).
        shutil.rmtree(out)
        sent = stub.stats()["total"]
        again = _run(["run", str(cfg), "--plain", "--workers", "1"], s3_env)
        assert again.returncode == 0, again.stderr
        assert stub.stats()["total"] == sent and "0 written, 8 finished earlier" in again.stdout
        assert json.loads((out / "partitions.json").read_text())["partitions"] == 4

    st = _run(["status", url, "--json"], s3_env)
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    assert status["items"]["case_synthesis"] == {"done": 8}
    assert status["tables"]["cases"]["records"] == 8

    pub = _run(["publish", url, "--to", f"s3://{BUCKET}/published", "--all-consultations"], s3_env)
    assert pub.returncode == 0, pub.stderr
    published = {p[len(f"{BUCKET}/published/") :] for p in _fs().find(f"{BUCKET}/published")}
    assert "README.md" in published and any(p.startswith("data/") for p in published), published
