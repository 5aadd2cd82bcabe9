"""Parquet shards, written atomically (temp file, fsync, rename) and rolled by record count and size.

A shard holds one record per row in typed columns: `id`, `item_id`, then the record's own fields (nested
models as structs, lists of models as lists of structs; schemas/arrow.py derives the Arrow schema once from the
pydantic model), so every shard of a table has one schema whatever optional fields its records fill, and
`pl.scan_parquet` can filter on a nested field (`evaluation.correct`, a turn's `act`) with predicate pushdown.
Records are validated by their pydantic model on the way in and out. Each file's metadata names the layout
version and the record type; `iter_records` refuses a major layout or record schema version it does not know.

Runs written before the typed layout (one JSON `record` column, layout 1) still read; `synth migrate OUT/`
rewrites them (synth/store/migrate.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from schemas.arrow import (
    LAYOUT_KEY,
    LAYOUT_VERSION,
    arrow_schema,
    check_schema_version,
    check_version,
    decode_row,
    encode_record,
)
from schemas.common import Record

R = TypeVar("R", bound=Record)

SHARD_SUFFIX = ".parquet"
#: the JSON-column layout every run had before layout 2.0 (no version marker in its files)
LEGACY_LAYOUT = "1.0"

#: (id, item_id, schema_version, record): the record as its Arrow row (from `add`), a model, or its JSON text
ShardRow = tuple[str, str, str, Any]
_ROW_GROUP = 512  # rows per Parquet row group in a run's shards (see ShardWriter.write)


def table_models() -> dict[str, type[Record]]:
    """The record type of each table a run writes (a writer given no record learns it from here)."""
    from schemas import CaseCard, Consultation, ReasoningTrace, VerifiableProblem
    from schemas.preference import PreferencePair

    return {
        "cases": CaseCard,
        "consultations": Consultation,
        "problems": VerifiableProblem,
        "reasoning": ReasoningTrace,
        "preferences": PreferencePair,
    }


def shard_schema(model: type[Record]) -> Any:
    """The Arrow schema of a shard of `model` records: `id`, `item_id`, then the record's fields."""
    import pyarrow as pa

    lead = (pa.field("id", pa.string()), pa.field("item_id", pa.string()))
    return arrow_schema(model, lead=lead)


class ShardWriter:
    """Buffers records of one table; `flush` writes them as one shard and returns (name, count, bytes)."""

    def __init__(
        self,
        root: Path,
        table: str,
        run_tag: str,
        first_seq: int,
        *,
        max_records: int,
        max_bytes: int,
        model: type[Record] | None = None,
    ):
        self.dir = root / "data" / table
        self.dir.mkdir(parents=True, exist_ok=True)
        self.table = table
        self.run_tag = run_tag
        self.seq = first_seq
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.model = model or table_models().get(table)
        # Per finished item: its (job, item_id) and its rows; a shard never splits an item.
        self._pending: list[tuple[tuple[str, str], list[ShardRow], int]] = []
        self._rows = 0
        self._bytes = 0

    def add(self, job: str, item_id: str, records: list[Record]) -> None:
        rows: list[ShardRow] = []
        nbytes = 0
        for r in records:
            self._learn(type(r))
            # Its JSON is kept until the flush, not the record: a consultation's pydantic object holds ~6x the
            # memory of its JSON (~51 KiB against ~8 KiB), and up to `max_records` of them wait here between
            # flushes. The JSON is needed for the size bound anyway; `write`, in a worker thread, parses it back
            # (a round trip the record contract's tests pin) and builds the Arrow row.
            js = r.model_dump_json()
            rows.append((getattr(r, "id", ""), item_id, r.schema_version, js))
            nbytes += len(js)
        self._pending.append(((job, item_id), rows, nbytes))
        self._rows += len(rows)
        self._bytes += nbytes

    def _learn(self, model: type[Record]) -> None:
        if self.model is None:
            self.model = model
        elif model is not self.model:
            raise TypeError(f"{self.table}: a {model.__name__} record in a table of {self.model.__name__}")

    @property
    def pending_items(self) -> int:
        return len(self._pending)

    def full(self) -> bool:
        return self._rows >= self.max_records or self._bytes >= self.max_bytes

    def take(self) -> tuple[list[ShardRow], list[tuple[str, str]]]:
        """Rows and items for one shard: whole items, up to the record and byte bounds."""
        rows: list[ShardRow] = []
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

    def _arrow_rows(self, rows: list[ShardRow]) -> list[dict[str, Any]]:
        out = []
        for rid, item_id, _, rec in rows:
            if isinstance(rec, str | Record):
                if self.model is None:
                    raise TypeError(f"{self.table}: no record type known for this table")
                model = self.model
                r = rec if isinstance(rec, Record) else model.model_validate_json(rec)
                self._learn(type(r))
                rec = encode_record(r)
            out.append({**rec, "id": rid, "item_id": item_id})
        return out

    def write(self, rows: list[ShardRow]) -> tuple[str, int]:
        """Write rows as the next shard; returns (file name, bytes). Blocking: call from a worker thread."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.model is None and rows and isinstance(rows[0][3], Record):
            self._learn(type(rows[0][3]))
        if self.model is None:
            raise TypeError(f"{self.table}: no record type known for this table")
        schema = shard_schema(self.model)
        name = f"part-{self.seq:05d}-{self.run_tag}{SHARD_SUFFIX}"
        self.seq += 1
        final = self.dir / name
        tmp = self.dir / f".{name}.tmp"
        # Row groups of _ROW_GROUP rows, each built and written before the next: the Python rows of a whole
        # shard at once (5,000 consultations: ~50 KiB each as dicts) were the run's peak memory at every flush.
        with pq.ParquetWriter(tmp, schema, compression="zstd") as out:
            for i in range(0, max(len(rows), 1), _ROW_GROUP):
                out.write_table(
                    pa.Table.from_pylist(self._arrow_rows(rows[i : i + _ROW_GROUP]), schema=schema)
                )
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


def shard_owner(name: str) -> str | None:
    """The partition tag in a shard's (or its temp file's) name, `part-00003-p0007-1a2b3c.parquet`: p0007."""
    parts = name.lstrip(".").split("-")
    return parts[2] if len(parts) == 4 and parts[2].startswith("p") else None


def remove_orphans(root: Path, table: str, registered: set[str], owner: str | None = None) -> list[str]:
    """Delete temp files and shards the state never committed (left by a kill between rename and commit).

    `owner`: a partition of a Ray run shares data/ with the others and removes only its own files.
    """
    d = root / "data" / table
    removed: list[str] = []
    if not d.is_dir():
        return removed
    for p in d.iterdir():
        if owner is not None and shard_owner(p.name) != owner:
            continue
        if p.name.endswith(".tmp") or (p.name.endswith(SHARD_SUFFIX) and p.name not in registered):
            p.unlink()
            removed.append(p.name)
    return removed


def shard_paths(root: Path, table: str) -> list[Path]:
    d = root / "data" / table
    return sorted(d.glob(f"*{SHARD_SUFFIX}")) if d.is_dir() else []


def shard_layout(path: Path) -> str:
    """The layout version of one shard file: its metadata marker, or the legacy JSON layout."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return meta[LAYOUT_KEY].decode() if LAYOUT_KEY in meta else LEGACY_LAYOUT


