"""Reliability under a flaky endpoint, kill -9, a full disk and a read-only folder; no secret written anywhere.

Everything runs the real CLI in a subprocess, through the real openai backend, against the stub server on
127.0.0.1 (tests/servers/openai_stub.py), whose answers depend only on the request: two runs of one config get
the same answers, so their outputs can be compared record by record.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from schemas import CaseCard
from synth.cases.config import SamplerConfig
from synth.cases.gates import gate_card, profile_for
from synth.cases.sampler import CaseSampler, load_table
from synth.cases.synthesize import CaseDraft, draft_to_card
from synth.prompts import load_template
from synth.status import collect_status
from synth.store.shards import iter_records
from tests.servers.openai_stub import StubServer
from tests.servers.stub_cases import case_draft

REPO = Path(__file__).resolve().parents[1]
EXIT_OUTPUT = 5


def _config(path: Path, out: Path, base_url: str, n: int, concurrency: int = 8, **teacher) -> Path:
    data = {
        "run": {
            "output": str(out),
            "concurrency": concurrency,
            "shard_max_records": 10,
            "flush_interval_s": 0.3,
        },
        "teachers": {
            "default": {
                "backend": "openai",
                "model": "stub",
                "base_url": base_url,
                "api_key_env": None,
                "max_concurrency": concurrency,
                **teacher,
            }
        },
        "cases": {"synthesize": {"n": n}},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cmd(cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synth.cli", "run", str(cfg), "--plain", *extra]


def _content_hashes(out: Path) -> dict[str, str]:
    """card id -> hash of the card without what differs between two runs of one config (run id, times,
    whether a call was answered from the cache)."""
    hashes = {}
    for card in iter_records(out, "cases", CaseCard):
        data = card.model_dump(mode="json")
        prov = data.pop("provenance")
        prov.pop("run_id"), prov.pop("created_at")
        for call in prov["calls"]:
            call.pop("cache_hit")
        data["provenance"] = prov
        hashes[card.id] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return hashes


def _repeats(stats: dict) -> int:
    """Requests sent more than once (the stub counts requests per canonical body)."""
    return sum(c - 1 for c in stats["per_hash"].values())


# -- the stub's cards --------------------------------------------------------------------------------------


def test_the_stub_writes_cards_that_pass_the_case_gates():
    """Every diagnosis of the shipped sampler table, many cards each: all pass the gates, none twice."""
    template = load_template("case_synthesis")
    sampler = CaseSampler(SamplerConfig(rare_fraction=0.5), seed=11)
    table = load_table(None)
    targets = {
        e["dx"]
        for complaints in table["specialties"].values()
        for groups in complaints.values()
        for prevalence in ("common", "rare")
        for e in groups.get(prevalence, [])
    }
    seen_dx, drafts, failures = set(), set(), []
    for i in range(1500):
        spec = sampler.spec(i)
        prompt = "\n".join(m["content"] for m in template.messages(**spec.as_dict()))
        raw = case_draft(hashlib.sha256(f"{i}".encode()).hexdigest()[:16], prompt)
        card = draft_to_card(CaseDraft.model_validate(raw), spec)
        problems = gate_card(card, profile_for(card, 3))
        if problems:
            failures.append((spec.diagnosis, [str(p) for p in problems]))
        seen_dx.add(spec.diagnosis)
        drafts.add(json.dumps(raw, sort_keys=True))
    assert failures == []
    assert seen_dx == targets  # the draw covered the whole table
    assert len(drafts) == 1500  # no two requests got the same card


# -- a flaky endpoint at scale ------------------------------------------------------------------------------

# Per request: 10 % 429 with Retry-After, 5 % 500, 2 % hangs past the timeout, 5 % status-200 bodies cut off
# mid-JSON, 2 % finish_reason=length.
FAULT_MIX = (
    [{"kind": "status", "status": 429, "retry_after": 1}] * 10
    + [{"kind": "status", "status": 500}] * 5
    + [{"kind": "hang", "seconds": 3}] * 2
    + [{"kind": "malformed"}] * 5
    + [{"kind": "length"}] * 2
)


@pytest.mark.slow
def test_fault_mix_over_2000_requests_ends_with_every_item_done_or_quarantined_for_its_content(tmp_path):
    n, concurrency = 1700, 32
    out = tmp_path / "out"
    started = time.monotonic()
    with StubServer(latency_ms=2, fault_rate=len(FAULT_MIX) / 100, seed=5) as stub:
        stub.control(random_faults=FAULT_MIX)
        cfg = _config(tmp_path / "c.yaml", out, stub.base_url, n, concurrency, timeout_s=0.5)
        codes = []
        for _ in range(5):  # a plain rerun retries what is left on transport faults; bounded
            done = subprocess.run(_cmd(cfg), capture_output=True, text=True, timeout=240, cwd=REPO)
            codes.append(done.returncode)
            assert done.returncode in (0, 3), done.stderr[-3000:]
            assert "Traceback" not in done.stderr, done.stderr[-3000:]
            if done.returncode == 0:
                break
        stats = stub.stats()
    elapsed = time.monotonic() - started

    st = collect_status(out)
    counts = st["items"]["case_synthesis"]
    by_type: dict[str, int] = {}
    for q in st["quarantine"]:
        by_type[q["error_type"]] = by_type.get(q["error_type"], 0) + q["count"]
    print(
        f"\nfault mix: {stats['total']} requests in {elapsed:.1f} s over {len(codes)} run(s) (exit codes "
        f"{codes}); faults served {stats['faults_served']}, statuses {stats['statuses_served']}; "
        f"items {counts}; quarantined by type {by_type}"
    )
    assert codes[-1] == 0, codes
    assert stats["total"] >= 2000
    served = stats["faults_served"]
    assert {"status", "hang", "malformed", "length"} <= set(served), served
    assert {429, 500} <= {int(k) for k in stats["statuses_served"]}, stats["statuses_served"]
    # Transport faults are all retried away; what stays quarantined is output cut at max_tokens, each with
    # its typed reason, and no more of them than the server cut.
    assert set(by_type) <= {"Truncated"}, st["quarantine"]
    assert by_type.get("Truncated", 0) <= served["length"]
    assert counts.get("done", 0) + counts.get("quarantined", 0) == n, counts
    cards = list(iter_records(out, "cases", CaseCard))
    assert len(cards) == len({c.id for c in cards}) == counts["done"]
    lines = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    assert len(lines) == counts.get("quarantined", 0)
    assert all(x["error_type"] == "Truncated" and x["stage"] and x["message"] for x in lines), lines[:3]


# -- kill -9 ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_five_kills_then_resume_give_the_output_of_an_uninterrupted_run(tmp_path):
    n, concurrency = 80, 8
    with StubServer(latency_ms=30) as stub:
        ref_cfg = _config(tmp_path / "ref.yaml", tmp_path / "ref", stub.base_url, n, concurrency)
        assert subprocess.run(_cmd(ref_cfg), capture_output=True, timeout=120, cwd=REPO).returncode == 0
        assert _repeats(stub.stats()) == 0
        stub.reset()

        cfg = _config(tmp_path / "c.yaml", tmp_path / "out", stub.base_url, n, concurrency)
        # Five seeded kill points, by requests sent so far: early (before a shard), mid-run, near the end.
        points = sorted(random.Random(2024).sample(range(4, n - 4), 5))
        for point in points:
            proc = subprocess.Popen(_cmd(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
            deadline = time.monotonic() + 60
            while stub.stats()["total"] < point:
                assert proc.poll() is None, "the run ended before its kill point"
                assert time.monotonic() < deadline, "the run never got going"
                time.sleep(0.003)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        final = subprocess.run(_cmd(cfg), capture_output=True, text=True, timeout=120, cwd=REPO)
        stats = stub.stats()
    print(f"\nkills at requests {points}: {stats['total']} requests, {_repeats(stats)} re-sent")
    assert final.returncode == 0, final.stderr[-3000:]
    ref, got = _content_hashes(tmp_path / "ref"), _content_hashes(tmp_path / "out")
    assert sorted(got) == sorted(ref)  # the same ids
    assert got == ref  # the same content
    assert collect_status(tmp_path / "out")["items"]["case_synthesis"] == {"done": n}
    # Only requests in flight at a kill are sent again, each at most once per kill.
    assert _repeats(stats) <= len(points) * concurrency, stats
    assert max(stats["per_hash"].values()) <= 1 + len(points)
    assert len(stats["per_hash"]) == n


# -- no secret in any byte written ------------------------------------------------------------------------------


def test_the_api_key_is_in_no_byte_written(tmp_path):
    key = f"sk-test-{uuid.uuid4().hex}"
    env = {**os.environ, "MEDSYNTH_TEST_KEY": key}
    out, pub = tmp_path / "out", tmp_path / "published"
    with StubServer() as stub:
        # Error paths too: a 500 and a 429 are logged, retried and counted.
        stub.inject({"kind": "status", "status": 500}, {"kind": "status", "status": 429, "retry_after": 0.05})
        cfg = _config(tmp_path / "c.yaml", out, stub.base_url, 12, api_key_env="MEDSYNTH_TEST_KEY")
        logs = []
        for cmd in (
            _cmd(cfg),
            [sys.executable, "-m", "synth.cli", "status", str(out)],
            [sys.executable, "-m", "synth.cli", "publish", str(out), "--to", str(pub)],
        ):
            r = subprocess.run(cmd, capture_output=True, timeout=120, cwd=REPO, env=env)
            assert r.returncode == 0, r.stderr.decode()[-3000:]
            logs += [r.stdout, r.stderr]
        seen = stub.stats()["authorizations"]
    assert seen == {f"Bearer {key}": 14}  # the key was sent, on every request
    files = [p for p in [*out.rglob("*"), *pub.rglob("*")] if p.is_file()]
    assert any(p.name == "README.md" for p in files) and any(p.suffix == ".parquet" for p in files)
    assert any(p.name == "cache.sqlite" for p in files) and any(p.name == "state.sqlite" for p in files)
    needle = key.encode()
    leaked = [str(p) for p in files if needle in p.read_bytes()]
    leaked += [f"log {i}" for i, b in enumerate(logs) if needle in b]
    assert leaked == []


# -- a full disk, a read-only folder ---------------------------------------------------------------------------


def _state_snapshot(out: Path) -> tuple[dict[str, int], int]:
    """(item counts, records in committed shards), after checking the state database is sound."""
    con = sqlite3.connect(out / "state.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    counts = collect_status(out)["items"].get("case_synthesis", {})
    return counts, len(list(iter_records(out, "cases", CaseCard)))


def test_a_full_disk_stops_the_run_cleanly_and_it_resumes_once_space_is_back(tmp_path):
    n, concurrency = 200, 8
    out = tmp_path / "out"
    limit = 300_000  # bytes per file: the request cache outgrows it after a few dozen cards

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with StubServer(latency_ms=2) as stub:
        cfg = _config(tmp_path / "c.yaml", out, stub.base_url, n, concurrency)
        full = subprocess.run(
            _cmd(cfg), capture_output=True, text=True, timeout=120, cwd=REPO, preexec_fn=small_disk
        )
        assert full.returncode == EXIT_OUTPUT, full.stderr[-3000:]
        assert "Traceback" not in full.stderr and "internal error" not in full.stderr, full.stderr[-3000:]
        assert "cannot write" in full.stderr and "run the same command again" in full.stderr, full.stderr
        counts, records = _state_snapshot(out)
        # Nothing quarantined for the disk's fault; every item recorded done is in a committed shard.
        assert set(counts) <= {"done"} and 0 < counts.get("done", 0) < n and records == counts["done"], counts
        sent = stub.stats()["total"]
        again = subprocess.run(_cmd(cfg), capture_output=True, text=True, timeout=120, cwd=REPO)
        stats = stub.stats()
    assert again.returncode == 0, again.stderr[-3000:]
    assert _state_snapshot(out) == ({"done": n}, n)
    # Requests whose answers could not be cached (in flight when the disk filled) are the only ones re-sent.
    print(f"\nfull disk: stopped after {sent} requests with {counts} ; {_repeats(stats)} re-sent")
    assert _repeats(stats) <= concurrency and len(stats["per_hash"]) == n


def _without_privileges() -> None:
    """Run the child so that file permissions bind it: root's capabilities (which ignore them) are dropped
    from the bounding set, so the program it executes has none; an ordinary user is bound already."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"cannot drop capability {cap}")


