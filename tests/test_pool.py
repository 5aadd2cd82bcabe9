"""Teacher endpoint pools: least-outstanding routing, failover, an endpoint taken out and probed back, a pool run.

Real HTTP throughout: stub servers (tests/servers/openai_stub.py) on 127.0.0.1, and a port with nothing listening
for a dead endpoint. The last test runs the real CLI against three stubs and stops one mid-run.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import CaseCard
from synth.status import collect_status
from synth.store.shards import iter_records
from synth.teachers import openai_backend
from synth.teachers.base import Request, SamplingParams
from synth.teachers.breaker import BreakerConfig
from synth.teachers.config import OpenAITeacherConfig
from synth.teachers.errors import ConnectionFailed, TeacherUnavailable
from synth.teachers.openai_backend import OpenAIBackend
from synth.teachers.teacher import Teacher
from tests.servers.openai_stub import StubServer
from tests.test_reliability import REPO, _cmd, _config


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_backend, "INITIAL_RETRY_DELAY", 0.01)


def _dead_url() -> str:
    """A base URL where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _teacher(urls: list[str], **kw: Any) -> Teacher:
    fields: dict[str, Any] = {"max_retries": 0, "timeout_s": 10.0, "api_key_env": None}
    fields.update(kw)
    cfg = OpenAITeacherConfig(backend="openai", model="stub", base_url=urls, **fields)
    return Teacher("t", OpenAIBackend(cfg), breaker=cfg.breaker)


def _req(i: int) -> Request:
    return Request(messages=({"role": "user", "content": f"case {i}"},), params=SamplingParams())


async def _send(teacher: Teacher, n: int) -> list[Any]:
    try:
        return await asyncio.gather(*(teacher.backend.generate(_req(i)) for i in range(n)))
    finally:
        await teacher.aclose()


def test_base_url_is_one_url_or_a_non_empty_list_without_repeats() -> None:
    one = OpenAITeacherConfig(backend="openai", model="m", base_url="http://a/v1")
    assert one.base_urls == ["http://a/v1"]
    pool = OpenAITeacherConfig(backend="openai", model="m", base_url=["http://a/v1", "http://b/v1"])
    assert pool.base_urls == ["http://a/v1", "http://b/v1"]
    with pytest.raises(ValidationError, match="empty list"):
        OpenAITeacherConfig(backend="openai", model="m", base_url=[])
    with pytest.raises(ValidationError, match="listed twice"):
        OpenAITeacherConfig(backend="openai", model="m", base_url=["http://a/v1", "http://a/v1"])


def test_the_request_cache_key_does_not_depend_on_the_endpoint() -> None:
    a = _teacher(["http://a/v1", "http://b/v1"])
    b = _teacher(["http://c/v1"])
    assert a.key_for(_req(1), "tag") == b.key_for(_req(1), "tag")
    assert a.key_for(_req(1), "tag") != a.key_for(_req(2), "tag")


async def test_requests_go_to_the_endpoint_with_fewest_outstanding() -> None:
    # One slow server and two fast ones, all busy at once: the slow one holds its requests longer, so it is
    # picked less often; every server gets some and each request is sent exactly once.
    with StubServer(latency_ms=150) as slow, StubServer(latency_ms=5) as f1, StubServer(latency_ms=5) as f2:
        teacher = _teacher([slow.base_url, f1.base_url, f2.base_url], max_concurrency=6)
        outs = await _send(teacher, 120)
        counts = [s.stats()["total"] for s in (slow, f1, f2)]
        stats = teacher.backend.endpoint_stats()  # type: ignore[attr-defined]
    assert len(outs) == 120 and all(o.text for o in outs)
    assert sum(counts) == 120, counts
    assert [e["sent"] for e in stats] == counts
    assert all(e["outstanding"] == 0 and e["failed"] == 0 for e in stats)
    assert counts[0] < counts[1] and counts[0] < counts[2], counts
    assert min(counts) > 0, counts


async def test_a_dead_endpoint_fails_over_and_is_taken_out_while_the_teacher_stays_closed() -> None:
    with StubServer() as a, StubServer() as b:
        dead = _dead_url()
        teacher = _teacher(
            [dead, a.base_url, b.base_url], breaker=BreakerConfig(failures=2, probe_initial_s=30)
        )
        outs = await _send(teacher, 40)
        stats = {e["base_url"]: e for e in teacher.backend.endpoint_stats()}  # type: ignore[attr-defined]
        served = a.stats()["total"] + b.stats()["total"]
    assert len(outs) == 40  # max_retries=0, yet nothing failed: failover is not a retry
    assert served == 40
    assert stats[dead]["ok"] == 0 and stats[dead]["in"] is False and stats[dead]["pauses"] == 1
    # Taken out after 2 failures in a row: the requests at once in flight when it failed, no more after it.
    assert 2 <= stats[dead]["failed"] <= 40 and stats[dead]["sent"] == stats[dead]["failed"]
    assert teacher.breaker.pauses == 0 and not teacher.breaker.is_open


