"""Packed record lists: a read chunk's lines as columns, and a batch as a run of such pieces.

Owns the hot path's representation between the file input and the encode worker (issue #18:
bytes, not lines, through the main process). A file input without processors emits ``Lines``:
the chunk's messages (one list of str, split and decoded by C-level byte scans in framing),
the fields every line of the chunk shares (read time, level, source, attributes), the ack
token of the chunk's end and, with record ids on, the ids. No per-line Python object is built
in the agent process but the message str itself, which the garbage collector does not track:
building a Record tuple per line (tracked, as it holds a dict) was a quarter of the agent
process's CPU at full speed, most of it the collections those tuples triggered.

A file input's ids travel as ``IdColumns``: the generation's prefix once, the entries' start
offsets (ints) and the end of a partial last line; the id strings are written where the
entries are encoded (plaintext.py), or built here on demand for a Record. Formatting a str
per line in the agent process cost ~0.2 µs/line, and a column of str pickles slower than one
of ints. Other inputs may still hand a list of id strings.

``Lines`` is a ``Sequence[Record]``: whatever is off the hot path (processors, dead letters,
tap, the retry paths, tests) indexes, slices or iterates it and gets ordinary Records, built
on demand; only the last line carries the ack token, as with record lists (inputs/base.py).

``Entries`` is the same for a chunk whose entries each carry their own timestamp, level and
attributes (a socket connection's): those are columns too, the attributes a column of shared
dict objects (one per distinct label set, so it pickles as references), the source one str
when the chunk has one. The encode worker zips the columns into entry tuples
(ingest/packed_job.py); the agent process builds no per-entry tuple, and the collector has
nothing per entry to track.

``Run`` is a batch: the pieces (``Lines``, ``Entries`` or record lists) the batcher took, in
queue order, with the same Sequence view. Slicing cuts at piece level without copying lines,
so a batch split by the delivery (server limits, retries) stays packed all the way to the
encoder.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import cast, overload

from logflux_agent.record import ACK, MESSAGE, SOURCE, AckToken, Record, records_for

# Record ids as columns: entry *i*'s id is ``prefix + str(offsets[i])``, and the last entry's
# gets ``-<end>`` after it when ``end`` >= 0 (a partial line: docs/record-ids.md).
IdColumns = tuple[str, list[int], int]
# Record ids of a ``Lines``: columns, one str per line, or None (ids off).
LinesIds = IdColumns | list[str] | None

# (messages, timestamp, level, source, attributes, record ids): what a piece of an encode job
# carries for a ``Lines``, pickled once per piece rather than once per entry.
LinesColumns = tuple[list[str], float, int, str, dict[str, str], LinesIds]
# What an ``Entries`` piece carries: (messages, timestamps, levels, attributes), the source
# (one str, or one per entry) and the record ids. Three items: told apart from the others.
EntriesColumns = tuple[
    tuple[Sequence[str], Sequence[float], Sequence[int], Sequence[dict[str, str]]],
    str | Sequence[str],
    Sequence[str] | None,
]


def _takes_last(n: int, index: slice) -> bool:
    """Whether ``index`` (in order: the ack token stays on the last entry) takes the last of
    ``n`` entries."""
    taken = range(n)[index]
    if taken.step < 0:
        raise ValueError("packed pieces are sliced in order only")
    return bool(taken) and taken[-1] == n - 1


def _position(n: int, index: int) -> int:
    """``index`` of ``n`` entries as a position from the start (IndexError when out of range)."""
    i = index + n if index < 0 else index
    if not 0 <= i < n:
        raise IndexError("packed piece index out of range")
    return i


def format_ids(prefix: str, offsets: list[int]) -> list[str]:
    """``prefix`` + each offset: one format call over all of them, cut at the newlines (the
    per-line work runs in C; about half the cost of a ``map`` of the format per offset)."""
    if not offsets:
        return []
    rids = (f"{prefix.replace('%', '%%')}%d\n" * len(offsets) % tuple(offsets)).split("\n")
    rids.pop()
    return rids


def id_strings(ids: IdColumns) -> list[str]:
    """Every id of ``ids`` as a str."""
    prefix, offsets, end = ids
    rids = format_ids(prefix, offsets)
    if end >= 0 and rids:
        rids[-1] = f"{rids[-1]}-{end}"
    return rids


def id_at(ids: IdColumns, i: int) -> str:
    """Entry ``i``'s id (``i`` in range, not negative)."""
    prefix, offsets, end = ids
    if end >= 0 and i == len(offsets) - 1:
        return f"{prefix}{offsets[i]}-{end}"
    return f"{prefix}{offsets[i]}"


