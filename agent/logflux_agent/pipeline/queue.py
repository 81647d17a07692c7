"""A bounded FIFO of record lists, bounded by entries AND bytes: the backpressure point.

Inputs ``await put(records)``; it blocks while the queue is over either bound (an input with
``on_full: drop_newest`` uses ``offer`` and drops instead). A single list larger than the whole
bound is still admitted when the queue is empty, so an oversized chunk can never deadlock.
The consumer takes lists with ``get`` and sees ``None`` once the queue is closed and drained.
A timed wait (``wait_readable``) goes through the ``Clock``, so flush timing is testable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.observe import metrics
from logflux_agent.packed import text_bytes
from logflux_agent.record import Record

# What a queued record costs beyond its message text: the Record, its token, the str header.
RECORD_OVERHEAD_BYTES = 200


def records_size(records: Sequence[Record]) -> int:
    """Bytes a list of records accounts for against ``max_bytes`` (close to its real RSS cost;
    a packed ``Lines`` costs less per line, so the bound stays true for it)."""
    return text_bytes(records) + RECORD_OVERHEAD_BYTES * len(records)


class RecordQueue:
    """Bounded by ``max_entries`` and ``max_bytes``, whichever is reached first."""

    def __init__(self, max_entries: int, max_bytes: int, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: deque[tuple[str, Sequence[Record], int]] = deque()
        self.entries = 0
        self.bytes = 0
        self._closed = False
        self._clock = clock
        self._space = asyncio.Event()
        self._not_empty = asyncio.Event()
        metrics.QUEUE_CAPACITY_ENTRIES.set(max_entries)
        metrics.QUEUE_CAPACITY_BYTES.set(max_bytes)

    def _fits(self, n: int, size: int) -> bool:
        if self.entries == 0:
            return True
        return self.entries + n <= self.max_entries and self.bytes + size <= self.max_bytes

    def _append(self, owner: str, records: Sequence[Record], size: int) -> None:
        self._items.append((owner, records, size))
        self.entries += len(records)
        self.bytes += size
        self._not_empty.set()
        self._update_gauges()

    def _update_gauges(self) -> None:
        metrics.QUEUE_ENTRIES.set(self.entries)
        metrics.QUEUE_BYTES.set(self.bytes)

    async def put(self, owner: str, records: Sequence[Record]) -> None:
        """Enqueue ``records`` from input ``owner``, waiting while the queue is full.

        Raises RuntimeError once the queue is closed.
        """
        if not records:
            return
        size = records_size(records)
        while not self._closed and not self._fits(len(records), size):
            self._space.clear()
            await self._space.wait()
        if self._closed:
            raise RuntimeError("queue closed")
        self._append(owner, records, size)

    def offer(self, owner: str, records: Sequence[Record]) -> bool:
        """Enqueue without waiting; False (nothing enqueued) when it does not fit."""
        size = records_size(records)
        if self._closed or not self._fits(len(records), size):
            return False
        self._append(owner, records, size)
        return True

    async def get(self) -> tuple[str, Sequence[Record]] | None:
        """The oldest list, waiting for one; None when closed and empty."""
        while not self._items:
            if self._closed:
                return None
            self._not_empty.clear()
            await self._not_empty.wait()
        return self._pop()

    async def wait_readable(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for an item (or close); True when ``get_nowait`` has one."""
        if not self._items and not self._closed:
            self._not_empty.clear()
            with contextlib.suppress(TimeoutError):
                await self._clock.wait_for(self._not_empty.wait(), timeout)
        return bool(self._items)

    def get_nowait(self) -> tuple[str, Sequence[Record]] | None:
        """The oldest list if one is waiting, else None (never waits)."""
        if not self._items:
            return None
        return self._pop()

    def _pop(self) -> tuple[str, Sequence[Record]]:
        owner, records, size = self._items.popleft()
        self.entries -= len(records)
        self.bytes -= size
        self._update_gauges()
        self._space.set()
        return owner, records

    def close(self) -> None:
        """No more puts; ``get`` returns what is left, then None."""
        self._closed = True
        self._not_empty.set()
        self._space.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return self.entries
