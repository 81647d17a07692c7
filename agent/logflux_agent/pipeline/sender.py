"""The sender stage: batches from the batcher, up to ``max_in_flight`` deliveries at once.

Each batch is registered with the ack tracker when it is formed (queue order) and completed
when the ingest client reports every record accepted or dead-lettered; the tracker then commits
positions in order, whatever order the requests finished in. The client retries forever, so a
batch that is not complete when the stage is cancelled simply stays uncommitted and is read
again after a restart (at-least-once).

Order (this stage owns the rule): batches of one input are *sent* in order. A batch is first
prepared (encoded) by the client, then held until the previous batch holding records of the
same input was accepted, then sent. So lines of one source arrive in the order they were read,
even across retries, the next batch's encoding overlaps the previous one's request, and several
inputs still use several requests at once.

Spool (docs/spool.md): a batch holding a spooled input's entries is instead encoded, written to
the disk spool in the same per-input order and resolved there; the spool's replayer sends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import structlog

from logflux_agent.pipeline.acks import AckTracker, Batch
from logflux_agent.pipeline.batcher import Batcher
from logflux_agent.record import Record

log = structlog.get_logger(__name__)


class Prepared(Protocol):
    """A batch the client has encoded; ``send`` returns once every record is accepted or
    dead-lettered (the client retries forever otherwise)."""

    async def send(self) -> object: ...


class Deliverer(Protocol):
    """What the stage needs of the ingest client."""

    async def prepare(self, records: Sequence[Record]) -> Prepared: ...


class SpoolWriter(Protocol):
    """The disk spool's side of the stage (delivery/writer.py): which batches it takes, and
    ``write``, which returns once the batch is durably spooled (waiting while it is full)."""

    def takes(self, owners: dict[str, int]) -> bool: ...

    async def encode(self, records: Sequence[Record], owners: dict[str, int]) -> Any: ...

    async def append(self, encoded: Any) -> None: ...

    async def settle(self) -> None: ...


class SenderStage:
    """Runs until the batcher reports the queue closed and drained, then waits for in-flight."""

    def __init__(
        self,
        batcher: Batcher,
        tracker: AckTracker,
        client: Deliverer,
        max_in_flight: int,
        session_ready: asyncio.Event,
        spool: SpoolWriter | None = None,
    ) -> None:
        self._batcher = batcher
        self._tracker = tracker
        self._client = client
        self._slots = asyncio.Semaphore(max_in_flight)
        self._session_ready = session_ready
        self._spool = spool
        self._in_flight: set[asyncio.Task[None]] = set()
        self._last_of_owner: dict[str, asyncio.Event] = {}
        self.failed: BaseException | None = None

    async def run(self) -> None:
        """Deliveries run in this run's task group: none outlives the stage. A delivery that
        crashes (a bug in the client) ends the stage with that error, as itself."""
        await self._session_ready.wait()
        try:
            async with asyncio.TaskGroup() as group:
                await self._dispatch(group)
        except ExceptionGroup as crashed:
            raise crashed.exceptions[0] from None
        if self._spool is not None:
            await self._spool.settle()  # --wait-delivered: until the spool is drained

    async def _dispatch(self, group: asyncio.TaskGroup) -> None:
        """Start a delivery per batch, at most ``max_in_flight`` at once, until the batcher
        reports the queue closed and drained; the group then waits for those in flight."""
        while True:
            await self._slots.acquire()
            try:
                got = await self._batcher.next_batch()
            except BaseException:
                self._slots.release()
                raise
            if got is None:
                self._slots.release()
                return
            records, owners = got
            batch = self._tracker.open(records, owners)
            before = [self._last_of_owner[o] for o in owners if o in self._last_of_owner]
            done = asyncio.Event()
            for owner in owners:
                self._last_of_owner[owner] = done
            task = group.create_task(
                self._deliver(batch, before, done), name=f"deliver-{batch.seq}"
            )
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _deliver(
        self, batch: Batch, before: list[asyncio.Event], done: asyncio.Event
    ) -> None:
        try:
            if self._spool is not None and self._spool.takes(batch.owners):
                await self._spooled(batch, before, done)
                return
            prepared = await self._client.prepare(batch.records)
            for event in before:  # the previous batches of the same inputs were accepted
                await event.wait()
            report = await prepared.send()
            self._tracker.complete(batch, report)
            done.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the client must not lose track of the batch
            log.exception("sender.deliver_crashed", batch=batch.seq, entries=len(batch.records))
            self.failed = exc
            raise
        finally:
            self._slots.release()

    async def _spooled(
        self, batch: Batch, before: list[asyncio.Event], done: asyncio.Event
    ) -> None:
        """A spooled input's batch is resolved once it is durably in the spool, in order."""
        assert self._spool is not None
        # Encoded now, while the previous batch of the same inputs is still being written.
        items = await self._spool.encode(batch.records, batch.owners)
        for event in before:  # the previous batches of the same inputs are spooled or accepted
            await event.wait()
        await self._spool.append(items)
        self._tracker.complete(batch, status="spooled")
        done.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)
