"""File identity (device + inode + fingerprint of the first bytes) and its checkpoint stream.

A file is "the same file" when its device and inode are equal *and* the fingerprint recorded
earlier is a prefix of its first ``fingerprint_bytes`` bytes now (as OpenTelemetry's file
consumer does). The prefix rule lets a file shorter than the window keep its identity while it
grows; a reused inode or a file truncated and rewritten has different first bytes and is a new
file. A copy has another inode and is another file.

``FileStream`` is the ``Resumable`` ack stream of one identity: for a committed position it
describes everything needed to resume (path, dev, ino, fingerprint digest, offset, and
``mid_line`` when the offset is inside a line whose head was already shipped), which the
checkpointer (pipeline/checkpointer.py) stores under ``file:{input}:{dev}:{ino}``. A position
is an int offset, or ``"offset:skip"`` / ``"offset:rest"`` for such a mid-line offset (see
``LineFramer.mid_line``). One live stream per key: a stream replaced after truncation or inode
reuse is *retired* by the checkpointer and its late commits are ignored; a stream whose file is
gone is *released* and its entry removed once the last emitted offset is committed.
"""

from __future__ import annotations

import enum
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any

from logflux_agent.inputs.framing import MID_LINE_STATES
from logflux_agent.record import Resumable


class Match(enum.Enum):
    """How a file's first bytes now compare with a fingerprint recorded earlier."""

    SAME = "same"  # recorded fingerprint is a prefix of the head (equal or grown)
    SHORTER = "shorter"  # head is a strict prefix of the recorded one: truncated
    DIFFERENT = "different"  # another file (inode reused) or truncated and rewritten


def compare(recorded: bytes, head: bytes) -> Match:
    if head.startswith(recorded):
        return Match.SAME
    if recorded.startswith(head):
        return Match.SHORTER
    return Match.DIFFERENT


@dataclass(slots=True, frozen=True)
class Fingerprint:
    """A recorded fingerprint as the checkpoint keeps it: its length and a SHA-256 of it.

    No log content is stored; the prefix rule still works because a file's first ``length``
    bytes are hashed and compared. A head shorter than ``length`` can only be told apart as
    "not the same" (``SHORTER``): whether it is a prefix of the recorded bytes is unknown.
    """

    length: int
    digest: str

    @classmethod
    def of(cls, data: bytes) -> Fingerprint:
        return cls(len(data), hashlib.sha256(data).hexdigest())

    def compare(self, head: bytes) -> Match:
        if len(head) < self.length:
            return Match.SHORTER
        if hashlib.sha256(head[: self.length]).hexdigest() == self.digest:
            return Match.SAME
        return Match.DIFFERENT


def read_head(fd: int, size: int) -> bytes:
    """The first ``size`` bytes of an open file (fewer if it is shorter)."""
    return os.pread(fd, size, 0)


def position(offset: int, mid_line: str | None) -> int | str:
    """The ack position of ``offset``: a plain int unless it is inside a shipped line."""
    return offset if mid_line is None else f"{offset}:{mid_line}"


def split_position(position: int | str) -> tuple[int, str | None]:
    if isinstance(position, int):
        return position, None
    offset, _, mid = position.partition(":")
    return int(offset), (mid if mid in MID_LINE_STATES else None)


def stream_key(input_id: str, dev: int, ino: int) -> str:
    return f"file:{input_id}:{dev}:{ino}"


def marker_key(input_id: str) -> str:
    """Key of the "this input has started before" marker."""
    return f"file:{input_id}:started"


@dataclass(slots=True, frozen=True)
class Saved:
    """A checkpoint entry of this input, decoded."""

    key: str
    path: str
    dev: int
    ino: int
    fingerprint: Fingerprint
    offset: int
    mid_line: str | None = None

    @classmethod
    def decode(cls, input_id: str, key: str, state: dict[str, Any]) -> Saved | None:
        """None for entries of other inputs, the marker, or anything malformed."""
        if state.get("input") != input_id or "ino" not in state:
            return None
        try:
            fp_len = int(state.get("fingerprint_len", 0))
            digest = state.get("fingerprint_sha256")
            if isinstance(digest, str):
                fingerprint = Fingerprint(fp_len, digest)
            else:  # written before digests: the first bytes themselves, hex-encoded
                raw = bytes.fromhex(str(state.get("fingerprint", "")))
                fingerprint = Fingerprint.of(raw[: int(state.get("fingerprint_len", len(raw)))])
            return cls(
                key=key,
                path=str(state.get("path", "")),
                dev=int(state["dev"]),
                ino=int(state["ino"]),
                fingerprint=fingerprint,
                offset=max(0, int(state["offset"])),
                mid_line=mid if (mid := state.get("mid_line")) in MID_LINE_STATES else None,
            )
        except (KeyError, TypeError, ValueError):
            return None


class FileStream(Resumable):
    """The ack stream of one file identity: ``state(position)`` is its resumable document."""

    __slots__ = ("_digest", "dev", "fingerprint", "ino", "input_id", "path")

    def __init__(
        self,
        input_id: str,
        path: str,
        dev: int,
        ino: int,
        fingerprint: bytes,
        *,
        committed: int | None = None,
    ) -> None:
        super().__init__(stream_key(input_id, dev, ino), committed)
        self.input_id = input_id
        self.path = path
        self.dev = dev
        self.ino = ino
        self.fingerprint = fingerprint
        self._digest: tuple[bytes | None, str] = (None, "")

    def progress(self, position: int | str) -> int:
        return split_position(position)[0]

    def state(self, position: int | str) -> dict[str, Any]:
        offset, mid_line = split_position(position)
        fp = self.fingerprint
        if self._digest[0] is not fp:
            self._digest = (fp, hashlib.sha256(fp).hexdigest())
        state: dict[str, Any] = {
            "input": self.input_id,
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "fingerprint_sha256": self._digest[1],
            "fingerprint_len": len(fp),
            "offset": offset,
            # Wall time of this knowledge: after a restart, rotated siblings modified later
            # than it that no checkpoint knows are generations the agent never saw.
            "saved_at": round(time.time(), 3),
        }
        if mid_line is not None:
            state["mid_line"] = mid_line
        return state

    @property
    def offset(self) -> int | None:
        """The committed byte offset (None: never opened)."""
        committed = self.committed
        return committed if isinstance(committed, int) else None

    def __repr__(self) -> str:
        return f"FileStream({self.key!r}, committed={self.committed}, final={self.final})"


class StartedMarker(Resumable):
    """The "this input has started before" entry: decides ``start_at``'s default at a start."""

    __slots__ = ("_state",)

    def __init__(self, input_id: str, started: float) -> None:
        super().__init__(marker_key(input_id))
        self._state: dict[str, Any] = {"input": input_id, "started": started}

    def state(self, position: int | str) -> dict[str, Any]:
        return dict(self._state)
