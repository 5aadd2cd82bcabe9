"""`synth migrate OUT/`: rewrite a run's JSON-column shards (layout 1) in the typed-column layout (2.0), in place.

Every shard file keeps its name, so the run state's shard list stays true. Per table, the new files are all
written first (temp names, fsynced), each checked to hold exactly the records of its old file, and only then
renamed over the old ones; the state's byte counts and the manifest's `layout` follow. A shard file is always
either wholly old or wholly new, and `iter_records` reads both, so an interrupted migration leaves a readable
run, and running the command again finishes it (files already in the new layout are left as they are).

The record schema version does not change: the records are the same pydantic objects, only their storage is.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from schemas.arrow import LAYOUT_VERSION
from synth.store.shards import (
    LEGACY_LAYOUT,
    ShardWriter,
    read_shard,
    shard_layout,
    shard_paths,
    table_models,
)

_SCRATCH = ".migrate-tmp"  # under OUT, beside data/: one file system, so the renames are atomic


class MigrateError(Exception):
    """The folder cannot be migrated (not a run, an unknown table, a shard that does not read back the same)."""


@dataclass
class MigrateResult:
    out: Path
    converted: dict[str, int] = field(default_factory=dict)  # table -> shard files rewritten
    records: dict[str, int] = field(default_factory=dict)  # table -> records in them
    already: int = 0  # shard files already in the typed layout


def _tables(out: Path) -> list[str]:
    data = out / "data"
    if not data.is_dir():
        raise MigrateError(f"{out}: no data/ folder (not a run or filter output)")
    return sorted(p.name for p in data.iterdir() if p.is_dir())


def _states(out: Path) -> list[Path]:
    """The run state databases of a folder: the run's own, and a Ray run's partitions'."""
    return sorted(p for p in out.rglob("state.sqlite") if "data" not in p.relative_to(out).parts)


def _convert(out: Path, path: Path, table: str, seq: int) -> tuple[Path, int]:
    """Write the typed copy of one legacy shard next to it (a temp name); returns it and its record count."""
    models = table_models()
    if table not in models:
        raise MigrateError(f"{path}: table {table!r} has no known record type; known: {sorted(models)}")
    model = models[table]
    old = list(read_shard(path, model))
    tmp_root = out / _SCRATCH
    w = ShardWriter(tmp_root, table, "m", seq, max_records=len(old) + 1, max_bytes=2**62, model=model)
    name, _ = w.write([(row["id"], row["item_id"], rec.schema_version, rec) for row, rec in old])
    new = tmp_root / "data" / table / name
    back = [rec for _, rec in read_shard(new, model)]
    if back != [rec for _, rec in old]:
        raise MigrateError(f"{path}: the typed copy does not read back the same records; nothing replaced")
    return new, len(old)


def migrate_run(out: Path) -> MigrateResult:
    """Convert every legacy shard of the folder; idempotent, and safe to rerun after an interruption."""
    import shutil

    out = Path(out)
    res = MigrateResult(out)
    scratch = out / _SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)  # what an interrupted migration left
    for table in _tables(out):
        todo: list[tuple[Path, Path, int]] = []
        for seq, path in enumerate(shard_paths(out, table)):
            if shard_layout(path) != LEGACY_LAYOUT:
                res.already += 1
                continue
            new, n = _convert(out, path, table, seq)
            todo.append((path, new, n))
        # Every new file is written and checked before the first old one is replaced.
        for old, new, n in todo:
            os.replace(new, old)
            res.converted[table] = res.converted.get(table, 0) + 1
            res.records[table] = res.records.get(table, 0) + n
        _fsync_dir(out / "data" / table)
        # Every shard's size, not only this pass's: an interrupted pass renamed some without recording them.
        _update_states(out, table, shard_paths(out, table) if todo or res.already else [])
    shutil.rmtree(scratch, ignore_errors=True)
    _mark_manifest(out)
    return res


def _update_states(out: Path, table: str, paths: list[Path]) -> None:
    if not paths:
        return
    for db in _states(out):
        con = sqlite3.connect(db)
        try:
            with con:
                con.executemany(
                    "UPDATE shards SET bytes=? WHERE tbl=? AND name=?",
                    [(p.stat().st_size, table, p.name) for p in paths],
                )
        finally:
            con.close()


def _mark_manifest(out: Path) -> None:
    path = out / "manifest.json"
    if not path.exists():
        return
    data = json.loads(path.read_text())
    if data.get("layout") == LAYOUT_VERSION:
        return
    data["layout"] = LAYOUT_VERSION
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
