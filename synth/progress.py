"""Progress display: a Rich live panel on a terminal, plain log lines otherwise (CI, pipes, files)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Snapshot:
    job: str
    total: int
    done: int  # this run
    skipped: int  # finished in earlier runs
    quarantined: int
    in_flight: int
    requests: int
    cache_hits: int
    tokens: int
    failures: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def remaining(self) -> int:
        return max(self.total - self.skipped - self.done - self.quarantined, 0)

    def eta_s(self) -> float | None:
        finished = self.done + self.quarantined
        if finished == 0:
            return None
        return self.remaining * self.elapsed / finished

    def line(self) -> str:
        eta = self.eta_s()
        fails = ", ".join(f"{k}={v}" for k, v in sorted(self.failures.items())) or "none"
        return (
            f"[{self.job}] {self.skipped + self.done + self.quarantined}/{self.total} "
            f"(done {self.done}, earlier {self.skipped}, quarantined {self.quarantined}, in flight {self.in_flight}) "
            f"| {self.requests / self.elapsed:.1f} req/s, {self.tokens / self.elapsed:.0f} tok/s, "
            f"cache hits {self.cache_hits} | ETA {'?' if eta is None else f'{eta:.0f}s'} | failures: {fails}"
        )


class Display(Protocol):
    def start(self, snap: Snapshot) -> None: ...
    def update(self, snap: Snapshot) -> None: ...
    def stop(self, snap: Snapshot) -> None: ...


class LogDisplay:
    """One line every `every_s` seconds, and one at the end; for non-terminals."""

    def __init__(self, every_s: float = 10.0, stream=None):  # type: ignore[no-untyped-def]
        self.every_s = every_s
        self.stream = stream or sys.stderr
        self._last = 0.0

    def start(self, snap: Snapshot) -> None:
        print(
            f"[{snap.job}] starting: {snap.total} items, {snap.skipped} finished earlier",
            file=self.stream,
            flush=True,
        )

    def update(self, snap: Snapshot) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            print(snap.line(), file=self.stream, flush=True)

    def stop(self, snap: Snapshot) -> None:
        print(snap.line(), file=self.stream, flush=True)


class RichDisplay:
    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None

    def start(self, snap: Snapshot) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(snap.job, total=snap.total, completed=snap.skipped, stats="")

    def update(self, snap: Snapshot) -> None:
        if self._progress is None or self._task is None:
            return
        fails = " ".join(f"{k}:{v}" for k, v in sorted(snap.failures.items()))
        stats = (
            f"in flight {snap.in_flight} · {snap.requests / snap.elapsed:.1f} req/s · "
            f"{snap.tokens / snap.elapsed:.0f} tok/s · cached {snap.cache_hits} · quarantined {snap.quarantined}"
            + (f" [red]{fails}[/red]" if fails else "")
        )
        self._progress.update(self._task, completed=snap.skipped + snap.done + snap.quarantined, stats=stats)

    def stop(self, snap: Snapshot) -> None:
        self.update(snap)
        if self._progress is not None:
            self._progress.stop()


def make_display(force_plain: bool = False) -> Display:
    if not force_plain and sys.stderr.isatty():
        return RichDisplay()
    return LogDisplay()
