"""The fake clocks: virtual sleeps and timeouts, and the gated clock the client tests use."""

from __future__ import annotations

import asyncio

import pytest

from logflux_agent.clock import SYSTEM_CLOCK, FakeClock
from tests.support.scripted import GatedClock
from tests.support.wait import async_wait_until


async def test_fake_wait_for_returns_what_is_ready_without_time_passing() -> None:
    clock = FakeClock()
    ready = asyncio.Event()
    ready.set()
    assert await clock.wait_for(ready.wait(), 30) is True
    assert clock.monotonic() == 0 and clock.sleeps == []


async def test_fake_wait_for_times_out_in_virtual_time_and_cancels() -> None:
    clock = FakeClock()
    never = asyncio.Event()
    waiter = asyncio.ensure_future(never.wait())
    with pytest.raises(TimeoutError):
        await clock.wait_for(waiter, 3600)
    assert clock.monotonic() == 3600 and clock.sleeps == [3600]
    assert waiter.cancelled()


async def test_system_wait_for_times_out() -> None:
    with pytest.raises(TimeoutError):
        await SYSTEM_CLOCK.wait_for(asyncio.Event().wait(), 0.01)


async def test_system_wait_for_cancels_a_task_it_was_given_on_timeout() -> None:
    waiter = asyncio.ensure_future(asyncio.Event().wait())
    with pytest.raises(TimeoutError):
        await SYSTEM_CLOCK.wait_for(waiter, 0.01)
    assert waiter.cancelled()


async def test_a_cancel_in_the_turn_the_system_wait_ends_is_not_swallowed() -> None:
    # asyncio.wait_for on Python 3.11 returns the result here and the task runs on: an input
    # idle in such a wait for its wake-up event kept running after it was stopped.
    wake = asyncio.Event()
    after_the_wait = asyncio.Event()

    async def idle() -> None:
        await SYSTEM_CLOCK.wait_for(wake.wait(), 3600)
        after_the_wait.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(idle())
    await async_wait_until(lambda: wake._waiters, 5, message="the task to wait")
    wake.set()
    task.cancel()
    await asyncio.wait([task], timeout=10)
    assert task.cancelled(), "the cancellation was swallowed"
    assert not after_the_wait.is_set()


async def test_gated_clock_blocks_only_long_sleeps() -> None:
    clock = GatedClock(gate_at=5)
    await clock.sleep(1)
    task = asyncio.ensure_future(clock.sleep(10))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done() and clock.waiting == 1
    clock.release()
    await task
    assert clock.sleeps == [1, 10] and clock.monotonic() == 11


async def test_fake_wait_for_raises_the_awaitables_own_error() -> None:
    async def broken() -> None:
        await asyncio.sleep(0)
        raise KeyError("inner")

    with pytest.raises(KeyError, match="inner"):
        await FakeClock().wait_for(broken(), 10)


async def test_a_cancelled_fake_wait_for_cancels_the_awaitable_and_leaves_no_task() -> None:
    clock = GatedClock(gate_at=5)  # the timeout's sleep blocks: the wait is still going on
    never = asyncio.Event()
    waiter = asyncio.ensure_future(never.wait())
    outer = asyncio.create_task(clock.wait_for(waiter, 60))
    await async_wait_until(lambda: clock.waiting == 1, 5, message="timeout sleeping")
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert waiter.cancelled()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("clock-wait-for")]