async def test_retries_go_to_another_endpoint() -> None:
    with StubServer() as a, StubServer() as b:
        a.inject({"kind": "status", "status": 500})
        teacher = _teacher([a.base_url, b.base_url], max_retries=2)
        out = (await _send(teacher, 1))[0]
        assert out.text
        assert (a.stats()["total"], b.stats()["total"]) == (1, 1)


async def test_check_warns_about_unreachable_endpoints_and_takes_them_out(capsys) -> None:
    with StubServer() as a:
        dead = _dead_url()
        teacher = _teacher([dead, a.base_url], breaker=BreakerConfig(probe_initial_s=30))
        await teacher.check()  # one reachable: the run may start
        err = capsys.readouterr().err
        assert dead in err and "unreachable" in err and a.base_url not in err.split("going on")[0]
        outs = await _send(teacher, 10)
        assert len(outs) == 10 and a.stats()["total"] == 10  # none went to the dead one


async def test_check_fails_when_no_endpoint_is_reachable_and_names_each() -> None:
    dead1, dead2 = _dead_url(), _dead_url()
    teacher = _teacher([dead1, dead2])
    with pytest.raises(TeacherUnavailable) as info:
        await teacher.check()
    await teacher.aclose()
    assert dead1 in str(info.value) and dead2 in str(info.value) and "connection refused" in str(info.value)


async def test_an_endpoint_out_is_probed_back_in() -> None:
    with StubServer() as a:
        b = StubServer(port=_free_port())
        b_url = f"http://127.0.0.1:{b.port}/v1"
        teacher = _teacher([a.base_url, b_url], breaker=BreakerConfig(failures=1, probe_initial_s=0.05))
        try:
            await asyncio.gather(*(teacher.backend.generate(_req(i)) for i in range(6)))
            pool = teacher.backend.endpoint_stats()  # type: ignore[attr-defined]
            assert pool[1]["in"] is False, pool
            with b:  # the server comes up where the pool expects it
                deadline = time.monotonic() + 5
                while not teacher.backend.endpoint_stats()[1]["in"]:  # type: ignore[attr-defined]
                    assert time.monotonic() < deadline, "never probed back in"
                    await asyncio.sleep(0.02)
                await asyncio.gather(*(teacher.backend.generate(_req(100 + i)) for i in range(20)))
                assert b.stats()["total"] > 0
        finally:
            await teacher.aclose()


async def test_every_endpoint_out_is_a_typed_connection_failure() -> None:
    teacher = _teacher([_dead_url(), _dead_url()], breaker=BreakerConfig(failures=1, probe_initial_s=30))
    with pytest.raises(ConnectionFailed):
        await _send(teacher, 3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a real run over three servers, one stopped mid-run -----------------------------------------------------------


@pytest.mark.slow
def test_a_run_over_three_endpoints_survives_one_stopped_mid_run(tmp_path: Path) -> None:
    n, concurrency = 90, 9
    out = tmp_path / "out"
    a, b, c = StubServer(latency_ms=40), StubServer(latency_ms=40), StubServer(latency_ms=40)
    with a, b:
        c.__enter__()
        urls = [a.base_url, b.base_url, c.base_url]
        cfg = _config(tmp_path / "c.yaml", out, urls, n, concurrency)  # type: ignore[arg-type]
        proc = subprocess.Popen(
            _cmd(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO
        )
        deadline = time.monotonic() + 60
        while c.stats()["total"] < 10:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.005)
        c_stats = c.stats()
        c.__exit__(None, None, None)  # killed mid-run: its in-flight requests drop
        _, err = proc.communicate(timeout=120)
        a_stats, b_stats = a.stats(), b.stats()
    assert proc.returncode == 0, err[-3000:]
    assert collect_status(out)["items"]["case_synthesis"] == {"done": n}
    cards = list(iter_records(out, "cases", CaseCard))
    assert len(cards) == len({card.id for card in cards}) == n  # nothing lost, nothing twice
    counts = [a_stats["total"], b_stats["total"], c_stats["total"]]
    print(f"\nper-endpoint requests {counts}; stderr tail: {err[-300:]!r}")
    assert all(x >= 10 for x in counts), counts  # the load was spread over all three
    # Every request answered once by the survivors, except the few the stopped one was holding.
    answered = {**a_stats["per_hash"], **b_stats["per_hash"]}
    assert len(a_stats["per_hash"].keys() & b_stats["per_hash"].keys()) == 0
    assert max(answered.values()) == 1
    assert len(answered) + len(c_stats["per_hash"]) >= n