def cut_ids(ids: LinesIds, index: slice, last: bool) -> LinesIds:
    """``ids`` of the lines ``index`` takes; ``last``: it takes the last line."""
    if isinstance(ids, tuple):
        prefix, offsets, end = ids
        return (prefix, offsets[index], end if last else -1)
    return None if ids is None else ids[index]


class Lines(Sequence[Record]):
    """The lines of one read chunk of one stream, sharing every field but the message."""

    __slots__ = ("_text", "ack", "attributes", "ids", "level", "messages", "source", "timestamp")

    def __init__(
        self,
        messages: list[str],
        timestamp: float,
        level: int,
        source: str,
        attributes: dict[str, str],
        ack: AckToken | None = None,
        rids: LinesIds = None,
    ) -> None:
        self.messages = messages
        self.timestamp = timestamp
        self.level = level
        self.source = source
        self.attributes = attributes
        self.ack = ack  # the token of the last line (None: a head cut off a longer chunk)
        self.ids = rids  # IdColumns (file input), one str per line, or None
        self._text = -1  # text_bytes, once computed (the queue and the batcher both ask)

    def __len__(self) -> int:
        return len(self.messages)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> Lines: ...

    def __getitem__(self, index: int | slice) -> Record | Lines:
        n = len(self.messages)
        if isinstance(index, slice):
            last = _takes_last(n, index)
            return Lines(
                self.messages[index],
                self.timestamp,
                self.level,
                self.source,
                self.attributes,
                self.ack if last else None,
                cut_ids(self.ids, index, last),
            )
        i = _position(n, index)
        return Record(
            self.messages[i],
            self.timestamp,
            self.level,
            self.source,
            self.attributes,
            self.ack if i == n - 1 else None,
            self._id(i),
        )

    def _id(self, i: int) -> str | None:
        ids = self.ids
        if isinstance(ids, tuple):
            return id_at(ids, i)
        return None if ids is None else ids[i]

    @property
    def rids(self) -> list[str] | None:
        """One id str per line (built now from columns), or None."""
        ids = self.ids
        return id_strings(ids) if isinstance(ids, tuple) else ids

    @rids.setter
    def rids(self, rids: list[str] | None) -> None:
        self.ids = rids

    def __iter__(self) -> Iterator[Record]:
        records = records_for(
            self.messages, self.timestamp, self.level, self.source, self.attributes, self.rids
        )
        if records and self.ack is not None:
            records[-1] = records[-1].with_ack(self.ack)
        return iter(records)

    def __repr__(self) -> str:  # never the messages: they are log text
        return f"Lines({len(self.messages)} lines of {self.source!r}, ack={self.ack!r})"

    def text_bytes(self) -> int:
        """Characters of message text, summed in C (queue and batch byte bounds)."""
        if self._text < 0:
            self._text = sum(map(len, self.messages))
        return self._text

    def columns(self) -> LinesColumns:
        return (
            self.messages,
            self.timestamp,
            self.level,
            self.source,
            self.attributes,
            self.ids,
        )


