"""Cut the queue's record lists into batches: max entries, max bytes, or max wait.

A batch closes at whichever comes first: ``max_entries`` records, ``max_bytes`` of estimated
encoded size, or ``flush_interval`` seconds after its first record arrived. The byte estimate is
deliberately pessimistic (plaintext JSON + part headers + GCM tag, no credit for gzip); the
ingest client still checks the real encoded size against the server's limit and splits if needed.
"""

from __future__ import annotations

from collections.abc import Callable

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.pipeline.queue import RecordQueue
from logflux_agent.record import MESSAGE, SOURCE, Record

# Part headers (~230 B) + boundary line + tag + the JSON keys around message/source/ts.
ENTRY_OVERHEAD_BYTES = 420


def estimate_entry_bytes(record: Record) -> int:
    return len(record.message) + len(record.source) + ENTRY_OVERHEAD_BYTES


def _list_cost(records: list[Record]) -> int:
    """``estimate_entry_bytes`` summed over ``records``, with the loop in C."""
    return (
        sum(map(len, map(MESSAGE, records)))
        + sum(map(len, map(SOURCE, records)))
        + ENTRY_OVERHEAD_BYTES * len(records)
    )


class Batcher:
    """Pulls record lists from ``queue`` and returns batches; ``None`` once the queue is done.

    ``limits`` is called for every batch so that server limits learnt at a (re-)handshake apply
    to the next batch without rebuilding the pipeline: it returns (max entries, max bytes).
    """

    def __init__(
        self,
        queue: RecordQueue,
        limits: Callable[[], tuple[int, int]],
        flush_interval: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._queue = queue
        self._limits = limits
        self._flush_interval = flush_interval
        self._clock = clock
        self._carry: tuple[str, list[Record]] | None = None

    async def next_batch(self) -> tuple[list[Record], dict[str, int]] | None:
        max_entries, max_bytes = self._limits()
        batch: list[Record] = []
        owners: dict[str, int] = {}
        size = 0
        deadline = 0.0
        while len(batch) < max_entries and size < max_bytes:
            item = self._carry
            self._carry = None
            if item is None:
                item = self._queue.get_nowait()
            if item is None:
                if not batch:
                    item = await self._queue.get()
                    if item is None:
                        return None
                else:
                    remaining = deadline - self._clock.monotonic()
                    if remaining <= 0 or (self._queue.closed and not len(self._queue)):
                        break
                    if not await self._queue.wait_readable(remaining):
                        if self._queue.closed:
                            break
                        continue
                    continue
            if not batch:
                deadline = self._clock.monotonic() + self._flush_interval
            owner, records = item
            room = max_entries - len(batch)
            head = records if len(records) <= room else records[:room]
            cost = _list_cost(head)
            if size + cost <= max_bytes:
                # The usual case: the chunk, or as much as the batch has room for, fits.
                batch.extend(head)
                size += cost
                owners[owner] = owners.get(owner, 0) + len(head)
                if len(head) < len(records):
                    self._carry = (owner, records[len(head) :])
                continue
            taken = 0
            for record in records:
                if taken >= room:
                    break
                cost = estimate_entry_bytes(record)
                if (batch or taken) and size + cost > max_bytes:
                    break
                size += cost
                taken += 1
            if taken == len(records):
                batch.extend(records)
            else:
                batch.extend(records[:taken])
                self._carry = (owner, records[taken:])
            if taken:
                owners[owner] = owners.get(owner, 0) + taken
            else:
                break
        return batch, owners
