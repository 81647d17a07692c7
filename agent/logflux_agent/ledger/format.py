"""The receipt ledger's file format: a version header, then length + CRC framed JSON records.

A segment (``ledger-<n>.lfl`` in ``state_dir/ledger``) is ``HEADER`` (magic ``LFLEDGR`` + one
version byte) followed by records, each ``u32 length | u32 crc32(payload) | payload``
(big-endian). A payload is one compact JSON object whose ``t`` says what it is (docs/audit.md):

* ``r`` run: an agent start (``run`` id, ``at`` wall time) — the first record of each segment;
* ``s`` stream: ``id`` → what a later record's ``sid`` means within this segment (a file
  identity ``input, path, dev, ino, fp_len, fp`` — the SHA-256 of the first ``fp_len`` bytes,
  never the bytes — and ``rd``, the identity of its record ids, once its first line is
  known; a journal, or a counted stream);
* ``b`` batch: accepted (or dead-lettered, or spooled) at ``at``, its request ids ``rq``, the
  masked key id ``key``, and claims ``c``: ``[sid, start, end, n, lo, hi]`` — entries
  ``[lo, hi)`` of the ``n`` entries read from ``[start, end)`` of that stream;
* ``g`` gap: ``[start, end)`` of a stream known never to be read, with its ``reason``;
* ``p`` start: reading of a stream began at ``at_pos`` (what came before was not read);
* ``d`` dropped: runs ``r: [[start, end], ...]`` of the file whose record-id identity is ``rd``
  that a filter dropped (``why``: "<filter> (<reason>)"; ``end`` null: the line's end);
* ``x`` lost: ``n`` batch records could not be written (disk full) between ``from`` and ``to``.

Recovery (``scan``): records are read until the first one that is short (torn by a crash) or
whose CRC does not match; the writer cuts that tail off (counted), a reader just stops there.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = b"LFLEDGR"
VERSION = 1
HEADER = MAGIC + bytes([VERSION])
SUFFIX = ".lfl"
PREFIX = "ledger-"
DIR_NAME = "ledger"
_FRAME = struct.Struct(">II")
# A ledger record is small (a batch's claims); a length above this is corruption.
MAX_RECORD = 4 * 1024 * 1024


def frame(doc: dict[str, Any]) -> bytes:
    """One record: length, CRC, compact JSON."""
    payload = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def segment_name(number: int) -> str:
    return f"{PREFIX}{number:08d}{SUFFIX}"


def segment_number(path: Path) -> int | None:
    name = path.name
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    digits = name[len(PREFIX) : -len(SUFFIX)]
    return int(digits) if digits.isdigit() else None


def segments(directory: Path) -> list[Path]:
    """The segment files of ``directory``, oldest first."""
    try:
        found = [(n, p) for p in directory.iterdir() if (n := segment_number(p)) is not None]
    except OSError:
        return []
    return [p for _, p in sorted(found)]


@dataclass(slots=True)
class Scan:
    """What a segment holds: its records, where the good part ends, and whether it is ours."""

    records: list[dict[str, Any]] = field(default_factory=list)
    good_end: int = 0
    size: int = 0
    bad_header: bool = False

    @property
    def torn(self) -> bool:
        return not self.bad_header and self.good_end < self.size


def scan(path: Path) -> Scan:
    """Read ``path``'s records up to the first torn or corrupt one."""
    try:
        data = path.read_bytes()
    except OSError:
        return Scan(bad_header=True)
    return scan_bytes(data)


def scan_bytes(data: bytes) -> Scan:
    out = Scan(size=len(data))
    if not data.startswith(HEADER):
        # An empty file is a segment whose header was never written: nothing to keep.
        out.bad_header = len(data) >= len(HEADER) or not HEADER.startswith(data)
        return out
    pos = len(HEADER)
    end = len(data)
    while pos + _FRAME.size <= end:
        length, crc = _FRAME.unpack_from(data, pos)
        start = pos + _FRAME.size
        if length > MAX_RECORD or start + length > end:
            break
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            break
        try:
            doc = json.loads(payload)
        except ValueError:
            break
        if isinstance(doc, dict):
            out.records.append(doc)
        pos = start + length
    out.good_end = pos
    return out
