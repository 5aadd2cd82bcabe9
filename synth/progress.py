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
    """For non-terminals (CI, pipes, files): a line at each tenth of the job finished, a heartbeat line every
    `every_s` seconds while nothing finishes (so a stalled run still shows its in-flight count and failures), and
    one at the end. A log then reads as the job's progress, not as a clock."""

    def __init__(self, every_s: float = 30.0, stream=None, steps: int = 10):  # type: ignore[no-untyped-def]
        self.every_s = every_s
        self.stream = stream or sys.stderr
        self.steps = steps
        self._last = time.monotonic()
        self._last_step = 0
        self._last_line = ""

    def _print(self, line: str) -> None:
        self._last_line = line
        print(line, file=self.stream, flush=True)

    def start(self, snap: Snapshot) -> None:
        # One display serves every job of a run: each job starts its own count.
        self._last, self._last_step = time.monotonic(), 0
        print(
            f"[{snap.job}] starting: {snap.total} items, {snap.skipped} finished earlier",
            file=self.stream,
            flush=True,
        )

    def update(self, snap: Snapshot) -> None:
        now = time.monotonic()
        todo = snap.total - snap.skipped
        step = (snap.done + snap.quarantined) * self.steps // todo if todo > 0 else 0
        if step > self._last_step or now - self._last >= self.every_s:
            self._last, self._last_step = now, max(step, self._last_step)
            self._print(snap.line())

    def stop(self, snap: Snapshot) -> None:
        line = snap.line()
        # The last tenth already printed the final counts; the rates in it may differ by a hair, not the counts.
        if line.split(" | ")[0] != self._last_line.split(" | ")[0]:
            self._print(line)


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