def shard_rows(path: Path, batch_size: int = 1024) -> Iterator[dict[str, Any]]:
    """The stored rows of one shard, either layout, batch by batch; refuses major versions it does not know."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    meta = pf.schema_arrow.metadata or {}
    if LAYOUT_KEY in meta:
        check_version("shard layout", meta[LAYOUT_KEY].decode(), LAYOUT_VERSION, path.name)
    for batch in pf.iter_batches(batch_size=batch_size):
        if "schema_version" in batch.schema.names:
            for v in batch.column("schema_version").unique().to_pylist():
                check_schema_version(str(v), path.name)
        yield from batch.to_pylist()


def row_record(model: type[R], row: dict[str, Any]) -> R:
    """The validated record of a stored row: typed columns, or the legacy layout's JSON `record` column."""
    if isinstance(row.get("record"), str) and "record" not in model.model_fields:
        return model.model_validate_json(row["record"])
    return decode_row(model, row)


def read_shard(path: Path, model: type[R]) -> Iterator[tuple[dict[str, Any], R]]:
    """(stored row, validated record) of every row of one shard."""
    for row in shard_rows(path):
        yield row, row_record(model, row)


class LegacyLayoutError(ValueError):
    """A table written in the JSON-column layout, where a reader needs typed columns: `synth migrate` fixes it."""


def legacy_layout_message(root: Path) -> str | None:
    """Why a folder needs `synth migrate` before a columnar read (None when every shard is typed)."""
    data = root / "data"
    tables = sorted(p.name for p in data.iterdir() if p.is_dir()) if data.is_dir() else []
    for table in tables:
        legacy = [p.name for p in shard_paths(root, table) if shard_layout(p) == LEGACY_LAYOUT]
        if legacy:
            return (
                f"{root}: {table} has {len(legacy)} shard(s) in the JSON-column layout of older runs "
                f"(e.g. {legacy[0]}); convert them with `synth migrate {root}`"
            )
    return None


def scan_table(root: Path, table: str) -> Any:
    """A polars LazyFrame over a table's typed shards (None when it has none); reads only what a query uses."""
    import polars as pl

    paths = shard_paths(root, table)
    if not paths:
        return None
    if any(shard_layout(p) == LEGACY_LAYOUT for p in paths):
        raise LegacyLayoutError(legacy_layout_message(root))
    return pl.scan_parquet([str(p) for p in paths])


def iter_records(root: Path, table: str, model: type[R]) -> Iterator[R]:
    """Stream records of a table back, validated (one batch of one shard in memory at a time)."""
    for path in shard_paths(root, table):
        for _, record in read_shard(path, model):
            yield record
