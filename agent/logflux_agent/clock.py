"""Injectable time source, so timers, backoff and Retry-After can be tested without sleeping.

Production code takes a ``Clock``; tests pass a ``FakeClock`` whose ``sleep`` advances virtual
time instantly and records what was asked for.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time for durations, wall time for timestamps, and an awaitable sleep."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Virtual time: ``sleep`` advances the clock and returns at once; each sleep is recorded."""

    def __init__(self, start_wall: float = 1_800_000_000.0) -> None:
        self._mono = 0.0
        self._wall = start_wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._wall += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


SYSTEM_CLOCK = SystemClock()
