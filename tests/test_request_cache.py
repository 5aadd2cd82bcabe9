"""The request cache's group commit: every waiter of a batch is released by its commit, and a failed commit
reaches every waiter of that batch as a typed error, never a silent loss."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from synth.store.errors import OutputWriteError
from synth.teachers.base import RawCompletion
from synth.teachers.cache import RequestCache


def _raw(i: int) -> RawCompletion:
    return RawCompletion(
        text=f"answer {i}", finish_reason="stop", prompt_tokens=3, completion_tokens=2, model="m"
    )


def test_concurrent_puts_are_committed_in_batches_and_read_back(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite", max_wait_s=0.01)

    async def main() -> None:
        await asyncio.gather(*(cache.put(f"k{i}", "openai", "", _raw(i)) for i in range(300)))

    asyncio.run(main())
    try:
        assert cache.summary()["entries"] == 300
        assert cache.stats.writes == 300
        assert cache.stats.commits < 300  # one transaction per batch, not per put
        hit = cache.get("k123")
        assert hit is not None and hit.text == "answer 123"
        assert cache.get("missing") is None
        # Only the raw text is kept: nothing writes a parsed copy.
        tables = {
            r[0] for r in sqlite3.connect(tmp_path / "cache.sqlite").execute("SELECT name FROM sqlite_master")
        }
        assert "parsed" not in tables
    finally:
        cache.close()


def test_a_failed_commit_reaches_every_waiter_of_its_batch(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite", max_wait_s=0.05)
    bad = RawCompletion(text=None, finish_reason="stop", prompt_tokens=1, completion_tokens=1, model="m")  # type: ignore[arg-type]

    async def main() -> list[BaseException | None]:
        puts = [cache.put(f"k{i}", "openai", "", _raw(i)) for i in range(5)]
        puts.append(cache.put("bad", "openai", "", bad))  # NOT NULL text: the whole batch's commit fails
        return await asyncio.gather(*puts, return_exceptions=True)

    results = asyncio.run(main())
    try:
        assert all(isinstance(r, OutputWriteError) for r in results), results
        assert "cannot write" in str(results[0])
        assert cache.get("k0") is None  # rolled back: a waiter told "failed" finds nothing half-written
        with pytest.raises(OutputWriteError, match="cannot write"):  # later puts fail fast, loudly
            asyncio.run(cache.put("later", "openai", "", _raw(9)))
    finally:
        cache.close()
