"""The spool's segment file format: a version header, then length + CRC framed records.

A segment is ``HEADER`` (magic ``LFSPOOL`` + one version byte) followed by records, each
``u32 length | u32 crc32(payload) | payload`` (big-endian). A record's payload is one spooled
request: a JSON head (key id, RSA-wrapped session secret, boundary, part offsets, owners, time)
and the multipart body exactly as it would be POSTed. Nothing in it is plaintext or a raw key.

Recovery (``scan``): records are read until the first one that is short (torn by a crash) or
whose CRC does not match (bit rot, a flipped byte); everything from there on is cut off the
file. A wrong magic or an unknown version is not ours to cut: the caller moves the file aside.

The accepted-record count of a segment lives next to it in ``<name>.acked``: one byte appended
per accepted record, in order, so its size is the number of leading records already delivered.
A torn append only makes that count smaller: the batch is sent again (a bounded duplicate).
"""

from __future__ import annotations

import errno
import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"LFSPOOL"
VERSION = 1
HEADER = MAGIC + bytes([VERSION])
_FRAME = struct.Struct(">II")
_HEAD_LEN = struct.Struct(">I")
# A record above this is never written (the request cap is 10 MiB); a length field above it
# is corruption, not a record to allocate memory for.
MAX_RECORD = 64 * 1024 * 1024
SUFFIX = ".seg"
ACKED = ".acked"


@dataclass(slots=True)
class SpoolItem:
    """One spooled request: its ciphertext body and what is needed to deliver it later."""

    key_id: str
    encrypted_secret: str  # the session key wrapped with the server's RSA key (protocol §3)
    boundary: str
    body: bytes
    offsets: list[int]
    part_sizes: list[int]
    owners: dict[str, int]
    created: float  # wall clock when spooled

    @property
    def parts(self) -> int:
        return len(self.part_sizes)

    def encode(self) -> bytes:
        return self.head() + self.body

    def head(self) -> bytes:
        """The payload's first piece (length-prefixed JSON head); the body follows it as is,
        so a record is written without copying the body (``frame_pieces``)."""
        head = json.dumps(
            {
                "key_id": self.key_id,
                "secret": self.encrypted_secret,
                "boundary": self.boundary,
                "offsets": self.offsets,
                "sizes": self.part_sizes,
                "owners": self.owners,
                "created": self.created,
            },
            separators=(",", ":"),
        ).encode("ascii")
        return _HEAD_LEN.pack(len(head)) + head

    @classmethod
    def decode(cls, payload: bytes) -> SpoolItem:
        (n,) = _HEAD_LEN.unpack_from(payload)
        doc: dict[str, Any] = json.loads(payload[4 : 4 + n])
        return cls(
            key_id=str(doc["key_id"]),
            encrypted_secret=str(doc["secret"]),
            boundary=str(doc["boundary"]),
            body=payload[4 + n :],
            offsets=[int(x) for x in doc["offsets"]],
            part_sizes=[int(x) for x in doc["sizes"]],
            owners={str(k): int(v) for k, v in doc["owners"].items()},
            created=float(doc["created"]),
        )


def frame(payload: bytes) -> bytes:
    """``payload`` as one record: length, CRC, bytes."""
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def frame_pieces(head: bytes, body: bytes) -> list[bytes]:
    """The record of payload ``head + body`` as pieces for one ``writev``: the same bytes as
    ``frame(head + body)``, without joining them (the CRC runs over the pieces in turn)."""
    return [_FRAME.pack(len(head) + len(body), zlib.crc32(body, zlib.crc32(head))), head, body]


FRAME_BYTES = _FRAME.size


def write_all(fd: int, pieces: list[bytes]) -> None:
    """``writev`` of ``pieces``; a short write (rare: a signal, a nearly full disk) goes on
    from where it stopped."""
    done = os.writev(fd, pieces)
    if done < sum(map(len, pieces)):
        rest = memoryview(b"".join(pieces))[done:]
        while rest:
            rest = rest[os.write(fd, rest) :]


@dataclass(slots=True)
class ScanResult:
    """What ``scan`` found: the records' (offset, payload), where valid data ends, and why not
    further (``problem`` is empty when the file ended cleanly)."""

    records: list[tuple[int, bytes]]
    good_end: int
    size: int
    problem: str = ""
    version: int = VERSION

    @property
    def cut_bytes(self) -> int:
        return self.size - self.good_end


class ForeignSegment(Exception):
    """Not a segment this agent can read (wrong magic or unknown version): keep it aside."""


def scan(path: Path) -> ScanResult:
    """Read every intact record of ``path``; raises ForeignSegment for a file to keep aside."""
    data = path.read_bytes()
    if len(data) < len(HEADER):
        if MAGIC.startswith(data[: len(MAGIC)]):  # torn while writing the header: empty
            return ScanResult([], 0, len(data), "torn header" if data else "")
        raise ForeignSegment("no spool header")
    if data[: len(MAGIC)] != MAGIC:
        raise ForeignSegment("no spool header")
    if data[len(MAGIC)] != VERSION:
        raise ForeignSegment(f"format version {data[len(MAGIC)]}, this agent reads {VERSION}")
    records: list[tuple[int, bytes]] = []
    pos = len(HEADER)
    problem = ""
    while pos < len(data):
        if pos + _FRAME.size > len(data):
            problem = "torn record frame"
            break
        length, crc = _FRAME.unpack_from(data, pos)
        start = pos + _FRAME.size
        if length > MAX_RECORD:
            problem = f"record length {length} is not plausible"
            break
        if start + length > len(data):
            problem = "torn record"
            break
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            problem = "CRC mismatch"
            break
        records.append((pos, payload))
        pos = start + length
    return ScanResult(records, pos, len(data), problem)


def cut(path: Path, at: int) -> None:
    """Truncate ``path`` to ``at`` bytes (a torn or corrupt tail) and make that durable."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, at)
        os.fsync(fd)
    finally:
        os.close(fd)


def acked_path(path: Path) -> Path:
    return path.with_name(path.name + ACKED)


def acked_count(path: Path) -> int:
    try:
        return acked_path(path).stat().st_size
    except FileNotFoundError:
        return 0


def grow_acked(path: Path, count: int) -> bool:
    """Grow ``path``'s ``.acked`` to ``count`` bytes; False on a full filesystem (ENOSPC,
    EDQUOT). A short write still counts a prefix: never more than was accepted."""
    try:
        if (missing := count - acked_count(path)) > 0:
            with acked_path(path).open("ab") as fh:
                fh.write(b"\x01" * missing)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        return False
    return True
