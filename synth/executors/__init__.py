"""Executors of `synth run`: the local one is synth.runner.Runner itself; `ray_executor` runs partitions on Ray.

This module stays free of heavy imports: the runner reads the two names below on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARTITIONS_FILE = "partitions.json"


@dataclass
class Partition:
    """What a Runner needs to run one partition of a Ray run (see synth/executors/ray_executor.py)."""

    tag: str  # p0007: in its shard names, so it removes only its own orphans from the shared data/
    data_root: Path  # the run's output folder, whose data/ every partition writes into
    storage: Any = None  # synth.store.remote.RemoteStore: shards and state uploaded at each commit


def partition_layout(out: Path) -> bool:
    """Whether an output folder was written by the Ray executor (its partitions' state under partitions/)."""
    return (out / PARTITIONS_FILE).exists()


def init_ray(address: str | None, num_cpus: int | None, object_store_bytes: int) -> Any:
    """Connect to `address` (auto, ray://HOST:PORT, HOST:PORT), or start a local cluster on 127.0.0.1 with
    `num_cpus` and a small object store. One place for the run executor and the filter."""
    import logging
    import os

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    host = (address or "").removeprefix("ray://").rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost", "::1"):
        # A cluster bound to the loopback interface: Ray would otherwise swap 127.0.0.1 for this machine's
        # outward address (where nothing listens) before connecting. Read when ray is imported.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        ray.init(
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=object_store_bytes,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    return ray
