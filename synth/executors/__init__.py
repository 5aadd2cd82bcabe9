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
