"""The encode job of a packed batch: columns per piece, turned into entries where it is encoded.

A batch of packed ``Lines`` (packed.py) crosses to the encode worker as one tuple of columns per
read chunk (the messages list, then the fields its lines share) instead of one 5-tuple per
entry, so the agent process neither builds nor pickles per-entry objects. A socket's
``Entries`` crosses as its columns (messages, timestamps, levels, attribute dicts shared by
reference, one source) and is zipped into entry tuples here. ``unpack`` runs in
the worker (or the in-process fallback thread) and yields the plain ``EncodeJob`` that
``encode.py`` encodes: entries in batch order, so part *i* is still entry *i* of the batch.
A file input's record ids stay columns (``EncodeJob.id_spans``: prefix and offsets) unless
another piece of the batch has ids as strings; then all of them become strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

from logflux_agent.ingest import runs
from logflux_agent.ingest.encode import EncodeJob, EntryTuple
from logflux_agent.ingest.runs import IdSpan
from logflux_agent.packed import EntriesColumns, LinesColumns, LinesIds

# A piece that was a plain record list: its entry tuples and their record ids (or None).
RowsPiece = tuple[list[EntryTuple], list[str | None] | None]
Piece = LinesColumns | EntriesColumns | RowsPiece


@dataclass(slots=True)
class PackedJob:
    """``job`` without its entries (and record ids), and the pieces that make them."""

    job: EncodeJob
    pieces: list[Piece]

    @property
    def key_id(self) -> str:
        return self.job.key_id

    def unpack(self) -> EncodeJob:
        """``job`` with its entries and record ids filled in from the pieces, in order."""
        entries: list[EntryTuple] = []
        spans: list[IdSpan] = []
        texts: list[tuple[int, Sequence[str] | list[str | None]]] = []  # (first entry, ids)
        for piece in self.pieces:
            at = len(entries)
            ids: LinesIds | Sequence[str] | list[str | None]
            if len(piece) == 6:
                messages, ts, level, source, attributes, ids = piece
                n = len(messages)
                shared = (repeat(ts, n), repeat(level, n), repeat(source, n), repeat(attributes, n))
                entries.extend(zip(messages, *shared, strict=True))
            elif len(piece) == 3:
                (column, stamps, levels, attrs), sources, ids = piece
                n = len(column)
                each = repeat(sources, n) if isinstance(sources, str) else sources
                entries.extend(zip(column, stamps, levels, each, attrs, strict=True))
                if ids is not None:  # strings (a tuple of them is not IdColumns)
                    texts.append((at, ids))
                continue
            else:
                rows, ids = piece
                entries.extend(rows)
            if isinstance(ids, tuple):
                prefix, offsets, end = ids
                spans.append((at, prefix, offsets, end))
            elif ids is not None:
                texts.append((at, ids))
        job = self.job
        job.entries = entries
        job.rids = None
        job.id_spans = spans or None
        if texts:  # ids as strings too (another input): one str (or None) per entry
            rids: list[str | None] = [None] * len(entries)
            for at, ids in texts:
                rids[at : at + len(ids)] = ids
            job.rids = runs.id_strings(spans, len(entries), rids)
            job.id_spans = None
        return job
