"""Acknowledgements: turn accepted batches into committed positions, in order.

Batches get a sequence number when they are formed (queue order). They may complete out of
order (several requests in flight), but positions are committed only for the longest prefix of
completed batches: a position is committed only once every record read before it, from any
input, was accepted or dead-lettered. That is stricter than per-source contiguity and just as
cheap, and it makes the guarantee easy to state: a checkpoint never runs ahead of the ingestor.

The tracker also counts, per input, the records emitted but not yet resolved; the supervisor
uses that to know when a stopped input's records are all settled (reload) and how many stdin
entries were never delivered (exit status).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from logflux_agent.record import ACK, AckStream, Record


@dataclass(slots=True)
class Batch:
    """Records to send together, with the bookkeeping needed to acknowledge them."""

    seq: int
    records: list[Record]
    owners: dict[str, int]
    done: bool = False
    positions: dict[int, tuple[AckStream, int | str]] = field(default_factory=dict)


class AckTracker:
    """Commits stream positions for the completed prefix of batches; counts unresolved records."""

    def __init__(self) -> None:
        self._next_seq = 0
        self._pending: deque[Batch] = deque()
        self.outstanding: dict[str, int] = {}
        self.resolved: dict[str, int] = {}
        # Set whenever a batch completes, so waiters need not poll.
        self.progress = asyncio.Event()

    def emitted(self, owner: str, count: int) -> None:
        """An input handed ``count`` records to the queue."""
        self.outstanding[owner] = self.outstanding.get(owner, 0) + count

    def discarded(self, owner: str, count: int) -> None:
        """Records that never entered the queue after ``emitted`` (drop_newest, shutdown)."""
        self.outstanding[owner] = self.outstanding.get(owner, 0) - count

    def open(self, records: list[Record], owners: dict[str, int]) -> Batch:
        """Register a new batch, in queue order. Positions are gathered here, once per batch."""
        positions: dict[int, tuple[AckStream, int | str]] = {}
        for token in filter(None, map(ACK, records)):
            positions[id(token.stream)] = (token.stream, token.position)
        batch = Batch(self._next_seq, records, owners, positions=positions)
        self._next_seq += 1
        self._pending.append(batch)
        return batch

    def complete(self, batch: Batch) -> int:
        """Mark ``batch`` resolved; commit positions of the completed prefix. Returns commits."""
        batch.done = True
        for owner, count in batch.owners.items():
            self.outstanding[owner] = self.outstanding.get(owner, 0) - count
            self.resolved[owner] = self.resolved.get(owner, 0) + count
        self.progress.set()
        commits = 0
        pending = self._pending
        while pending and pending[0].done:
            head = pending.popleft()
            for stream, position in head.positions.values():
                stream.commit(position)
                commits += 1
        return commits

    @property
    def pending_batches(self) -> int:
        return len(self._pending)

    def unresolved(self, owner: str) -> int:
        return self.outstanding.get(owner, 0)
