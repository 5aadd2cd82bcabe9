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
    # The stub writes cards that pass the case gates: every item is done, nothing is quarantined.
    assert st["items"]["case_synthesis"] == {"done": N}, st["quarantine"]
    assert st["quarantine"] == [] and len(cards) == N
    # Only requests still in flight at the kill can have been sent twice; nothing that completed was.
    repeated = [h for h, c in stats["per_hash"].items() if c > 1]
    assert len(repeated) <= CONCURRENCY, (len(repeated), sent_before)
    assert max(stats["per_hash"].values()) <= 2
    assert stats["total"] == len(stats["per_hash"]) + len(repeated)
    assert st["tables"]["cases"]["records"] == len(cards)


# The fault mix of a flaky production endpoint, per request: 10 % 429 with Retry-After, 5 % 500, 2 % hangs past
# the timeout, 5 % status-200 bodies cut off mid-JSON, 2 % finish_reason=length.
FAULT_MIX = (
    [{"kind": "status", "status": 429, "retry_after": 1}] * 10
    + [{"kind": "status", "status": 500}] * 5
    + [{"kind": "hang", "seconds": 5}] * 2
    + [{"kind": "malformed"}] * 5
    + [{"kind": "length"}] * 2
)


@pytest.mark.slow
def test_fault_mix_kill9_and_plain_reruns_leave_only_content_failures(write_config, tmp_path):
    """Transport faults never end as permanent quarantines: plain reruns (exit 3 while some remain) finish them,
    and what stays quarantined is the content's failure: output cut at max_tokens (the stub's cards pass the
    case gates, so nothing else)."""
    out = tmp_path / "out"
    with StubServer(latency_ms=20, fault_rate=len(FAULT_MIX) / 100, seed=3) as stub:
        stub.control(random_faults=FAULT_MIX)
        cfg = write_config(
            {
                "run": {"output": str(out), "concurrency": CONCURRENCY, "flush_interval_s": 0.3},
                "teachers": {
                    "default": {
                        "backend": "openai",
                        "model": "stub",
                        "base_url": stub.base_url,
                        "api_key_env": None,
                        "max_concurrency": CONCURRENCY,
                        "timeout_s": 1.0,
                    }
                },
                "cases": {"synthesize": {"n": N}},
            }
        )
        proc = subprocess.Popen(_cmd(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while stub.stats()["total"] < 30:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        codes = []
        for _ in range(4):  # each plain rerun retries what failed on transport; a few suffice at these rates
            done = subprocess.run(_cmd(cfg), capture_output=True, text=True, timeout=180)
            codes.append(done.returncode)
            assert done.returncode in (0, 3), done.stderr
            if done.returncode == 0:
                break
        assert codes[-1] == 0, codes
        served = stub.stats()["faults_served"]

    assert served.get("malformed", 0) > 0 and served.get("status", 0) > 0, served
    cards = list(iter_records(out, "cases", CaseCard))
    assert len({c.id for c in cards}) == len(cards), "a record was written twice"
    st = collect_status(out)
    counts = st["items"]["case_synthesis"]
    truncated = sum(q["count"] for q in st["quarantine"] if q["error_type"] == "Truncated")
    assert {q["error_type"] for q in st["quarantine"]} <= {"Truncated"}, st["quarantine"]
    assert counts.get("done", 0) == len(cards) == N - truncated, counts
    assert counts.get("quarantined", 0) == truncated
