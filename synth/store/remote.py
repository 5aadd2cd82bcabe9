"""Shared storage for a run's output: an fsspec URL (s3://bucket/prefix through s3fs, or any fsspec protocol).

Design (docs/architecture.md, "Shared storage"): SQLite wants a local disk (locks, WAL, fsync), so the run state
and the request cache stay in the local output folder of each node; what other nodes and readers need goes to
the URL. At each shard commit the shard is uploaded FIRST, then the state commits locally, then a consistent
snapshot of the partition's state (SQLite's backup API) is uploaded: a kill between any two steps leaves at
worst a shard in storage that no state names (an orphan, removed by that partition's next start), never a state
that names a missing shard. A partition that starts on a node without its state takes the last snapshot; a job
that reads an earlier job's output first downloads the shards it lacks. Readers (`synth status`,
`synth publish`) fetch the output into a local folder and read it there.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from synth.store.shards import SHARD_SUFFIX, shard_owner


def is_url(value: str | os.PathLike[str]) -> bool:
    """An fsspec URL (s3://…); a typer Path argument has folded the '//' into '/', so both spellings count."""
    s = os.fspath(value)
    return "://" in s or re.match(r"^[a-z][a-z0-9+.-]+:/(?!/)", s) is not None


def as_url(value: str | os.PathLike[str]) -> str:
    s = os.fspath(value)
    return s if "://" in s else s.replace(":/", "://", 1)


class RemoteStore:
    def __init__(self, url: str):
        import fsspec

        self.url = as_url(url).rstrip("/")
        self.fs: Any
        self.fs, self.root = fsspec.core.url_to_fs(self.url)

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    # -- writing ------------------------------------------------------------------------------------------
    def put_file(self, local: Path, rel: str) -> None:
        if local.exists():
            self.fs.put_file(str(local), self._path(rel))

    def put_shard(self, data_root: Path, table: str, name: str) -> None:
        self.put_file(data_root / "data" / table / name, f"data/{table}/{name}")

    def put_state(self, part_dir: Path) -> None:
        """A consistent copy of the partition's state.sqlite (a WAL file is not safe to copy as it is)."""
        with tempfile.TemporaryDirectory() as tmp:
            snap = Path(tmp) / "state.sqlite"
            src = sqlite3.connect(part_dir / "state.sqlite")
            dst = sqlite3.connect(snap)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
            self.put_file(snap, f"partitions/{part_dir.name}/state.sqlite")

    # -- reading ------------------------------------------------------------------------------------------
    def get_file(self, rel: str, local: Path) -> bool:
        """Download one file if storage has it; returns whether it did."""
        if not self.fs.exists(self._path(rel)):
            return False
        local.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(self._path(rel), str(local))
        return True

    def restore_partition(self, part_dir: Path) -> None:
        """Take the partition's last state snapshot when this node has none; drop its orphan shards."""
        remote_state = self._path(f"partitions/{part_dir.name}/state.sqlite")
        local_state = part_dir / "state.sqlite"
        if not local_state.exists() and self.fs.exists(remote_state):
            part_dir.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(remote_state, str(local_state))
        registered: set[str] = set()
        if local_state.exists():
            con = sqlite3.connect(local_state)
            try:
                registered = {r[0] for r in con.execute("SELECT name FROM shards")}
            finally:
                con.close()
        for path in self._shards():
            name = path.rsplit("/", 1)[-1]
            if shard_owner(name) == part_dir.name and name not in registered:
                self.fs.rm_file(path)  # uploaded, then killed before its commit: its items are redone

    def _shards(self) -> list[str]:
        data = self._path("data")
        if not self.fs.exists(data):
            return []
        return [p for p in self.fs.find(data) if p.endswith(SHARD_SUFFIX)]

    def sync_down(self, out: Path) -> int:
        """Download the shards this node lacks (earlier jobs' output on other nodes); returns how many."""
        n = 0
        for path in self._shards():
            rel = path[len(self.root) + 1 :]
            local = out / rel
            if not local.exists():
                local.parent.mkdir(parents=True, exist_ok=True)
                tmp = local.with_name(f".{local.name}.tmp")
                self.fs.get_file(path, str(tmp))
                os.replace(tmp, local)
                n += 1
        return n

    def fetch(self, dest: Path) -> Path:
        """The whole output (shards, manifest, partition states, quarantine) into dest, for local readers."""
        dest.mkdir(parents=True, exist_ok=True)
        self.sync_down(dest)
        for path in self.fs.find(self.root):
            rel = path[len(self.root) + 1 :]
            if rel.startswith("data/"):
                continue
            local = dest / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(path, str(local))
        return dest

    def put_tree(self, local: Path) -> int:
        """Upload a local folder (a published dataset) under the URL; returns the number of files."""
        n = 0
        for path in sorted(local.rglob("*")):
            if path.is_file():
                self.fs.put_file(str(path), self._path(path.relative_to(local).as_posix()))
                n += 1
        return n
