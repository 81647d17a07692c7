"""Files on disk as the audit needs them: identities, line numbers, entries → byte ranges.

The ledger keeps byte offsets, never log text; line numbers come from reading the file when
the audit runs (newlines counted in 1 MiB reads, memory bounded by the offsets asked about).
An identity matches a ledger stream when device and inode are equal and the SHA-256 of the
file's first ``fp_len`` bytes is the recorded one (the file input's own rule).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from logflux_agent.ledger.index import Stream

_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class OnDisk:
    """A file as found now: where, which identity, how big, its first bytes."""

    path: str
    dev: int
    ino: int
    size: int
    head: bytes

    @classmethod
    def at(cls, path: str, head_bytes: int = 65536) -> OnDisk | None:
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                head = fh.read(head_bytes)
        except OSError:
            return None
        return cls(path, st.st_dev, st.st_ino, st.st_size, head)

    def matches(self, stream: Stream) -> bool:
        if stream.kind != "file" or (stream.dev, stream.ino) != (self.dev, self.ino):
            return False
        if len(self.head) < stream.fp_len:
            return False
        return hashlib.sha256(self.head[: stream.fp_len]).hexdigest() == stream.fp


def line_numbers(path: str, offsets: list[int]) -> dict[int, int]:
    """Offset → 1-based number of the line holding it (newlines before it, plus one)."""
    wanted = sorted(set(offsets))
    out: dict[int, int] = {}
    if not wanted:
        return out
    newlines = 0
    pos = 0
    i = 0
    try:
        with open(path, "rb") as fh:
            while i < len(wanted):
                chunk = fh.read(_READ)
                end = pos + len(chunk)
                while i < len(wanted) and (wanted[i] <= end or not chunk):
                    cut = max(0, min(len(chunk), wanted[i] - pos))
                    out[wanted[i]] = newlines + chunk.count(b"\n", 0, cut) + 1
                    i += 1
                if not chunk:
                    break
                newlines += chunk.count(b"\n")
                pos = end
    except OSError:
        pass
    return out


def line_offset(path: str, line: int) -> int | None:
    """Byte offset where 1-based ``line`` starts; None past the end (or unreadable)."""
    if line < 1:
        return None
    if line == 1:
        return 0
    need = line - 1
    pos = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_READ):
                count = chunk.count(b"\n")
                if count < need:
                    need -= count
                    pos += len(chunk)
                    continue
                at = -1
                for _ in range(need):
                    at = chunk.index(b"\n", at + 1)
                start = pos + at + 1
                return start if start < pos + len(chunk) or fh.read(1) else None
    except OSError:
        return None
    return None


def entry_range(
    path: str, start: int, end: int, n: int, lo: int, hi: int
) -> tuple[int, int] | None:
    """Bytes of entries ``[lo, hi)`` when the ``n`` entries of ``[start, end)`` are its lines.

    None when the range does not hold exactly ``n`` lines (processors dropped or joined some,
    a long line was split): then which bytes those entries were cannot be told.
    """
    data = _read_range(path, start, end)
    if data is None:
        return None
    ends = [i + 1 for i in _newlines(data)]
    if data and not data.endswith(b"\n"):
        ends.append(len(data))  # a last line shipped without its newline (partial timeout)
    if len(ends) != n:
        return None
    first = 0 if lo == 0 else ends[lo - 1]
    return start + first, start + ends[hi - 1]


def _newlines(data: bytes) -> list[int]:
    out: list[int] = []
    at = data.find(b"\n")
    while at >= 0:
        out.append(at)
        at = data.find(b"\n", at + 1)
    return out


def lines_between(path: str, start: int, end: int) -> int | None:
    """Lines that end inside ``[start, end)`` (a last unterminated line counts), or None."""
    data = _read_range(path, start, end)
    if data is None:
        return None
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _read_range(path: str, start: int, end: int) -> bytes | None:
    """The bytes ``[start, end)`` of ``path``; None when unreadable or no longer that long."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start)
    except OSError:
        return None
    return data if len(data) == end - start else None
