"""Record: one log entry in flight, and the acknowledgement token that travels with it.

This is the hot path's currency: a slotted dataclass, cheap to create. Inputs emit records in
lists (one per read chunk) so that per-line work stays small; see inputs/base.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol


class AckStream(Protocol):
    """One ordered stream of positions (a file identity, a journal, stdin) that can be committed.

    The pipeline calls ``commit`` with the highest position whose predecessors were all accepted
    by the ingestor (or dead-lettered). Positions only ever grow along a stream.
    """

    @property
    def key(self) -> str: ...

    def commit(self, position: int | str) -> None: ...


@dataclass(slots=True)
class AckToken:
    """Which stream, and the position the record ends at (byte offset after the line, or cursor)."""

    stream: AckStream
    position: int | str


@dataclass(slots=True)
class Record:
    """One log entry: the v2 payload fields plus its ack token.

    ``timestamp`` is Unix epoch seconds (float). ``attributes`` is usually shared between all
    records of one input, so it must never be mutated after emission.
    """

    message: str
    timestamp: float
    level: int
    source: str
    attributes: dict[str, str]
    ack: AckToken | None = None

    def size_hint(self) -> int:
        """Approximate bytes this record holds, used for queue byte bounds."""
        return len(self.message) + len(self.source) + 96


# Field getters for map() over record lists: the per-record loop then runs in C.
MESSAGE = attrgetter("message")
SOURCE = attrgetter("source")
ACK = attrgetter("ack")
ENTRY_FIELDS = attrgetter("message", "timestamp", "level", "source", "attributes")
