"""Parquet shards, written atomically (temp file, fsync, rename) and rolled by record count and size.

A shard holds one record per row: `id`, `item_id`, `schema_version` and the full record as JSON in `record`.
Keeping the record as one JSON column makes every shard of a table share one Arrow schema whatever optional
fields a record fills, and the record is validated by its pydantic model on the way in and out; the training
views written by `publish` are the flat, typed columns trainers read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from schemas.common import Record

R = TypeVar("R", bound=Record)

SHARD_SUFFIX = ".parquet"


def _arrow_schema():  # type: ignore[no-untyped-def]
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("item_id", pa.string()),
            ("schema_version", pa.string()),
            ("record", pa.large_string()),
        ]
    )


class ShardWriter:
    """Buffers records of one table; `flush` writes them as one shard and returns (name, count, bytes)."""

    def __init__(
        self, root: Path, table: str, run_tag: str, first_seq: int, *, max_records: int, max_bytes: int
    ):
        self.dir = root / "data" / table
        self.dir.mkdir(parents=True, exist_ok=True)
        self.table = table
        self.run_tag = run_tag
        self.seq = first_seq
        self.max_records = max_records
        self.max_bytes = max_bytes
        # Per finished item: its (job, item_id) and its rows; a shard never splits an item.
        self._pending: list[tuple[tuple[str, str], list[tuple[str, str, str, str]], int]] = []
        self._rows = 0
        self._bytes = 0

    def add(self, job: str, item_id: str, records: list[Record]) -> None:
        rows = []
        nbytes = 0
        for r in records:
            js = r.model_dump_json()
            rows.append((getattr(r, "id", ""), item_id, r.schema_version, js))
            nbytes += len(js)
        self._pending.append(((job, item_id), rows, nbytes))
        self._rows += len(rows)
        self._bytes += nbytes

    @property
    def pending_items(self) -> int:
        return len(self._pending)

    def full(self) -> bool:
        return self._rows >= self.max_records or self._bytes >= self.max_bytes

    def take(self) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
        """Rows and items for one shard: whole items, up to the record and byte bounds."""
        rows: list[tuple[str, str, str, str]] = []
        items: list[tuple[str, str]] = []
        nbytes = 0
        while self._pending:
            item, item_rows, item_bytes = self._pending[0]
            if items and (
                len(rows) + len(item_rows) > self.max_records or nbytes + item_bytes > self.max_bytes
            ):
                break
            self._pending.pop(0)
            rows.extend(item_rows)
            items.append(item)
            nbytes += item_bytes
        self._rows -= len(rows)
        self._bytes -= nbytes
        return rows, items

    def write(self, rows: list[tuple[str, str, str, str]]) -> tuple[str, int]:
        """Write rows as the next shard; returns (file name, bytes). Blocking: call from a worker thread."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = f"part-{self.seq:05d}-{self.run_tag}{SHARD_SUFFIX}"
        self.seq += 1
        cols: list[Any] = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
        table = pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(cols, _arrow_schema(), strict=True)],
            schema=_arrow_schema(),
        )
        final = self.dir / name
        tmp = self.dir / f".{name}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.dir)
        return name, final.stat().st_size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_orphans(root: Path, table: str, registered: set[str]) -> list[str]:
    """Delete temp files and shards the state never committed (left by a kill between rename and commit)."""
    d = root / "data" / table
    removed: list[str] = []
    if not d.is_dir():
        return removed
    for p in d.iterdir():
        if p.name.endswith(".tmp") or (p.name.endswith(SHARD_SUFFIX) and p.name not in registered):
            p.unlink()
            removed.append(p.name)
    return removed


def shard_paths(root: Path, table: str) -> list[Path]:
    d = root / "data" / table
    return sorted(d.glob(f"*{SHARD_SUFFIX}")) if d.is_dir() else []


def iter_records(root: Path, table: str, model: type[R]) -> Iterator[R]:
    """Stream records of a table back, validated (one shard in memory at a time)."""
    import pyarrow.parquet as pq

    for path in shard_paths(root, table):
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(columns=["record"], batch_size=1024):
            for js in batch.column(0).to_pylist():
                yield model.model_validate_json(js)
