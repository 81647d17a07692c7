"""Record: one log entry in flight, and the acknowledgement token that travels with it.

This is the hot path's currency: an immutable named tuple, so a chunk's records are built by
``records_for`` in one C-level pass (a dataclass ``__init__`` per line cost ~1 µs at full
speed). Inputs emit records in lists (one per read chunk) so that per-line work stays small;
see inputs/base.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any, NamedTuple, Protocol, cast, runtime_checkable


@runtime_checkable
class AckStream(Protocol):
    """One ordered stream of positions (a file identity, a journal, stdin, a socket).

    The pipeline hands the checkpointer (pipeline/checkpointer.py) the highest position of each
    stream whose predecessors were all accepted by the ingestor (or dead-lettered). Positions
    only ever grow along a stream.
    """

    @property
    def key(self) -> str: ...


@runtime_checkable
class CountingStream(AckStream, Protocol):
    """A stream with nothing to resume whose owner only counts what was accepted (sockets)."""

    def commit(self, position: int | str) -> None: ...


class Resumable:
    """A stream whose positions the checkpointer persists: its store key and resume state.

    Pure data for the ack path: ``state(position)`` is the document to persist for a position
    (identity + position), computed without side effects. ``committed``, ``final`` and
    ``retired`` are kept by the checkpointer; the input that made the stream only reads them
    (a rotated file is closed once its stream is retired). ``durable = False`` streams (stdin)
    are counted the same way and never written.
    """

    __slots__ = ("committed", "final", "key", "retired")
    durable = True

    def __init__(self, key: str, committed: int | str | None = None) -> None:
        self.key = key
        # The highest position known committed (the resumed or starting one at first).
        self.committed = committed
        # Set when the stream's source is gone: the position after the last record emitted.
        self.final: int | None = None
        self.retired = False

    def progress(self, position: int | str) -> int | str:
        """What ``committed`` becomes when ``position`` is committed (file: the byte offset)."""
        return position

    def state(self, position: int | str) -> dict[str, Any]:
        """The JSON-able document that resumes the stream after ``position``."""
        return {"position": position}


@dataclass(slots=True)
class AckToken:
    """Which stream, and the position the record ends at (byte offset after the line, or cursor)."""

    stream: AckStream
    position: int | str


class Record(NamedTuple):
    """One log entry: the v2 payload fields plus its ack token and stable record id.

    ``timestamp`` is Unix epoch seconds (float). ``attributes`` is usually shared between all
    records of one input, so it must never be mutated after emission. ``rid`` is the entry's
    stable record id (docs/record-ids.md): derived from where the entry came from, so a line
    re-read after a crash gets the same one; the encoder sends it as ``meta.record_id``. None:
    no id (the feature is off, or the input has no stable position).
    """

    message: str
    timestamp: float
    level: int
    source: str
    attributes: dict[str, str]
    ack: AckToken | None = None
    rid: str | None = None

    def size_hint(self) -> int:
        """Approximate bytes this record holds, used for queue byte bounds."""
        return len(self.message) + len(self.source) + 96

    def with_ack(self, token: AckToken) -> Record:
        return self._replace(ack=token)


_new_tuple = tuple.__new__


def records_for(
    messages: Iterable[str],
    timestamp: float,
    level: int,
    source: str,
    attributes: dict[str, str],
    rids: Iterable[str | None] | None = None,
) -> list[Record]:
    """One record per message, sharing the other fields; built without per-line Python code.

    ``rids``: one record id per message (same length), or None for none.
    """
    fields = zip(
        messages,
        repeat(timestamp),
        repeat(level),
        repeat(source),
        repeat(attributes),
        repeat(None),
        repeat(None) if rids is None else rids,
    )
    return cast("list[Record]", list(map(_new_tuple, repeat(Record), fields)))


# Field getters for map() over record lists: the per-record loop then runs in C.
MESSAGE = attrgetter("message")
SOURCE = attrgetter("source")
ACK = attrgetter("ack")
RID = attrgetter("rid")
ENTRY_FIELDS = attrgetter("message", "timestamp", "level", "source", "attributes")


class SearchTokens(str):
    """An entry's comma-joined search tokens (processing/tokens.py), carried in its attributes
    under ``TOKENS_KEY``; the encoder sends them as the ``X-LF-Search-Tokens`` part header and
    never inside the payload. Only this type counts: a parsed field named like the key is a
    plain str and stays an attribute."""

    __slots__ = ()


TOKENS_KEY = "\x00search_tokens"