def _chmod_tree(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | 0o200 if writable else mode & ~0o222)


def test_a_read_only_output_folder_is_a_clear_error_and_the_run_resumes_once_writable(tmp_path):
    out = tmp_path / "out"
    with StubServer(latency_ms=2) as stub:
        cfg = _config(tmp_path / "c.yaml", out, stub.base_url, 20)
        kw = {"capture_output": True, "text": True, "timeout": 120, "cwd": REPO}
        first = subprocess.run(_cmd(cfg), **kw)
        assert first.returncode == 0, first.stderr[-3000:]
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        sent = stub.stats()["total"]

        _chmod_tree(out, writable=False)
        try:
            ro = subprocess.run(
                _cmd(cfg, "--set", "cases.synthesize.n=40"), preexec_fn=_without_privileges, **kw
            )
        finally:
            _chmod_tree(out, writable=True)
        assert ro.returncode == EXIT_OUTPUT, (ro.returncode, ro.stderr[-3000:])
        assert "Traceback" not in ro.stderr and "cannot write the output folder" in ro.stderr, ro.stderr
        assert str(out) in ro.stderr
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # state intact
        assert stub.stats()["total"] == sent  # and nothing was sent for nothing

        resumed = subprocess.run(_cmd(cfg, "--set", "cases.synthesize.n=40"), **kw)
        stats = stub.stats()
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _state_snapshot(out) == ({"done": 40}, 40)
    assert _repeats(stats) == 0 and stats["total"] == 40  # the first 20 were not asked again