class Entries(Sequence[Record]):
    """One read chunk's entries as columns: each its own timestamp, level and attributes."""

    __slots__ = ("_text", "ack", "attributes", "ids", "levels", "messages", "source", "timestamps")

    def __init__(
        self,
        messages: Sequence[str],
        timestamps: Sequence[float],
        levels: Sequence[int],
        source: str | Sequence[str],
        attributes: Sequence[dict[str, str]],
        ids: Sequence[str] | None = None,
        ack: AckToken | None = None,
    ) -> None:
        self.messages = messages
        self.timestamps = timestamps
        self.levels = levels
        self.source = source  # one str for every entry, or one per entry
        self.attributes = attributes
        self.ids = ids
        self.ack = ack  # the token of the last entry
        self._text = -1

    def __len__(self) -> int:
        return len(self.messages)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> Entries: ...

    def __getitem__(self, index: int | slice) -> Record | Entries:
        n = len(self.messages)
        source = self.source
        ids = self.ids
        if isinstance(index, slice):
            last = _takes_last(n, index)
            return Entries(
                self.messages[index],
                self.timestamps[index],
                self.levels[index],
                source if isinstance(source, str) else source[index],
                self.attributes[index],
                None if ids is None else ids[index],
                self.ack if last else None,
            )
        i = _position(n, index)
        return Record(
            self.messages[i],
            self.timestamps[i],
            self.levels[i],
            source if isinstance(source, str) else source[i],
            self.attributes[i],
            self.ack if i == n - 1 else None,
            None if ids is None else ids[i],
        )

    def __iter__(self) -> Iterator[Record]:
        return map(self.__getitem__, range(len(self.messages)))

    def __repr__(self) -> str:  # never the messages: they are log text
        return f"Entries({len(self.messages)} entries, ack={self.ack!r})"

    def text_bytes(self) -> int:
        """Characters of message text, summed in C (queue and batch byte bounds)."""
        if self._text < 0:
            self._text = sum(map(len, self.messages))
        return self._text

    def sources_bytes(self) -> int:
        source = self.source
        if isinstance(source, str):
            return len(source) * len(self.messages)
        return sum(map(len, source))

    def columns(self) -> EntriesColumns:
        fields = (self.messages, self.timestamps, self.levels, self.attributes)
        return (fields, self.source, self.ids)


PACKED = (Lines, Entries)


class Run(Sequence[Record]):
    """A batch: pieces (``Lines`` or record lists) in order, seen as one sequence."""

    __slots__ = ("_len", "pieces")

    def __init__(self, pieces: Sequence[Sequence[Record]] = ()) -> None:
        self.pieces: list[Sequence[Record]] = [p for p in pieces if len(p)]
        self._len = sum(map(len, self.pieces))

    def append(self, piece: Sequence[Record]) -> None:
        if len(piece):
            self.pieces.append(piece)
            self._len += len(piece)

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | Sequence[Record]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step != 1:
                return list(self)[index]
            return self._cut(start, stop)
        i = index + self._len if index < 0 else index
        if not 0 <= i < self._len:
            raise IndexError("Run index out of range")
        for piece in self.pieces:
            if i < len(piece):
                return piece[i]
            i -= len(piece)
        raise IndexError("Run index out of range")  # pragma: no cover - lengths agree

    def _cut(self, start: int, stop: int) -> Run:
        out = Run()
        at = 0
        for piece in self.pieces:
            n = len(piece)
            lo, hi = max(start - at, 0), min(stop - at, n)
            if lo < hi:
                out.append(piece if (lo, hi) == (0, n) else piece[lo:hi])
            at += n
            if at >= stop:
                break
        return out

    def __iter__(self) -> Iterator[Record]:
        return chain.from_iterable(self.pieces)

    def __repr__(self) -> str:
        return f"Run({self._len} records in {len(self.pieces)} pieces)"

    def acks(self) -> Iterator[AckToken]:
        """The ack tokens of the batch, in order, without building a Record per line."""
        for piece in self.pieces:
            if type(piece) in PACKED:
                ack = cast("Lines | Entries", piece).ack
                if ack is not None:
                    yield ack
            else:
                yield from filter(None, map(ACK, piece))

    @property
    def packed(self) -> bool:
        """True when some piece is packed (the encoder then ships columns)."""
        return any(type(p) in PACKED for p in self.pieces)


def text_bytes(records: Sequence[Record]) -> int:
    """Characters of message text of ``records`` (a list, ``Lines`` or ``Run``), loop in C."""
    if type(records) in PACKED:
        return cast("Lines | Entries", records).text_bytes()
    if type(records) is Run:
        return sum(map(text_bytes, records.pieces))
    return sum(map(len, map(MESSAGE, records)))


def sources_bytes(records: Sequence[Record]) -> int:
    """Characters of the ``source`` of every record, loop in C (the batcher's estimate)."""
    if type(records) is Lines:
        return len(records.source) * len(records)
    if type(records) is Entries:
        return records.sources_bytes()
    if type(records) is Run:
        return sum(map(sources_bytes, records.pieces))
    return sum(map(len, map(SOURCE, records)))


def acks_of(records: Sequence[Record]) -> Iterator[AckToken]:
    """The ack tokens carried by ``records``, in order."""
    if type(records) is Run:
        return records.acks()
    if type(records) in PACKED:
        ack = cast("Lines | Entries", records).ack
        return iter(() if ack is None else (ack,))
    return filter(None, map(ACK, records))
