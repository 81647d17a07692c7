"""Wait on a condition with a timeout, instead of sleeping and hoping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(
    cond: Callable[[], object],
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
) -> None:
    """Poll ``cond`` until truthy; AssertionError naming ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {_text(message)}")
        time.sleep(interval)


async def async_wait_until(
    cond: Callable[[], object],
    timeout: float = 30.0,
    interval: float = 0.01,
    message: str | Callable[[], str] = "condition",
) -> None:
    """The asyncio form of ``wait_until``."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {_text(message)}")
        await asyncio.sleep(interval)


def _text(message: str | Callable[[], str]) -> str:
    # A callable message is rendered at the timeout, so it can say what was seen by then.
    return message if isinstance(message, str) else message()
