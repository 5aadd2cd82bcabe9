"""Run state: which items are done (and in which shard) or quarantined (with a typed reason).

One SQLite file per output folder. A shard and the items it holds are committed in one transaction, after the
shard file is in place: so after a kill -9 either both exist or the shard is an orphan that the next run removes
(its items are redone, answered from the request cache). Nothing is lost and nothing is written twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

# Failures the next run tries again without being asked (transport trouble, not the content); defined with the
# teacher errors, and read from here by the state's users.
from synth.teachers.errors import TRANSIENT_KINDS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
  job TEXT NOT NULL, item_id TEXT NOT NULL, status TEXT NOT NULL, shard TEXT,
  error_type TEXT, stage TEXT, message TEXT, attempts INTEGER NOT NULL DEFAULT 1, updated REAL NOT NULL,
  PRIMARY KEY (job, item_id)
);
CREATE TABLE IF NOT EXISTS shards (
  tbl TEXT NOT NULL, name TEXT NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL, created REAL NOT NULL,
  PRIMARY KEY (tbl, name)
);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, started REAL NOT NULL, finished REAL, status TEXT NOT NULL, argv TEXT
);
-- Per job: the length of the leading run of its item stream whose items are all finished (done, or quarantined
-- for content), valid only for the stream named by stream_key (Job.stream_key). Written when a job ends
-- cleanly, removed when one starts: an interrupted run leaves none, and the next resume looks every item up.
CREATE TABLE IF NOT EXISTS prefixes (
  job TEXT PRIMARY KEY, stream_key TEXT NOT NULL, finished INTEGER NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS teacher_stats (
  run_id TEXT NOT NULL, teacher TEXT NOT NULL, backend TEXT NOT NULL, model TEXT NOT NULL, stats TEXT NOT NULL,
  PRIMARY KEY (run_id, teacher)
);
"""


@dataclass(frozen=True)
class Quarantined:
    job: str
    item_id: str
    error_type: str
    stage: str
    message: str


