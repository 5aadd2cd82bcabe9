"""A pool of endpoints behind one `openai` teacher: one vLLM server per GPU, one teacher in the config.

Each request goes to the endpoint with the fewest requests outstanding (ties: the one sent fewest so far, so a
pool at low load still takes turns). Each endpoint has its own circuit breaker (synth/teachers/breaker.py): after
`failures` transport failures in a row it is taken out and probed back with `GET /models`, on the teacher's
probe timings, for as long as the run lasts — giving up is the teacher-level breaker's decision, and that one
only sees a request fail once every endpoint it could go to has failed it (see `OpenAIBackend._with_retries`).

A pool never changes what is asked: the request-cache key (synth/teachers/cache.py) is backend kind + model +
request + tag, so which endpoint answered is not part of it; an answer from any endpoint is reused by all.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from synth.teachers.breaker import BreakerConfig, CircuitBreaker
from synth.teachers.errors import TeacherError

UrlCheck = Callable[[str], Awaitable[str | None]]  # a base URL -> None if reachable, else why not


@dataclass
class Endpoint:
    """One server of the pool and what it has been sent."""

    base_url: str
    breaker: CircuitBreaker
    chat_url: str = ""
    outstanding: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    client: Any = field(default=None, repr=False)  # the SDK transport's AsyncOpenAI for this endpoint

    def __post_init__(self) -> None:
        self.chat_url = self.base_url.rstrip("/") + "/chat/completions"

    @property
    def is_in(self) -> bool:
        return not self.breaker.is_open

    def begin(self) -> int:
        """An attempt goes to this endpoint; returns the breaker epoch it was sent in."""
        self.outstanding += 1
        self.sent += 1
        return self.breaker.epoch

    def end(self, error: TeacherError | None, epoch: int) -> None:
        self.outstanding -= 1
        if error is None:
            self.ok += 1
            self.breaker.succeeded(epoch)
        else:
            self.failed += 1
            self.breaker.failed(error, epoch)  # a non-transport answer (a 4xx) counts as reachable


class EndpointPool:
    """The endpoints of one teacher, least-outstanding first, each taken out and probed back on its own."""

    def __init__(self, base_urls: list[str], model: str, breaker: BreakerConfig, check_url: UrlCheck):
        # An endpoint never gives up by itself: the teacher-level breaker bounds how long a run waits.
        cfg = breaker.model_copy(update={"give_up_after_s": float("inf")})
        self._check_url = check_url
        self.endpoints = [
            Endpoint(url, CircuitBreaker(model, url, cfg, self._prober(url), label=f"endpoint {url}"))
            for url in base_urls
        ]

    def _prober(self, url: str) -> Callable[[], Awaitable[str | None]]:
        async def probe() -> str | None:
            return await self._check_url(url)

        return probe

    @property
    def location(self) -> str:
        urls = [e.base_url for e in self.endpoints]
        return urls[0] if len(urls) == 1 else f"pool of {len(urls)} ({', '.join(urls)})"

    def pick(self, tried: set[str]) -> Endpoint | None:
        """The endpoint for the next attempt: an in one not tried yet by this request, else any in one, else None
        (every endpoint is out)."""
        best: Endpoint | None = None
        fallback: Endpoint | None = None
        for e in self.endpoints:
            if not e.is_in:
                continue
            rank = (e.outstanding, e.sent)
            if e.base_url not in tried and (best is None or rank < (best.outstanding, best.sent)):
                best = e
            if fallback is None or rank < (fallback.outstanding, fallback.sent):
                fallback = e
        return best or fallback

    def untried_in(self, tried: set[str]) -> bool:
        """Whether an endpoint that is in has not been tried by this request yet (failover is possible)."""
        return any(e.is_in and e.base_url not in tried for e in self.endpoints)

    def out_reasons(self) -> str:
        return "; ".join(
            f"{e.base_url}: {e.breaker.last_reason or 'out'}" for e in self.endpoints if not e.is_in
        )

    async def check(self) -> str | None:
        """Check every endpoint: None if at least one is reachable (the unreachable ones are taken out, named on
        stderr, and probed back), else the reason of each."""
        import asyncio

        reasons = await asyncio.gather(*(self._check_url(e.base_url) for e in self.endpoints))
        down = [(e, r) for e, r in zip(self.endpoints, reasons, strict=True) if r is not None]
        for e, r in zip(self.endpoints, reasons, strict=True):
            if r is None:
                e.breaker.succeeded()  # reachable: back in if it was out
        if len(down) == len(self.endpoints):
            if len(down) == 1:
                return down[0][1]
            return "no endpoint reachable: " + "; ".join(f"{e.base_url}: {r}" for e, r in down)
        if down:
            names = "; ".join(f"{e.base_url} ({r})" for e, r in down)
            print(
                f"teacher endpoints unreachable, taken out and probed back: {names}; "
                f"going on with {len(self.endpoints) - len(down)} of {len(self.endpoints)}",
                file=sys.stderr,
            )
            for e, r in down:
                e.breaker.trip(r)
        return None

    def stats(self) -> list[dict[str, Any]]:
        """Per endpoint: attempts sent, answered, failed, outstanding now, and whether it is in."""
        return [
            {
                "base_url": e.base_url,
                "sent": e.sent,
                "ok": e.ok,
                "failed": e.failed,
                "outstanding": e.outstanding,
                "in": e.is_in,
                "pauses": e.breaker.pauses,
            }
            for e in self.endpoints
        ]

    async def aclose(self) -> None:
        for e in self.endpoints:
            await e.breaker.aclose()
