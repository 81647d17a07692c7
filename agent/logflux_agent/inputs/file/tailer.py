"""One followed file: its descriptor, read offset, fingerprint, framing state and ack stream.

The tailer owns the file operations on one identity (open by path and check it is still that
identity, positional reads, the head used for the fingerprint and binary detection, where "end"
is) and the per-file state the input schedules. It never awaits and never touches metrics or
the checkpoint store; the input (input.py) decides when to read and what to emit.
"""

from __future__ import annotations

import os
import stat

from logflux_agent.inputs.file.identity import FileStream, Fingerprint
from logflux_agent.inputs.framing import LineFramer
from logflux_agent.inputs.multiline import Multiline

# A file whose first bytes contain a NUL is treated as binary and skipped.
BINARY_SNIFF_BYTES = 8192
# How far back from the end to look for the last newline when starting "at the end".
END_LOOKBACK_BYTES = 65536

_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK


class IdentityChanged(Exception):
    """The path now names another file (or not a regular file) than the one expected."""


class Tailer:
    """State of one file identity being followed."""

    __slots__ = (
        "after",
        "at_eof",
        "binary",
        "copy_check",
        "dead",
        "dev",
        "emitted_end",
        "expect_fp",
        "fd",
        "fingerprint",
        "first_open",
        "framer",
        "head_len",
        "ino",
        "known_size",
        "last_active",
        "last_data",
        "last_size",
        "multiline",
        "offset",
        "parked_for",
        "path",
        "queued",
        "rotated_at",
        "scan_size",
        "shrinks",
        "source",
        "start_if_new",
        "stream",
        "successor",
    )

    def __init__(
        self,
        *,
        source: str,
        dev: int,
        ino: int,
        stream: FileStream,
        framer: LineFramer,
        multiline: Multiline | None,
        offset: int,
        expect_fp: Fingerprint | None,
        start_if_new: str,
        scan_size: int,
        now: float,
    ) -> None:
        self.source = source
        self.path: str | None = source
        self.dev = dev
        self.ino = ino
        self.fd: int | None = None
        self.stream = stream
        self.framer = framer
        self.multiline = multiline
        # Bytes of the file consumed into the framer (== framer.consumed after the first open).
        self.offset = offset
        # Offset of the last record handed to emit with a token (what a release waits for).
        self.emitted_end = offset
        self.fingerprint = b""
        self.head_len = 0
        # From a checkpoint: the fingerprint to verify at the first open, else None.
        self.expect_fp = expect_fp
        self.start_if_new = start_if_new
        self.scan_size = scan_size
        self.first_open = True
        self.binary = False
        self.queued = False
        self.at_eof = False
        self.dead = False
        self.last_data = now
        self.last_active = now
        self.rotated_at: float | None = None
        # Rotation order: a new file at a path waits until its predecessor reached its end once.
        self.after: Tailer | None = None
        self.successor: Tailer | None = None
        # Copytruncate (rotation.py): the largest size seen of this generation; whether this
        # new file may still turn out to be a copy of another; the file it is a copy of.
        self.known_size = self.last_size = scan_size
        self.shrinks = 0  # size drops seen on change events since the last restart
        self.copy_check = False
        self.parked_for: Tailer | None = None

    def __repr__(self) -> str:
        return (
            f"Tailer({self.source!r}, ino={self.ino}, offset={self.offset}, "
            f"open={self.fd is not None}, rotated={self.rotated_at is not None})"
        )

    # ---- file operations -----------------------------------------------------------------

    def open(self) -> os.stat_result:
        """Open ``path``; raise IdentityChanged if it is no longer this file, OSError if unusable.

        O_NONBLOCK keeps a FIFO swapped in under the path from blocking the event loop.
        """
        assert self.path is not None and self.fd is None
        fd = os.open(self.path, _OPEN_FLAGS)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (self.dev, self.ino):
                raise IdentityChanged(self.path)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return st

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def read(self, size: int) -> bytes:
        assert self.fd is not None
        data = os.pread(self.fd, size, self.offset)
        self.offset += len(data)
        return data

    def size(self) -> int:
        assert self.fd is not None
        return os.fstat(self.fd).st_size

    def head(self, size: int) -> bytes:
        assert self.fd is not None
        return os.pread(self.fd, size, 0)

    def refresh_head(self, fingerprint_bytes: int) -> bool:
        """Re-read the first bytes while the file is shorter than the windows; True if binary."""
        want = max(fingerprint_bytes, BINARY_SNIFF_BYTES)
        if self.head_len >= want:
            return False
        head = self.head(want)
        self.head_len = len(head)
        self.fingerprint = head[:fingerprint_bytes]
        self.stream.fingerprint = self.fingerprint
        return b"\0" in head[:BINARY_SNIFF_BYTES]

    def end_position(self, size: int) -> int:
        """Where "start at the end" begins: after the last complete line within ``size``."""
        if size <= 0:
            return 0
        assert self.fd is not None
        back = min(size, END_LOOKBACK_BYTES)
        tail = os.pread(self.fd, back, size - back)
        nl = tail.rfind(b"\n")
        if nl >= 0:
            return size - back + nl + 1
        # No newline at all: the file is one line still being written; take it whole.
        return 0 if back == size else size

    def restart_at(self, offset: int) -> None:
        """Continue from ``offset`` with fresh framing state (truncation, new file)."""
        self.offset = offset
        self.emitted_end = offset
        self.known_size = offset
        self.shrinks = 0
        self.framer.reset(offset)
        if self.multiline is not None:
            self.multiline.reset()
        self.at_eof = False

    # ---- what it holds -------------------------------------------------------------------

    def holding(self) -> bool:
        """Bytes or lines held back: a partial line or an incomplete multiline entry."""
        return self.framer.pending > 0 or (self.multiline is not None and self.multiline.held > 0)
