"""`synth run --executor ray` on a real local Ray cluster: a head and one worker node, both on 127.0.0.1.

The CLI runs in a subprocess (the driver) against the stub teacher server, connects to the cluster by address,
and its partitions run in Ray worker processes. Checked: the output equals the local executor's (ids and record
contents, less the run's own id and time), a worker killed mid-run loses and duplicates nothing, a rerun after
completion sends nothing, and the partitions stay fixed whatever the workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas import CaseCard, Consultation
from synth.executors.ray_executor import PartitionsMismatch, partition_of, resolve_partitions
from synth.status import collect_status
from synth.store.shards import iter_records
from tests.servers.openai_stub import StubServer

ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


@pytest.fixture(scope="module")
def cluster():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from ray.cluster_utils import Cluster

    small = {
        "num_cpus": 1,
        "object_store_memory": 100 * 2**20,
        "include_dashboard": False,
        "node_ip_address": "127.0.0.1",
    }
    c = Cluster(initialize_head=True, head_node_args=small)
    c.add_node(**small)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _config(write_config, out: Path, base_url: str, name: str, n: int, **run) -> Path:
    return write_config(
        {
            "run": {
                "output": str(out),
                "concurrency": 4,
                "shard_max_records": 3,
                "flush_interval_s": 0.3,
                **run,
            },
            "teachers": {
                "default": {
                    "backend": "openai",
                    "model": "stub",
                    "base_url": base_url,
                    "api_key_env": None,
                    "max_concurrency": 4,
                }
            },
            "cases": {"synthesize": {"n": n}},
            "consultations": {"cases": "from_run", "min_turns": 2, "max_turns": 3},
        },
        name,
    )


def _run(cfg: Path, *extra: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "synth.cli", "run", str(cfg), "--plain", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)


def _contents(out: Path) -> dict[str, str]:
    """Record id -> hash of its content, less what differs between any two runs (the run's id and time)."""
    hashes = {}
    for table, model in (("cases", CaseCard), ("consultations", Consultation)):
        for r in iter_records(out, table, model):
            data = json.loads(r.model_dump_json())
            for key in ("run_id", "created_at"):
                data["provenance"].pop(key, None)
            data.pop("created_at", None)
            hashes[f"{table}/{r.id}"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return hashes


def test_partition_of_is_stable_and_spreads():
    ids = [f"synth-0-{i:06d}" for i in range(400)]
    parts = [partition_of(i, 4) for i in ids]
    assert parts == [partition_of(i, 4) for i in ids]  # no per-process salt
    # Fixed values: a change of hash would move items of existing outputs between partitions.
    assert [partition_of(f"synth-0-{i:06d}", 8) for i in range(6)] == [6, 7, 1, 1, 4, 4]
    assert all(60 <= parts.count(p) <= 140 for p in range(4)), [parts.count(p) for p in range(4)]


def test_partitions_fixed_at_the_first_run(tmp_path):
    assert resolve_partitions(tmp_path, None, 3) == 6
    (tmp_path / "partitions.json").write_text(json.dumps({"partitions": 5}))
    assert resolve_partitions(tmp_path, None, 16) == 5  # other workers, same partitions
    with pytest.raises(PartitionsMismatch, match="written with 5 partitions"):
        resolve_partitions(tmp_path, 4, 2)


@pytest.mark.slow
def test_ray_run_equals_local_run_and_resume_sends_nothing(cluster, write_config, tmp_path):
    with StubServer(latency_ms=5) as stub:
        local = _config(write_config, tmp_path / "local", stub.base_url, "local.yaml", 10)
        assert (r := _run(local)).returncode == 0, r.stderr
        on_ray = _config(write_config, tmp_path / "ray", stub.base_url, "ray.yaml", 10)
        r = _run(on_ray, "--executor", "ray", "--address", cluster.address, "--workers", "2")
        assert r.returncode == 0, r.stderr
        assert "case_synthesis: 10 written" in r.stdout and "consultations:" in r.stdout
        sent = stub.stats()["total"]
        again = _run(on_ray, "--executor", "ray", "--address", cluster.address, "--workers", "1")
        assert again.returncode == 0, again.stderr
        assert stub.stats()["total"] == sent, "a rerun of a finished run sent requests"
        assert "0 written, 10 finished earlier" in again.stdout
        dry = _run(on_ray, "--dry-run")
        assert dry.returncode == 0 and "case_synthesis: 10 items, 0 to do" in dry.stdout, dry.stdout
        assert not (tmp_path / "ray" / "state.sqlite").exists()
        # A local run on a Ray run's folder (and the reverse) is refused: their orphan clean-ups would collide.
        refused = _run(on_ray)
        assert refused.returncode != 0 and "--executor ray" in refused.stderr
        refused = _run(local, "--executor", "ray", "--address", cluster.address)
        assert refused.returncode != 0 and "holds a local run" in refused.stderr
    a, b = _contents(tmp_path / "local"), _contents(tmp_path / "ray")
    assert len([k for k in a if k.startswith("consultations/")]) > 0
    assert a == b
    meta = json.loads((tmp_path / "ray" / "partitions.json").read_text())
    assert meta["partitions"] == 4  # 2 x workers at the first run, kept by the rerun with one worker
    st_local, st_ray = collect_status(tmp_path / "local"), collect_status(tmp_path / "ray")
    assert st_ray["items"] == st_local["items"] and st_ray["tables"]["cases"]["records"] == 10
    assert [q["error_type"] for q in st_ray["quarantine"]] == [
        q["error_type"] for q in st_local["quarantine"]
    ]


def _worker_pid(out: Path) -> int | None:
    for p in sorted((out / "partitions").glob("p*/progress.json")):
        try:
            return int(json.loads(p.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            continue
    return None


@pytest.mark.slow
def test_killed_worker_loses_nothing(cluster, write_config, tmp_path):
    n = 24
    out = tmp_path / "out"
    with StubServer(latency_ms=150) as stub:
        cfg = _config(write_config, out, stub.base_url, "ray.yaml", n)
        cmd = [sys.executable, "-m", "synth.cli", "run", str(cfg), "--plain", "--executor", "ray"]
        cmd += ["--address", cluster.address, "--workers", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        deadline = time.monotonic() + 120
        pid = None
        while pid is None or stub.stats()["total"] < 6:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            pid = _worker_pid(out)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)  # the Ray worker process running a partition
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
        assert f"case_synthesis: {n} written" in stdout or "finished earlier" in stdout
    cards = [c.id for c in iter_records(out, "cases", CaseCard)]
    assert len(cards) == len(set(cards)) == n, "a card was lost or written twice"
    consultations = [c.id for c in iter_records(out, "consultations", Consultation)]
    assert len(consultations) == len(set(consultations))
    # The killed task's partition run never finished; Ray ran the partition again and it resumed.
    from synth.store.state import RunState

    runs = []
    for path in sorted((out / "partitions").glob("p*/state.sqlite")):
        state = RunState(path)
        runs.append([r[3] for r in state.runs()])
        state.close()
    assert any("running" in r and r[-1] == "completed" for r in runs), runs
    st = collect_status(out)
    assert st["items"]["case_synthesis"] == {"done": n}
    assert sum(st["items"]["consultations"].values()) == n


def _partition_run(write_config, tmp_path, storage, p=1, partitions=3):
    """One partition's Runner as a Ray task runs it (in process, the scripted teacher): no cluster needed."""
    import asyncio

    from synth.config import load_config
    from synth.executors import Partition
    from synth.executors.ray_executor import partition_tag, restrict
    from synth.runner import Runner, build_jobs
    from tests.fakes import ScriptedBackend, good_case_draft

    root = tmp_path / "out"
    cfg = load_config(
        write_config(
            {
                "run": {"output": str(root), "concurrency": 2, "shard_max_records": 2},
                "teachers": {"default": {"backend": "local"}},
                "cases": {"synthesize": {"n": 12}},
            }
        )
    )
    job = restrict(build_jobs(cfg)[0], p, partitions)
    pcfg = cfg.model_copy(deep=True)
    pcfg.run.output = root / "partitions" / partition_tag(p)
    runner = Runner(
        pcfg,
        backends={"default": ScriptedBackend(good_case_draft)},
        argv=["test"],
        partition=Partition(tag=partition_tag(p), data_root=root, storage=storage),
    )
    return root, pcfg.run.output, asyncio.run(runner.run([job]))


class _RecordingStorage:
    """Checks the order at every shard: uploaded while the state does not name it yet, then state uploaded."""

    def __init__(self, fail_after: int | None = None):
        self.events: list[tuple[str, str]] = []
        self.fail_after = fail_after

    def put_shard(self, data_root, table, name):
        from synth.store.state import RunState

        assert (data_root / "data" / table / name).exists()
        part = data_root / "partitions" / name.split("-")[2] / "state.sqlite"
        state = RunState(part)
        assert name not in state.shard_names(table), "a shard was committed before its upload"
        state.close()
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            raise OSError("storage unreachable")
        self.events.append(("shard", name))

    def put_state(self, part_dir):
        self.events.append(("state", part_dir.name))


def test_partition_runner_writes_only_its_items_and_uploads_before_commit(write_config, tmp_path):
    storage = _RecordingStorage()
    root, part_dir, res = _partition_run(write_config, tmp_path, storage)
    mine = [f"synth-0-{i:06d}" for i in range(12) if partition_of(f"synth-0-{i:06d}", 3) == 1]
    assert res.status == "completed" and res.jobs[0].done == len(mine) > 0
    cards = list(iter_records(root, "cases", CaseCard))
    assert len(cards) == len(mine)
    names = sorted(p.name for p in (root / "data" / "cases").iterdir())
    assert names and all("-p0001-" in n for n in names)
    kinds = [k for k, _ in storage.events]
    assert kinds == ["shard", "state"] * (len(kinds) // 2) and len(kinds) == 2 * len(names)
    assert (part_dir / "state.sqlite").exists() and not (root / "state.sqlite").exists()


def test_failed_upload_commits_nothing_and_leaves_other_partitions_files(write_config, tmp_path):
    from synth.store.errors import OutputWriteError
    from synth.store.state import RunState

    other = tmp_path / "out" / "data" / "cases" / "part-00000-p0002-abcdef.parquet"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"another partition's committed shard")
    with pytest.raises((OSError, OutputWriteError)):
        _partition_run(write_config, tmp_path, _RecordingStorage(fail_after=0))
    state = RunState(tmp_path / "out" / "partitions" / "p0001" / "state.sqlite")
    assert (
        state.shard_names("cases") == set() and state.counts().get("case_synthesis", {}).get("done") is None
    )
    state.close()
    # The next start of p0001 removes its own uncommitted shard, never p0002's.
    root, part_dir, res = _partition_run(write_config, tmp_path, _RecordingStorage())
    assert res.status == "completed" and other.exists()
    state = RunState(part_dir / "state.sqlite")
    mine = {p.name for p in (root / "data" / "cases").iterdir() if "-p0001-" in p.name}
    assert mine == state.shard_names("cases") and state.counts()["case_synthesis"]["done"] == res.jobs[0].done
    state.close()


@pytest.mark.slow
def test_teacher_lost_in_a_partition_stops_the_run_as_locally(cluster, write_config, tmp_path):
    """A breaker that gives up inside a Ray task: `synth run` exits 4 with the local message, not a Ray trace."""
    stub = StubServer(latency_ms=100)
    stub.__enter__()
    cfg = _config(write_config, tmp_path / "out", stub.base_url, "ray.yaml", 40)
    data = __import__("yaml").safe_load(cfg.read_text())
    data["teachers"]["default"]["breaker"] = {"failures": 2, "probe_initial_s": 0.2, "give_up_after_s": 1.0}
    data["teachers"]["default"]["timeout_s"] = 2
    cfg.write_text(__import__("yaml").safe_dump(data))
    cmd = [sys.executable, "-m", "synth.cli", "run", str(cfg), "--plain", "--executor", "ray"]
    cmd += ["--address", cluster.address, "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while stub.stats()["total"] < 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.05)
    finally:
        stub.__exit__(None, None, None)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 4, stderr
    assert "stopped; nothing was quarantined for it" in stderr and "RayTaskError" not in stderr


def test_run_config_keys_of_the_ray_executor(write_config, tmp_path):
    from synth.config import ConfigError, load_config

    base = {"teachers": {"default": {"backend": "local"}}, "cases": {"synthesize": {"n": 1}}}
    out = str(tmp_path / "o")
    cfg = load_config(write_config({**base, "run": {"output": out, "executor": "ray", "workers": 3}}))
    assert cfg.run.executor == "ray" and cfg.run.workers == 3 and cfg.run.partitions is None
    with pytest.raises(ConfigError, match=r"run\.workers needs run\.executor: ray"):
        load_config(write_config({**base, "run": {"output": out, "workers": 3}}))
    with pytest.raises(ConfigError, match="fsspec URL"):
        load_config(write_config({**base, "run": {"output": out, "executor": "ray", "storage": "/mnt/x"}}))
    with pytest.raises(ConfigError, match="worker"):  # a misspelt key names itself
        load_config(write_config({**base, "run": {"output": out, "executor": "ray", "worker": 3}}))
