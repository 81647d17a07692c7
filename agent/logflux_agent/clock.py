"""Injectable time source, so timers, backoff and Retry-After can be tested without sleeping.

Production code takes a ``Clock``; tests pass a ``FakeClock`` whose ``sleep`` advances virtual
time instantly and records what was asked for. ``wait_for`` (a wait with a timeout) goes through
the clock too, so a timeout under a ``FakeClock`` is virtual as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Monotonic time for durations, wall time for timestamps, and an awaitable sleep."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        """``awaitable``'s result, or TimeoutError (it is cancelled) after ``timeout`` s."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        return await asyncio.wait_for(awaitable, max(0.0, timeout))


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

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        """What is ready at once wins; otherwise the timeout passes as one ``sleep``.

        ``awaitable`` runs until it blocks; if it is not done by then, ``sleep(timeout)``
        advances virtual time. A subclass may make that sleep block (``GatedClock``): then
        ``awaitable`` finishing first ends the wait at once, without time passing. Whatever
        is still not done when the sleep ends is cancelled and TimeoutError raised.
        """
        task = asyncio.ensure_future(awaitable)
        await asyncio.sleep(0)
        if not task.done():
            sleeper = asyncio.ensure_future(self.sleep(timeout))
            try:
                await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:  # like asyncio.wait_for: the awaitable goes too
                task.cancel()
                sleeper.cancel()
                raise
            if not sleeper.done():
                sleeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sleeper
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise TimeoutError


SYSTEM_CLOCK = SystemClock()
