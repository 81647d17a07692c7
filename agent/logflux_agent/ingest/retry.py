"""Waiting policy: exponential backoff with full jitter, Retry-After parsing, the shared gate.

All waiting goes through the injected ``Clock`` so tests advance virtual time instead of
sleeping. The ``PauseGate`` is shared by every sender of one client: a 429 or a 507 closes it
until a given time, and every sender waits at it before its next request.
"""

from __future__ import annotations

import email.utils
import random

from logflux_agent.clock import Clock

DEFAULT_RETRY_AFTER = 60.0
MAX_RETRY_AFTER = 3600.0  # a broken server must not park the agent for days
STORAGE_PROBE_MIN = 60.0
STORAGE_PROBE_MAX = 300.0


# Seeding a Random per delivery cost more than the delivery's own retry bookkeeping.
_SHARED_RNG = random.Random()


class Backoff:
    """``delay(n) = U[0, min(initial * factor^n, max)]`` (full jitter), n = failed attempts."""

    def __init__(
        self, initial: float, maximum: float, factor: float, rng: random.Random | None = None
    ) -> None:
        self.initial = initial if initial > 0 else 1.0
        self.maximum = max(maximum, self.initial)
        self.factor = factor if factor > 1 else 2.0
        self.attempt = 0
        self._rng = rng or _SHARED_RNG

    def cap(self, attempt: int) -> float:
        # min() before pow overflow: the exponent is bounded by the cap anyway
        if attempt > 64:
            return self.maximum
        return min(self.initial * self.factor**attempt, self.maximum)

    def next_delay(self) -> float:
        delay = self._rng.uniform(0.0, self.cap(self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


def parse_retry_after(header: str | None, body: object, now_wall: float) -> float:
    """Seconds to wait for a 429: header integer seconds, or HTTP-date, or ``error.retry_after``
    in the error envelope; 60 s when none is usable. Clamped to [0, 1 h]."""
    seconds: float | None = None
    if header is not None:
        text = header.strip()
        if text.isdigit():
            seconds = float(int(text))
        elif text:
            try:
                when = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None and when.tzinfo is not None:
                seconds = when.timestamp() - now_wall
    if seconds is None and isinstance(body, dict):
        err = body.get("error")
        value = err.get("retry_after") if isinstance(err, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            seconds = float(value)
    if seconds is None:
        seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class PauseGate:
    """Closed until a monotonic deadline; every sender awaits ``wait`` before a request."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until = 0.0
        self.reason = ""

    def pause_until(self, deadline: float, reason: str) -> None:
        if deadline > self._until:
            self._until = deadline
            self.reason = reason

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock.monotonic())

    async def wait(self) -> None:
        while True:
            left = self._until - self._clock.monotonic()
            if left <= 0:
                return
            await self._clock.sleep(left)
