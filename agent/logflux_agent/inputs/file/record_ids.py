"""Stable record ids of the file input: ``f:<identity>:<offset>`` (docs/record-ids.md).

An entry's id is where its first byte sits: the file's identity digest and the byte offset of
the start of the entry's first line (a split part: the offset of the part's first byte). The
identity digest is the first 16 hex digits of SHA-256 over ``<input id>\\n<dev>\\n<ino>\\n``
followed by the file's first line (with its newline), or its first ``HEAD_BYTES`` bytes when
that line is longer. Those bytes never change for one file: a restart, a rename rotation and
a re-read give the same id; a reused inode with other content gives another.

An entry flushed at ``partial_line_timeout`` (its line not complete yet) ends where the writer
happened to stop, which a re-read need not repeat: its id also names its end,
``f:<identity>:<start>-<end>``, so a re-read that ships more of the line is not taken for a
replay of it.

Cost: with ids on the framer tracks line end offsets (framing.py); each emitted list carries
its ids as ``IdColumns`` (packed.py: the prefix once, the start offsets as ints), so no id str
is formatted in the agent process on the hot path: the encoder writes the digits into each
entry's JSON (plaintext.py). The identity digest is computed once per file generation (cached
by stream).
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING

from logflux_agent.inputs.framing import Frames
from logflux_agent.packed import IdColumns
from logflux_agent.packed import format_ids as format_ids
from logflux_agent.record import Resumable

if TYPE_CHECKING:
    from logflux_agent.inputs.file.tailer import Tailer

HEAD_BYTES = 1024
_CACHE_MAX = 4096


def identity_digest(input_id: str, dev: int, ino: int, head: bytes) -> str:
    """16 hex digits naming one file generation (see the module doc)."""
    digest = hashlib.sha256(b"%s\n%d\n%d\n" % (input_id.encode(), dev, ino))
    digest.update(head)
    return digest.hexdigest()[:16]


def id_head(data: bytes) -> tuple[bytes, bool]:
    """The bytes of a file's start that its identity covers, and whether they are final
    (a newline or ``HEAD_BYTES`` were seen: later growth cannot change them)."""
    data = data[:HEAD_BYTES]
    nl = data.find(b"\n")
    if nl >= 0:
        return data[: nl + 1], True
    return data, len(data) >= HEAD_BYTES


def line_starts(frames: Frames) -> list[int]:
    """Where each line of ``frames`` starts: after the one before it (``ends`` tracked)."""
    assert frames.ends is not None
    if not frames.lines:
        return []
    return [frames.start, *frames.ends[:-1]]


class FileIds:
    """The record ids of one file input's entries."""

    def __init__(self, input_id: str) -> None:
        self._input = input_id
        self._prefixes: dict[Resumable, str] = {}
        # Multiline: where the first line of each tailer's held entry starts.
        self._held: dict[Tailer, int] = {}

    def prefix(self, tailer: Tailer) -> str:
        """``f:<identity>:`` of the tailer's current generation."""
        stream = tailer.stream
        known = self._prefixes.get(stream)
        if known is not None:
            return known
        head, final = id_head(tailer.fingerprint)
        if not final and tailer.fd is not None:
            with contextlib.suppress(OSError):  # else the fingerprint's bytes, not cached
                head, final = id_head(tailer.head(HEAD_BYTES))
        prefix = f"f:{identity_digest(self._input, tailer.dev, tailer.ino, head)}:"
        if final:
            if len(self._prefixes) >= _CACHE_MAX:
                self._prefixes.clear()
            self._prefixes[stream] = prefix
        return prefix

    def lines(self, tailer: Tailer, frames: Frames, *, cut: bool = False) -> IdColumns:
        """The ids of the lines of ``frames``; ``cut``: its last line was flushed incomplete."""
        return (self.prefix(tailer), line_starts(frames), frames.end if cut else -1)

    def entries(
        self, tailer: Tailer, frames: Frames, held_before: int, entry_ends: list[int]
    ) -> IdColumns:
        """The ids of the multiline entries one push completed (``entry_ends`` their ends).

        Entries are runs of consecutive lines: an entry completed in this push ends at a line
        of it (found by its end offset) or at the last held line of an earlier push; the next
        entry begins at the line after.
        """
        starts = line_starts(frames)
        if not starts:
            return (self.prefix(tailer), [], -1)
        assert frames.ends is not None
        index = {end: i for i, end in enumerate(frames.ends)}
        first = self._held.get(tailer, starts[0]) if held_before else starts[0]
        out: list[int] = []
        for end in entry_ends:
            out.append(first)
            i = index.get(end)
            first = starts[i + 1] if i is not None and i + 1 < len(starts) else starts[0]
        if len(self._held) >= _CACHE_MAX:
            self._held = {t: s for t, s in self._held.items() if not t.dead}
        self._held[tailer] = first  # a push always leaves its last line held
        return (self.prefix(tailer), out, -1)

    def flushed(self, tailer: Tailer, default: int) -> int:
        """Where the held multiline entry, completed by a flush, starts (its id's offset)."""
        return self._held.pop(tailer, default)
