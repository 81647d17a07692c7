"""The encode job of a packed batch: columns per piece, turned into entries where it is encoded.

A batch of packed ``Lines`` (packed.py) crosses to the encode worker as one tuple of columns per
read chunk (the messages list, then the fields its lines share) instead of one 5-tuple per
entry, so the agent process neither builds nor pickles per-entry objects. ``unpack`` runs in
the worker (or the in-process fallback thread) and yields the plain ``EncodeJob`` that
``encode.py`` encodes: entries in batch order, so part *i* is still entry *i* of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

from logflux_agent.ingest.encode import EncodeJob, EntryTuple
from logflux_agent.packed import LinesColumns

# A piece that was a plain record list: its entry tuples and their record ids (or None).
RowsPiece = tuple[list[EntryTuple], list[str | None] | None]
Piece = LinesColumns | RowsPiece


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
        rids: list[str | None] = []
        with_ids = False
        for piece in self.pieces:
            ids: list[str] | list[str | None] | None
            if len(piece) == 6:
                messages, ts, level, source, attributes, ids = piece
                n = len(messages)
                shared = (repeat(ts, n), repeat(level, n), repeat(source, n), repeat(attributes, n))
                entries.extend(zip(messages, *shared, strict=True))
            else:
                rows, ids = piece
                n = len(rows)
                entries.extend(rows)
            if ids is None:
                rids.extend(repeat(None, n))
            else:
                rids.extend(ids)
                with_ids = True
        job = self.job
        job.entries = entries
        job.rids = rids if with_ids else None
        return job
