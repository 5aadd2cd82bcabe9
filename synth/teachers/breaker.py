"""A circuit breaker per teacher: a teacher that keeps failing on transport pauses instead of failing every item.

Without it a server that goes down mid-run turns each remaining item into a quarantine entry, one timeout or
refused connection after another. With it, after `failures` transport failures in a row (each one a request
that already used up its own retries) the teacher is *open*: new requests wait instead of being sent, and the
teacher is probed with exponential backoff — by the backend's `check` (for an HTTP server, `GET /models`), or,
for a backend without one, by letting a single request through. The first probe that succeeds closes it and the
waiting requests go. If the teacher is still down after `give_up_after_s`, every waiting request raises
TeacherUnavailable, which stops the run (finished items are kept; the next run resumes).

This is not a second retry loop: a request that failed is never sent again from here. The breaker only decides
when the next requests may be sent at all. Any answer that is not a transport fault (a completion, a 4xx, a
refusal) is proof that the teacher is reachable and closes the breaker — unless that request was sent before the
breaker last opened: a server going down may still finish what it had, which says nothing about it now.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from synth.teachers.errors import TeacherError, TeacherUnavailable, is_transient


class BreakerConfig(BaseModel):
    """When a teacher pauses, how it is probed, and how long before the run gives up on it."""

    model_config = ConfigDict(extra="forbid")

    failures: int = Field(
        default=5, ge=0, description="transport failures in a row that pause the teacher (0: never pause)"
    )
    probe_initial_s: float = Field(default=1.0, gt=0, description="wait before the first probe")
    probe_max_s: float = Field(default=30.0, gt=0, description="longest wait between two probes")
    give_up_after_s: float = Field(
        default=600.0, gt=0, description="stop the run if the teacher is still down after this long"
    )


Probe = Callable[[], Awaitable[str | None]]  # None: reachable; otherwise the reason it is not


class CircuitBreaker:
    """Closed (requests go), open (requests wait, a probe runs) or trial (one request goes as the probe)."""

    def __init__(
        self,
        teacher: str,
        location: str,
        cfg: BreakerConfig,
        probe: Probe | None,
        *,
        label: str | None = None,
    ):
        self.teacher = teacher
        self.label = (
            label or f"teacher '{teacher}'"
        )  # what the messages name: a teacher, or one endpoint of it
        self.location = location
        self.cfg = cfg
        self._probe = probe
        self.consecutive = 0
        self.pauses = 0
        self.last_reason = ""
        self._state = "closed"
        self._trial_taken = False
        self._trial_result: asyncio.Future[str | None] | None = None
        self._gave_up: TeacherUnavailable | None = None
        self._changed: asyncio.Event | None = None  # set (and replaced) at every change; made in the loop
        self._prober: asyncio.Task[None] | None = None
        # Bumped at every opening. An answer to a request admitted before the latest opening is stale: the
        # server may have finished it while going down, so it proves nothing about the server now.
        self.epoch = 0

    @property
    def is_open(self) -> bool:
        return self._state != "closed"

    def _wake_all(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def admit(self) -> int:
        """Return (the epoch) when a request may be sent; raise TeacherUnavailable once the breaker has given up."""
        while True:
            if self._gave_up is not None:
                # A fresh error per waiter: one instance raised in many tasks would pile up their tracebacks.
                raise TeacherUnavailable(self.teacher, self.location, self._gave_up.reason)
            if self._state == "closed":
                return self.epoch
            if self._state == "trial" and not self._trial_taken:
                self._trial_taken = True
                return self.epoch
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def succeeded(self, epoch: int | None = None) -> None:
        """The teacher answered (anything but a transport fault): it is reachable.

        `epoch`: what `admit` returned for that request; an answer admitted before the latest opening does not
        close an open breaker (None: always counts)."""
        if epoch is not None and epoch < self.epoch and self._state != "closed":
            return
        self.consecutive = 0
        if self._trial_result is not None and not self._trial_result.done():
            self._trial_result.set_result(None)
        elif self._state != "closed":
            self._close()

    def failed(self, error: TeacherError, epoch: int | None = None) -> None:
        if not is_transient(error):
            self.succeeded(epoch)
            return
        self.consecutive += 1
        self.last_reason = str(error)
        if epoch is not None and epoch < self.epoch and self._state != "closed":
            return  # sent before the latest opening: it is no trial's outcome
        if self._trial_result is not None and not self._trial_result.done():
            self._trial_result.set_result(self.last_reason)
        elif self._state == "closed" and self.cfg.failures and self.consecutive >= self.cfg.failures:
            self._open()

    def trip(self, reason: str) -> None:
        """Open now, without waiting for failures: a check found the server unreachable before it was used."""
        self.last_reason = reason
        if self._state == "closed":
            self._open()

    # -- transitions ----------------------------------------------------------------------------------------
    def _open(self) -> None:
        self._state = "open"
        self.pauses += 1
        self.epoch += 1
        how = "probing it" if self._probe is not None else "trying one request at a time"
        why = (
            f"after {self.consecutive} transport failures in a row (last: {self.last_reason[:200]})"
            if self.consecutive
            else f"({self.last_reason[:200]})"  # tripped by a check, before any request
        )
        print(f"{self.label} paused {why}; {how} at {self.location}", file=sys.stderr)
        if self._prober is not None and not self._prober.done():
            self._prober.cancel()  # one left sleeping by a close that came from a request's answer
        self._prober = asyncio.get_running_loop().create_task(self._probe_until_closed())

    def _close(self) -> None:
        was_open = self._state != "closed"
        self._state = "closed"
        self.consecutive = 0
        if was_open:
            print(f"{self.label} reachable again; resuming", file=sys.stderr)
        self._wake_all()

    async def _probe_until_closed(self) -> None:
        delay = self.cfg.probe_initial_s
        deadline = time.monotonic() + self.cfg.give_up_after_s
        while self._state != "closed":
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
            if self._state == "closed":  # a request's answer closed it meanwhile
                return
            reason = await (self._probe() if self._probe is not None else self._trial())
            if reason is None:
                self._close()
                return
            self.last_reason = reason
            if time.monotonic() >= deadline:
                self._gave_up = TeacherUnavailable(
                    self.teacher,
                    self.location,
                    f"still failing after {self.cfg.give_up_after_s:g} s ({reason})",
                )
                self._wake_all()
                return
            delay = min(delay * 2, self.cfg.probe_max_s)

    async def _trial(self) -> str | None:
        """Let one waiting request through and report how it went (it waits for a request to come along)."""
        self._trial_result = asyncio.get_running_loop().create_future()
        self._trial_taken = False
        self._state = "trial"
        self._wake_all()  # every waiter looks again; the first takes the trial, the others wait on
        try:
            return await self._trial_result
        finally:
            self._trial_result = None
            if self._state == "trial":
                self._state = "open"

    async def aclose(self) -> None:
        if self._prober is not None and not self._prober.done():
            self._prober.cancel()
            await asyncio.gather(self._prober, return_exceptions=True)
