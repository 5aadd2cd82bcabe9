"""The request cache: SQLite, keyed by backend + model + request (messages, params, schema) + template tag.

Only the raw text is stored, never the parsed object: a hit is parsed again (tens of microseconds), so a schema
change re-parses instead of re-asking. (Caches written before kept a `parsed` table that nothing read; it is left
as it is.) Writes go
through one background thread that commits in batches (group commit) — a caller's `put` returns once its row
is committed, so a completed request survives kill -9, and thousands of concurrent puts cost one transaction
per batch instead of one each. WAL mode lets several processes share one cache file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from synth.store.errors import OutputWriteError
from synth.teachers.base import RawCompletion, Request

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
  key TEXT PRIMARY KEY, backend TEXT NOT NULL, model TEXT NOT NULL, tag TEXT NOT NULL,
  text TEXT NOT NULL, finish_reason TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL, cached_prompt_tokens INTEGER, refusal TEXT, created REAL NOT NULL
);
"""


# How often the writer checks, inside its batching window, whether a full batch is already waiting.
_POLL_S = 0.005
# hashlib releases the GIL while hashing 2,048 bytes or more; getting it back from the cache's writer thread
# cost the event loop more than the hashing itself. Smaller updates keep the GIL (same digest).
_HASH_CHUNK = 2047


def cache_key(backend: str, model: str, request: Request, tag: str = "") -> str:
    h = hashlib.sha256()
    for part in (backend.encode(), model.encode(), tag.encode(), request.to_json_bytes()):
        if len(part) <= _HASH_CHUNK:
            h.update(part)
        else:
            view = memoryview(part)
            for i in range(0, len(part), _HASH_CHUNK):
                h.update(view[i : i + _HASH_CHUNK])
        h.update(b"\x1f")
    return h.hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA busy_timeout=60000")
    return con


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    commits: int = 0


class RequestCache:
    # max_wait_s, the group-commit window: every caller of `put` waits for it, and callers released by one
    # commit are released together — 256 consultations whose turns were spread out leave a 20 ms window in
    # step and reach the server in one burst, which then queues behind the event loop. Measured
    # (docs/benchmarks.md, consultations): 20 ms held 0.57 / 0.88 of the latency-bound request rate at a
    # 100 / 500 ms server, 2 ms 0.73–0.77 / 0.96, no window 0.78 / 0.98 at ~10 % more CPU per request.
    def __init__(self, path: str | Path, *, max_batch: int = 1024, max_wait_s: float = 0.002):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._read = _connect(self.path)
        self._read.executescript(_SCHEMA)
        self._read_lock = threading.Lock()
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        # SimpleQueue: its put is one C call, where Queue.put takes a lock and notifies a condition in Python.
        self._queue: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="request-cache-writer", daemon=True)
        self._writer_error: BaseException | None = None
        self._writer.start()
        self.stats = CacheStats()

    # -- reads (cheap; done inline) ---------------------------------------------------------------
    def get(self, key: str) -> RawCompletion | None:
        with self._read_lock:
            row = self._read.execute(
                "SELECT text, finish_reason, prompt_tokens, completion_tokens, model, refusal, "
                "cached_prompt_tokens FROM responses WHERE key=?",
                (key,),
            ).fetchone()
        if row is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return RawCompletion(
            text=row[0],
            finish_reason=row[1],
            prompt_tokens=row[2],
            completion_tokens=row[3],
            model=row[4],
            refusal=row[5],
            cached_prompt_tokens=row[6],
        )

    def contains(self, key: str) -> bool:
        with self._read_lock:
            return self._read.execute("SELECT 1 FROM responses WHERE key=?", (key,)).fetchone() is not None

    # -- writes (batched in the writer thread) ------------------------------------------------------
    async def put(self, key: str, backend: str, tag: str, raw: RawCompletion) -> None:
        if self._writer_error is not None:
            raise OutputWriteError(f"request cache {self.path}: cannot write: {self._writer_error}")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        row = (
            key,
            backend,
            raw.model,
            tag,
            raw.text,
            raw.finish_reason,
            raw.prompt_tokens,
            raw.completion_tokens,
            raw.cached_prompt_tokens,
            raw.refusal,
            time.time(),
        )
        self._queue.put(("responses", row, loop, fut))
        await fut

    def _write_loop(self) -> None:
        con = _connect(self.path)
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            # Sleep out the batching window instead of waking for every item: each wake-up takes the GIL from
            # the event loop, and at ~1,000 requests/s that was a wake-up per put.
            deadline = time.monotonic() + self._max_wait_s
            while (left := deadline - time.monotonic()) > 0 and self._queue.qsize() < self._max_batch - 1:
                time.sleep(min(left, _POLL_S))
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                con.execute("BEGIN IMMEDIATE")
                responses = [b[1] for b in batch]
                con.executemany("INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?,?,?)", responses)
                con.execute("COMMIT")
                self.stats.writes += len(responses)
                self.stats.commits += 1
                err: BaseException | None = None
            except BaseException as e:  # surfaced to every waiting caller, never swallowed
                err = e
                self._writer_error = e
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
            # One wake-up per event loop for the whole batch: call_soon_threadsafe writes to the loop's
            # self-pipe, and a write (and a wake-up) per future cost more CPU than the INSERTs themselves.
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, _, loop, fut in batch:
                by_loop.setdefault(loop, []).append(fut)
            for loop, futs in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a loop closed meanwhile has no waiter left
                    loop.call_soon_threadsafe(_resolve_all, futs, err)
            if stop:
                break
        con.close()

    def close(self) -> None:
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        with self._read_lock:
            self._read.close()

    def summary(self) -> dict[str, int]:
        with self._read_lock:
            n = self._read.execute(
                "SELECT count(*), coalesce(sum(prompt_tokens),0), "
                "coalesce(sum(completion_tokens),0) FROM responses"
            ).fetchone()
        return {"entries": n[0], "prompt_tokens": n[1], "completion_tokens": n[2]}

    def by_model(self) -> list[tuple[str, str, int]]:
        with self._read_lock:
            return list(
                self._read.execute(
                    "SELECT backend, model, count(*) FROM responses GROUP BY backend, model ORDER BY 3 DESC"
                )
            )


def _resolve_all(futs: list[asyncio.Future[None]], err: BaseException | None) -> None:
    for fut in futs:
        if fut.done():
            continue
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(OutputWriteError(f"request cache: cannot write: {err}"))
