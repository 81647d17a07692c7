"""Injectable time source, so timers, backoff and Retry-After can be tested without sleeping.

Production code takes a ``Clock``; tests pass a ``FakeClock`` whose ``sleep`` advances virtual
time instantly and records what was asked for. ``wait_for`` (a wait with a timeout) goes through
the clock too, so a timeout under a ``FakeClock`` is virtual as well.
"""

from __future__ import annotations

import asyncio
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
        # Not asyncio.wait_for: on Python 3.11 it returns the result, swallowing the
        # cancellation, when the awaitable completes in the same loop turn the waiting task is
        # cancelled. An input idle in a wait for its wake-up event then ran on after a stop.
        async with asyncio.timeout(max(0.0, timeout)):
            return await awaitable


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
        timed_out = False
        # Both tasks live in this call's task group: neither outlives the wait (a cancelled
        # wait cancels the awaitable too, like asyncio.wait_for).
        async with asyncio.TaskGroup() as group:
            task = group.create_task(_outcome(awaitable), name="clock-wait-for")
            await asyncio.sleep(0)
            if not task.done():
                sleeper = group.create_task(self.sleep(timeout), name="clock-wait-for-sleep")
                await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
                if not task.done():
                    timed_out = True
                    task.cancel()
        if timed_out:
            raise TimeoutError
        value, error = task.result()  # the awaitable cancelled by someone else: CancelledError
        if error is not None:
            raise error
        return value  # type: ignore[return-value]


async def _outcome(awaitable: Awaitable[T]) -> tuple[T | None, Exception | None]:
    """(result, None) or (None, error): the error leaves the wait as itself, not as a group."""
    try:
        return await awaitable, None
    except Exception as exc:
        return None, exc


SYSTEM_CLOCK = SystemClock()
