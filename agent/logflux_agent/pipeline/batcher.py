"""Cut the queue's record lists into batches: max entries, max bytes, or max wait.

A batch closes at whichever comes first: ``max_entries`` records, ``max_bytes`` of estimated
encoded size, or ``flush_interval`` seconds after its first record arrived. The byte estimate is
deliberately pessimistic (plaintext JSON + part headers + GCM tag, no credit for gzip); the
ingest client still checks the real encoded size against the server's limit and splits if needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.packed import Run, sources_bytes, text_bytes
from logflux_agent.pipeline.queue import RecordQueue
from logflux_agent.record import Record

# Part headers (~230 B) + boundary line + tag + the JSON keys around message/source/ts.
ENTRY_OVERHEAD_BYTES = 420


def estimate_entry_bytes(record: Record) -> int:
    return len(record.message) + len(record.source) + ENTRY_OVERHEAD_BYTES


def _list_cost(records: Sequence[Record]) -> int:
    """``estimate_entry_bytes`` summed over ``records``, with the loop in C."""
    return text_bytes(records) + sources_bytes(records) + ENTRY_OVERHEAD_BYTES * len(records)


class RequestLimits(Protocol):
    """The server's bounds for one request, as the ingest client learnt them."""

    @property
    def max_batch_entries(self) -> int: ...

    @property
    def max_request_bytes(self) -> int: ...


class LimitsSource(Protocol):
    """Whatever knows the current server limits (the ingest client)."""

    @property
    def limits(self) -> RequestLimits: ...


class Batcher:
    """Pulls record lists from ``queue`` and returns batches; ``None`` once the queue is done.

    A batch holds at most ``max_entries`` records and ``max_bytes`` estimated bytes, each
    lowered further by ``server``'s current limits when given: they are read for every batch,
    so limits learnt at a (re-)handshake apply to the next batch without a rebuild.
    """

    def __init__(
        self,
        queue: RecordQueue,
        flush_interval: float,
        *,
        max_entries: int,
        max_bytes: int,
        server: LimitsSource | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._queue = queue
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._server = server
        self._flush_interval = flush_interval
        self._clock = clock
        self._carry: tuple[str, Sequence[Record]] | None = None

    def limits(self) -> tuple[int, int]:
        """(max entries, max estimated bytes) for the next batch."""
        if self._server is None:
            return self._max_entries, self._max_bytes
        server = self._server.limits
        return (
            min(server.max_batch_entries, self._max_entries),
            min(server.max_request_bytes, self._max_bytes),
        )

    async def next_batch(self) -> tuple[Run, dict[str, int]] | None:
        max_entries, max_bytes = self.limits()
        batch = Run()
        owners: dict[str, int] = {}
        size = 0
        deadline = 0.0
        while len(batch) < max_entries and size < max_bytes:
            item = self._carry or self._queue.get_nowait()
            self._carry = None
            if item is None:
                if batch:
                    if not await self._linger(deadline):
                        break
                    continue
                item = await self._queue.get()
                if item is None:
                    return None
            if not batch:
                deadline = self._clock.monotonic() + self._flush_interval
            owner, records = item
            taken, cost = self._fit(records, max_entries - len(batch), max_bytes - size, batch)
            if taken:
                batch.append(records if taken == len(records) else records[:taken])
                size += cost
                owners[owner] = owners.get(owner, 0) + taken
            if taken < len(records):
                self._carry = (owner, records[taken:])
            if not taken:
                break
        return batch, owners

    async def _linger(self, deadline: float) -> bool:
        """Wait for more records until the flush deadline; False when the batch should close."""
        remaining = deadline - self._clock.monotonic()
        if remaining <= 0 or (self._queue.closed and not len(self._queue)):
            return False
        try:
            readable = await self._clock.wait_for(self._queue.wait_readable(remaining), remaining)
        except TimeoutError:
            readable = False
        return readable or not self._queue.closed

    @staticmethod
    def _fit(records: Sequence[Record], room: int, budget: int, batch: Run) -> tuple[int, int]:
        """How many of ``records`` fit in ``room`` entries and ``budget`` bytes, and their cost.

        The first record of an empty batch is always taken, whatever its size.
        """
        head = records if len(records) <= room else records[:room]
        cost = _list_cost(head)
        if cost <= budget:
            return len(head), cost  # the usual case: the chunk, or as much as fits, whole
        taken = 0
        cost = 0
        for record in head:
            one = estimate_entry_bytes(record)
            if (batch or taken) and cost + one > budget:
                break
            cost += one
            taken += 1
        return taken, cost
