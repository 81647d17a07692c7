"""Acknowledgements: turn accepted batches into committed positions, in order.

Batches get a sequence number when they are formed (queue order). They may complete out of
order (several requests in flight), but positions are committed only for the longest prefix of
completed batches: a position is handed to the checkpointer (which persists it) only once every
record read before it, from any input, was accepted or dead-lettered. That is stricter than
per-source contiguity and just as cheap, and it makes the guarantee easy to state: a checkpoint
never runs ahead of the ingestor.

The tracker also counts, per input, the records emitted but not yet resolved; the supervisor
uses that to know when a stopped input's records are all settled (reload) and how many stdin
entries were never delivered (exit status).

Freshness: per input, the tracker keeps when each emitted chunk was handed over (a deque of
[time, entries left], in emit order). Records of one input are resolved in the order they were
emitted (the queue is FIFO and the sender keeps each input's batches in order), so resolving
consumes from the front: that gives the read→accepted latency of each chunk and the age of the
oldest unresolved entry. Memory: one small list per unresolved chunk, so bounded by the queue's
``max_entries`` plus the batches in flight.

Receipts (ledger/, docs/audit.md): with a ledger, ``complete`` hands the batch's ranges to it
*before* committing the completed prefix, so the ledger may be ahead of the checkpoint and is
never behind what it claims.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.ledger.receipts import Receipts
from logflux_agent.observe import metrics
from logflux_agent.packed import acks_of
from logflux_agent.record import AckStream, CountingStream, Record

# Where committed positions go: the checkpointer's ``commit`` (pipeline/checkpointer.py).
Commit = Callable[[AckStream, int | str], None]


def count_only(stream: AckStream, position: int | str) -> None:
    """The default ``Commit`` without a checkpointer: tell counting streams, persist nothing."""
    if isinstance(stream, CountingStream):
        stream.commit(position)


@dataclass(slots=True)
class Batch:
    """Records to send together, with the bookkeeping needed to acknowledge them."""

    seq: int
    records: Sequence[Record]
    owners: dict[str, int]
    done: bool = False
    positions: dict[int, tuple[AckStream, int | str]] = field(default_factory=dict)


class AckTracker:
    """Commits stream positions for the completed prefix of batches; counts unresolved records."""

    def __init__(
        self,
        clock: Clock = SYSTEM_CLOCK,
        commit: Commit = count_only,
        receipts: Receipts | None = None,
    ) -> None:
        self._clock = clock
        self._commit = commit
        self.receipts = receipts
        self._chunks: dict[str, deque[list[float]]] = {}
        self._observers: dict[str, Callable[[float], None]] = {}
        self.emitted_total: dict[str, int] = {}
        self.last_accepted_wall = 0.0
        self._next_seq = 0
        self._pending: deque[Batch] = deque()
        self.outstanding: dict[str, int] = {}
        self.resolved: dict[str, int] = {}
        # Set whenever a batch completes, so waiters need not poll.
        self.progress = asyncio.Event()

    def emitted(self, owner: str, count: int) -> None:
        """An input handed ``count`` records to the queue."""
        self.outstanding[owner] = self.outstanding.get(owner, 0) + count
        self.emitted_total[owner] = self.emitted_total.get(owner, 0) + count
        self._chunks.setdefault(owner, deque()).append([self._clock.monotonic(), float(count)])

    def discarded(self, owner: str, count: int) -> None:
        """Records that never entered the queue after ``emitted`` (drop_newest, shutdown)."""
        self.outstanding[owner] = self.outstanding.get(owner, 0) - count
        self.emitted_total[owner] = self.emitted_total.get(owner, 0) - count
        chunks = self._chunks.get(owner)
        # The records just emitted are the newest: take them back from the end.
        while chunks and count > 0:
            take = min(count, int(chunks[-1][1]))
            chunks[-1][1] -= take
            count -= take
            if chunks[-1][1] <= 0:
                chunks.pop()

    def queued(self, owner: str, records: Sequence[Record]) -> None:
        """``records`` of ``owner`` are in the queue now (called right after the put, so in
        queue order): the ledger learns their ranges."""
        if self.receipts is not None:
            self.receipts.emitted(owner, records)

    def open(self, records: Sequence[Record], owners: dict[str, int]) -> Batch:
        """Register a new batch, in queue order. Positions are gathered here, once per batch."""
        positions: dict[int, tuple[AckStream, int | str]] = {}
        for token in acks_of(records):
            positions[id(token.stream)] = (token.stream, token.position)
        batch = Batch(self._next_seq, records, owners, positions=positions)
        self._next_seq += 1
        self._pending.append(batch)
        return batch

    def complete(
        self, batch: Batch, report: object | None = None, *, status: str = "accepted"
    ) -> int:
        """Mark ``batch`` resolved; commit positions of the completed prefix. Returns commits.

        ``report``: the delivery's (request ids, key id, dead-lettered count) for the ledger;
        ``status``: ``spooled`` when the batch went to the disk spool instead.
        """
        if self.receipts is not None:
            self.receipts.completed(batch.seq, batch.owners, report, status)
        batch.done = True
        now = self._clock.monotonic()
        for owner, count in batch.owners.items():
            self.outstanding[owner] = self.outstanding.get(owner, 0) - count
            self.resolved[owner] = self.resolved.get(owner, 0) + count
            self._consume(owner, count, now)
        self.last_accepted_wall = self._clock.wall()
        metrics.LAST_ACCEPTED.set(self.last_accepted_wall)
        self.progress.set()
        commits = 0
        pending = self._pending
        commit = self._commit
        while pending and pending[0].done:
            head = pending.popleft()
            for stream, position in head.positions.values():
                commit(stream, position)
                commits += 1
        return commits

    def _consume(self, owner: str, count: int, now: float) -> None:
        chunks = self._chunks.get(owner)
        observe = self._observers.get(owner)
        if observe is None:
            observe = self._observers[owner] = metrics.READ_TO_ACCEPTED.labels(input=owner).observe
        while chunks and count > 0:
            head = chunks[0]
            take = min(count, int(head[1]))
            head[1] -= take
            count -= take
            if head[1] <= 0:
                chunks.popleft()
                observe(max(0.0, now - head[0]))

    def oldest_unresolved_age(self, owner: str) -> float:
        """Seconds since the oldest unresolved entry of ``owner`` was emitted (0: none)."""
        chunks = self._chunks.get(owner)
        if not chunks:
            return 0.0
        return max(0.0, self._clock.monotonic() - chunks[0][0])

    @property
    def pending_batches(self) -> int:
        return len(self._pending)

    def unresolved(self, owner: str) -> int:
        return self.outstanding.get(owner, 0)
