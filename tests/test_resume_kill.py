"""kill -9 at any moment, run again: nothing lost, nothing written twice, no completed request re-sent.

The real CLI runs in a subprocess against the real openai backend and a real HTTP server (the stub, on
127.0.0.1), which counts every request by its canonical body hash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from schemas import CaseCard
from synth.status import collect_status
from synth.store.shards import iter_records
from tests.servers.openai_stub import StubServer

N = 80
CONCURRENCY = 8


def _cmd(cfg):
    return [sys.executable, "-m", "synth.cli", "run", str(cfg), "--plain"]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_requests", [3, 30, 65])
def test_kill9_then_resume(write_config, tmp_path, kill_after_requests):
    out = tmp_path / "out"
    with StubServer(latency_ms=60) as stub:
        cfg = write_config(
            {
                "run": {
                    "output": str(out),
                    "concurrency": CONCURRENCY,
                    "shard_max_records": 7,
                    "flush_interval_s": 0.3,
                },
                "teachers": {
                    "default": {
                        "backend": "openai",
                        "model": "stub",
                        "base_url": stub.base_url,
                        "api_key_env": None,
                        "max_concurrency": CONCURRENCY,
                    }
                },
                "cases": {"synthesize": {"n": N}},
            }
        )
        proc = subprocess.Popen(_cmd(cfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while stub.stats()["total"] < kill_after_requests:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.005)
        if (out / "state.sqlite").exists():
            live = collect_status(out)
            assert live["running"] is not None and live["running"]["pid"] == proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        sent_before = stub.stats()["total"]

        done = subprocess.run(_cmd(cfg), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        stats = stub.stats()

    cards = list(iter_records(out, "cases", CaseCard))
    ids = [c.id for c in cards]
    assert len(ids) == len(set(ids)), "a record was written twice"
    st = collect_status(out)
    assert st["running"] is None
    counts = st["items"]["case_synthesis"]
    assert counts == {"done": N}, counts  # the stub answers schema-valid cards: nothing to quarantine
    assert len(cards) == counts["done"]
    # Only requests still in flight at the kill can have been sent twice; nothing that completed was.
    repeated = [h for h, c in stats["per_hash"].items() if c > 1]
    assert len(repeated) <= CONCURRENCY, (len(repeated), sent_before)
    assert max(stats["per_hash"].values()) <= 2
    assert stats["total"] == len(stats["per_hash"]) + len(repeated)
    assert st["tables"]["cases"]["records"] == len(cards)
