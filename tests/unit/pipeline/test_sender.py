"""pipeline/sender.py's task group: no delivery outlives the stage, a crash ends it as itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.pipeline.batcher import Batcher
from logflux_agent.pipeline.queue import RecordQueue
from logflux_agent.pipeline.sender import SenderStage
from logflux_agent.record import Record
from tests.support.wait import async_wait_until


def recs(n: int) -> list[Record]:
    return [Record("x", 0.0, 7, "src", {}) for _ in range(n)]


class Prepared:
    """A prepared batch whose ``send`` is the client's."""

    def __init__(self, client: ScriptedClient) -> None:
        self._client = client

    async def send(self) -> object:
        await self._client.send()
        return None


class ScriptedClient:
    """The first request of ``crash_owner`` raises (a bug in the client); others block."""

    def __init__(self) -> None:
        self.blocked: list[asyncio.Event] = []
        self.cancelled = 0
        self.crash_next = False

    async def prepare(self, records: Sequence[Record]) -> Prepared:
        return Prepared(self)

    async def send(self) -> None:
        if self.crash_next:
            raise ValueError("client bug")
        gate = asyncio.Event()
        self.blocked.append(gate)
        try:
            await gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def deliveries() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("deliver-")]


async def stage_with(client: ScriptedClient, batches: int) -> tuple[SenderStage, RecordQueue]:
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    for i in range(batches):
        await q.put(f"in{i}", recs(1))
    ready = asyncio.Event()
    ready.set()
    return SenderStage(
        Batcher(q, 60, max_entries=1, max_bytes=10**9), AckTracker(), client, 4, ready
    ), q


async def test_cancelling_the_stage_cancels_every_delivery_in_flight() -> None:
    client = ScriptedClient()
    stage, _q = await stage_with(client, 3)
    task = asyncio.create_task(stage.run())
    await async_wait_until(lambda: len(client.blocked) == 3, 5, message="3 in flight")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.cancelled == 3 and deliveries() == [] and stage.in_flight == 0


async def test_a_crashing_delivery_ends_the_stage_with_its_own_error() -> None:
    client = ScriptedClient()
    stage, q = await stage_with(client, 2)
    task = asyncio.create_task(stage.run())
    await async_wait_until(lambda: len(client.blocked) == 2, 5, message="2 in flight")
    client.crash_next = True
    await q.put("crashing", recs(1))
    with pytest.raises(ValueError, match="client bug"):
        await asyncio.wait_for(task, 5)
    # The other deliveries went with the stage, none left behind.
    assert client.cancelled == 2 and deliveries() == []
    assert isinstance(stage.failed, ValueError)