class RunState:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.executescript(_SCHEMA)

    def close(self) -> None:
        self.con.close()

    # -- runs ----------------------------------------------------------------------------------------
    def start_run(self, run_id: str, argv: list[str]) -> None:
        self.con.execute(
            "INSERT INTO runs(run_id, started, status, argv) VALUES (?,?,?,?)",
            (run_id, time.time(), "running", json.dumps(argv)),
        )

    def finish_run(self, run_id: str, status: str) -> None:
        self.con.execute("UPDATE runs SET finished=?, status=? WHERE run_id=?", (time.time(), status, run_id))

    def save_teacher_stats(self, run_id: str, rows: Iterable[tuple[str, str, str, dict[str, Any]]]) -> None:
        self.con.executemany(
            "INSERT OR REPLACE INTO teacher_stats VALUES (?,?,?,?,?)",
            [(run_id, t, b, m, json.dumps(s)) for t, b, m, s in rows],
        )

    # -- items ---------------------------------------------------------------------------------------
    def finished_ids(self, job: str, *, retry_quarantined: bool = False) -> set[str]:
        """Items a new run must skip: done ones, and quarantined ones unless transient or asked to retry."""
        done = {
            r[0] for r in self.con.execute("SELECT item_id FROM items WHERE job=? AND status='done'", (job,))
        }
        if not retry_quarantined:
            q = self.con.execute(
                "SELECT item_id, error_type FROM items WHERE job=? AND status='quarantined'", (job,)
            )
            done |= {r[0] for r in q if r[1] not in TRANSIENT_KINDS}
        return done

    def finished_count(self, job: str, *, retry_quarantined: bool = False) -> int:
        """len(finished_ids(...)), counted in SQL."""
        q = "SELECT count(*) FROM items WHERE job=? AND (status='done'"
        args: list[str] = [job]
        if not retry_quarantined:
            q += f" OR (status='quarantined' AND coalesce(error_type, '') NOT IN ({','.join('?' * len(TRANSIENT_KINDS))}))"
            args += sorted(TRANSIENT_KINDS)
        return int(self.con.execute(q + ")", args).fetchone()[0])

    def unfinished(
        self,
        job: str,
        items: Iterable[Any],
        *,
        retry_quarantined: bool = False,
        batch: int = 500,
        id_of: Callable[[Any], str] = attrgetter("id"),
    ) -> Iterator[Any]:
        """The items (anything with an `id`, or whatever `id_of` reads one from) a new run must still do, in
        their order, without loading every finished id: each batch of items is looked up in the database (the
        (job, item_id) key), so memory stays flat however many are done. Same rule as `finished_ids`."""
        chunk: list[Any] = []
        for it in items:
            chunk.append(it)
            if len(chunk) >= batch:
                yield from self._unfinished_batch(job, chunk, retry_quarantined, id_of)
                chunk = []
        if chunk:
            yield from self._unfinished_batch(job, chunk, retry_quarantined, id_of)

    def _unfinished_batch(
        self, job: str, chunk: list[Any], retry_quarantined: bool, id_of: Callable[[Any], str]
    ) -> list[Any]:
        ids = [id_of(it) for it in chunk]
        # The rule is applied in SQL and only the ids to skip come back, one column: at 1M done items the
        # Python side of the lookups (3-column rows, a filter per row) was half of a resume's start-up.
        q = f"SELECT item_id FROM items WHERE job=? AND item_id IN ({','.join('?' * len(ids))}) AND (status='done'"
        args: list[str] = [job, *ids]
        if not retry_quarantined:
            q += f" OR (status='quarantined' AND coalesce(error_type, '') NOT IN ({','.join('?' * len(TRANSIENT_KINDS))}))"
            args += sorted(TRANSIENT_KINDS)
        skip = {i for (i,) in self.con.execute(q + ")", args)}
        if not skip:
            return chunk
        if len(skip) == len(chunk):
            return []
        return [it for it, i in zip(chunk, ids, strict=True) if i not in skip]

    def finished_prefix(self, job: str, stream_key: str) -> int:
        """How many leading items of the job's stream `stream_key` are known finished (0 when unknown)."""
        row = self.con.execute(
            "SELECT finished FROM prefixes WHERE job=? AND stream_key=?", (job, stream_key)
        ).fetchone()
        return int(row[0]) if row else 0

    def set_finished_prefix(self, job: str, stream_key: str, finished: int) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO prefixes VALUES (?,?,?,?)", (job, stream_key, finished, time.time())
        )

    def clear_finished_prefix(self, job: str) -> None:
        self.con.execute("DELETE FROM prefixes WHERE job=?", (job,))

    def quarantine(self, items: Iterable[Quarantined]) -> None:
        now = time.time()
        self.con.executemany(
            "INSERT INTO items(job, item_id, status, error_type, stage, message, updated) "
            "VALUES (?,?,'quarantined',?,?,?,?) ON CONFLICT(job, item_id) DO UPDATE SET "
            "status='quarantined', error_type=excluded.error_type, stage=excluded.stage, "
            "message=excluded.message, attempts=attempts+1, updated=excluded.updated",
            [(q.job, q.item_id, q.error_type, q.stage, q.message, now) for q in items],
        )

    def commit_shard(
        self, table: str, name: str, records: int, nbytes: int, items: list[tuple[str, str]]
    ) -> None:
        now = time.time()
        self.con.execute("BEGIN IMMEDIATE")
        try:
            self.con.execute("INSERT INTO shards VALUES (?,?,?,?,?)", (table, name, records, nbytes, now))
            self.con.executemany(
                "INSERT INTO items(job, item_id, status, shard, updated) VALUES (?,?,'done',?,?) "
                "ON CONFLICT(job, item_id) DO UPDATE SET status='done', shard=excluded.shard, "
                "error_type=NULL, stage=NULL, message=NULL, updated=excluded.updated",
                [(job, item_id, name, now) for job, item_id in items],
            )
            self.con.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full) may already have ended the transaction: a ROLLBACK then would
            # raise its own error and hide the one that matters.
            if self.con.in_transaction:
                self.con.execute("ROLLBACK")
            raise

    def shard_names(self, table: str) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT name FROM shards WHERE tbl=?", (table,))}

    def next_shard_seq(self, table: str) -> int:
        return int(self.con.execute("SELECT count(*) FROM shards WHERE tbl=?", (table,)).fetchone()[0])

    # -- reporting -------------------------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for job, status, n in self.con.execute(
            "SELECT job, status, count(*) FROM items GROUP BY job, status"
        ):
            out.setdefault(job, {})[status] = n
        return out

    def quarantine_reasons(self) -> list[tuple[str, str, str, int, str]]:
        """(job, stage, error_type, count, one example message) per reason."""
        return list(
            self.con.execute(
                "SELECT job, stage, error_type, count(*), min(message) FROM items WHERE status='quarantined' "
                "GROUP BY job, stage, error_type ORDER BY count(*) DESC"
            )
        )

    def quarantined(self, job: str | None = None) -> list[Quarantined]:
        return list(self.iter_quarantined(job))

    def iter_quarantined(self, job: str | None = None) -> Iterator[Quarantined]:
        """The quarantined items, streamed from the database (a run may quarantine a large share of 1M items)."""
        q = "SELECT job, item_id, error_type, stage, message FROM items WHERE status='quarantined'"
        rows = self.con.execute(
            q + (" AND job=?" if job else "") + " ORDER BY job, item_id", (job,) if job else ()
        )
        for r in rows:
            yield Quarantined(*r)

    def count_quarantined(self, jobs: Iterable[str], kinds: Iterable[str]) -> int:
        """How many items of these jobs are quarantined with one of these error types (counted in SQL)."""
        jobs, kinds = list(jobs), list(kinds)
        if not jobs or not kinds:
            return 0
        row = self.con.execute(
            f"SELECT count(*) FROM items WHERE status='quarantined' AND job IN ({','.join('?' * len(jobs))}) "
            f"AND error_type IN ({','.join('?' * len(kinds))})",
            (*jobs, *kinds),
        ).fetchone()
        return int(row[0])

    def teacher_totals(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        rows = self.con.execute("SELECT teacher, backend, model, stats FROM teacher_stats")
        return sum_teacher_stats((t, b, m, json.loads(stats)) for t, b, m, stats in rows)

    def runs(self) -> list[tuple[str, float, float | None, str]]:
        return list(self.con.execute("SELECT run_id, started, finished, status FROM runs ORDER BY started"))


def sum_teacher_stats(
    rows: Iterable[tuple[str, str, str, dict[str, Any]]],
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Per (teacher, backend, model): the numeric stats summed, the failure counts summed by kind."""
    totals: dict[tuple[str, str, str], dict[str, Any]] = {}
    for t, b, m, s in rows:
        acc = totals.setdefault((t, b, m), {"failures": {}})
        for k, v in s.items():
            if k == "failures":
                for fk, fv in v.items():
                    acc["failures"][fk] = acc["failures"].get(fk, 0) + fv
            elif isinstance(v, int | float):
                acc[k] = acc.get(k, 0) + v
    return [(t, b, m, s) for (t, b, m), s in totals.items()]
