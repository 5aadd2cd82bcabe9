"""What the viewer reads: a run folder, a `synth filter` output folder or a published folder, as a stream.

Records come only through `synth.store.shards.iter_records`, one shard in memory at a time, so the viewer
follows the storage layout wherever it goes. A filter output also names its input run in its manifest: the
records its ledger dropped are read back from there (when that folder is still present), so a dropped record
has a page with the stage and the reason. Ledger entries whose record cannot be found (an unreadable shard, a
row that did not validate, an input folder that is gone) and the generation quarantine are yielded as rows
without a record: nothing the folder knows about is left out of the index.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from schemas.case import CaseCard
from schemas.common import Record
from schemas.consultation import Consultation
from schemas.failure import LedgerEntry, QuarantineRecord
from schemas.problem import ReasoningTrace, VerifiableProblem

FolderKind = Literal["run", "filtered", "published"]

#: tables in the order the viewer streams them: cards first (consultations look up their hidden answer),
#: traces before problems (a problem page links to its traces)
TABLES: dict[str, type[Record]] = {
    "cases": CaseCard,
    "reasoning": ReasoningTrace,
    "problems": VerifiableProblem,
    "consultations": Consultation,
}


class ViewError(ValueError):
    """The folder cannot be viewed at all (missing, or none of the known tables, ledger or quarantine)."""


@dataclass
class Item:
    """One row of the index: a record (or None when only the ledger or quarantine knows of it) and its fate."""

    table: str
    record: Record | None
    status: str  # "kept", "dropped: <stage>", "quarantined: <stage>", "unreadable"
    reason: str | None = None
    record_id: str = ""
    duplicate_of: str | None = None


@dataclass
class Folder:
    root: Path
    kind: FolderKind
    ledger: dict[tuple[str, str], LedgerEntry] = field(default_factory=dict)
    filter_input: Path | None = None

    def tables(self) -> list[str]:
        return [t for t in TABLES if (self.root / "data" / t).is_dir()]


def open_folder(root: Path) -> Folder:
    root = Path(root)
    if not root.is_dir():
        raise ViewError(f"{root}: no such folder")
    if (root / "ledger.jsonl").exists():
        kind: FolderKind = "filtered"
    elif any((root / "data" / v).is_dir() for v in ("sft", "dpo", "rl")) or (root / "README.md").exists():
        kind = "published"
    else:
        kind = "run"
    folder = Folder(root, kind)
    if kind == "filtered":
        for line in (root / "ledger.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                e = LedgerEntry.model_validate_json(line)
                folder.ledger[(e.table, e.record_id)] = e
        folder.filter_input = _filter_input(root)
    if not folder.tables() and not folder.ledger and not (root / "quarantine.jsonl").exists():
        raise ViewError(
            f"{root}: no consultations, problems, reasoning or cases records, ledger or quarantine"
        )
    return folder


def _filter_input(root: Path) -> Path | None:
    """The run the filter read (manifest `filter.input`), when it is still there to read dropped records from."""
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    src = (manifest.get("filter") or {}).get("input")
    if not src:
        return None
    path = Path(src)
    if not path.is_absolute() and not path.exists():
        # recorded as typed on the filter's command line, relative to where it ran: the input is most often
        # the filter output's sibling (out/demo -> out/demo-filtered)
        path = root.parent / path.name
    return path if (path / "data").is_dir() and path.resolve() != root.resolve() else None


def _stream(root: Path, table: str) -> Iterator[Record | Exception]:
    """Records of one table; a record or shard that cannot be read ends the table with the error, yielded."""
    from synth.store.shards import iter_records

    try:
        yield from iter_records(root, table, TABLES[table])
    except Exception as e:  # a corrupt shard or an invalid row: shown in the index, not a crash
        yield e


def items(folder: Folder, table: str) -> Iterator[Item]:
    """Every item of one table: kept records, then those the ledger dropped, then ledger-only entries."""
    for r in _stream(folder.root, table):
        if isinstance(r, Exception):
            yield _unreadable(folder.root, table, r)
            break
        yield Item(table, r, "kept", record_id=getattr(r, "id", ""))
    pending = {rid: e for (t, rid), e in folder.ledger.items() if t == table}
    if folder.filter_input is not None and pending:
        for r in _stream(folder.filter_input, table):
            if isinstance(r, Exception):
                yield _unreadable(folder.filter_input, table, r)
                break
            e = pending.pop(getattr(r, "id", ""), None)  # type: ignore[arg-type]
            if e is not None:
                yield Item(table, r, f"dropped: {e.stage}", e.reason, e.record_id, e.duplicate_of)
    for e in pending.values():  # the record itself is not readable any more: the entry still shows
        yield Item(table, None, f"dropped: {e.stage}", e.reason, e.record_id, e.duplicate_of)


def _unreadable(root: Path, table: str, e: Exception) -> Item:
    reason = f"{type(e).__name__}: {str(e)[:300]}"
    print(f"[view] {root}: {table}: the rest of the table is not readable: {reason}", file=sys.stderr)
    return Item(table, None, "unreadable", f"the rest of the table could not be read: {reason}", table)


def ledger_tables(folder: Folder) -> list[str]:
    """Tables only the ledger names (every record of them dropped, so OUT has no data/<table>/)."""
    return sorted({t for t, _ in folder.ledger} - set(folder.tables()))


def quarantine(folder: Folder) -> Iterator[Item]:
    """What generation itself rejected (quarantine.jsonl), line by line."""
    path = folder.root / "quarantine.jsonl"
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            q = QuarantineRecord.model_validate_json(line)
            yield Item(
                q.job, None, f"quarantined: {q.stage}", f"{q.error_type}: {q.message}", q.item_id, None
            )
