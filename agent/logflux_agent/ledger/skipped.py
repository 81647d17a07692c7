"""Ranges of a file the agent read and skipped on purpose, for ``audit``: why they are gaps.

* **Skipped binary**: the file input never reads a file with a NUL byte in its first
  ``BINARY_SNIFF_BYTES`` (inputs/file/tailer.py); the audit applies the same rule to the file
  on disk, so what no claim covers is a gap with that reason.
* **Dead-lettered**: entries the ingestor refused for good are in ``dead-letter.jsonl`` (and
  its ``.1``) with their ``record_id`` when the input sets stable ids (docs/record-ids.md): a
  file id ``f:<identity>:<offset>`` names the line at ``offset`` of the file generation whose
  identity digest it carries. Their batch's range was claimed (the ack path moved on), so the
  audit cuts those lines out of the accepted ranges and reports them with the refusal's reason.
  Without ids only the batch's count is known (the ledger's ``dl``).
* **Not shipped as their own entries**: a claimed chunk holding more lines than entries had
  lines dropped by a filter or joined (multiline, partial lines); which lines is not recorded,
  so the audit reports the chunk's bytes and how many.

Memory: the dead-letter files are read line by line; only entries of the identities asked
about are kept (one small tuple each).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from logflux_agent.ingest.deadletter import FILE_NAME as DEAD_LETTER_FILE
from logflux_agent.inputs.file.record_ids import id_head, identity_digest
from logflux_agent.inputs.file.tailer import BINARY_SNIFF_BYTES
from logflux_agent.ledger.filemap import OnDisk

# A dead-lettered line's end is looked for this far past its start (then the range ends there).
_LINE_LOOKAHEAD = 1 << 20


@dataclass(frozen=True, slots=True)
class Skipped:
    """``[start, end)`` of a file, skipped on purpose (``reason``, said to the operator)."""

    start: int
    end: int
    reason: str


def is_binary(disk: OnDisk) -> bool:
    """The file input's rule: a NUL in the first bytes and the file is never read."""
    return b"\0" in disk.head[:BINARY_SNIFF_BYTES]


def id_prefix(disk: OnDisk, input_id: str) -> str:
    """``f:<identity>:`` of ``disk`` as the file input ``input_id`` names its entries."""
    head, _ = id_head(disk.head)
    return f"f:{identity_digest(input_id, disk.dev, disk.ino, head)}:"


def dead_letter_files(state_dir: Path) -> list[Path]:
    """The dead-letter files, oldest first (``.1`` is the rotated one)."""
    base = state_dir / DEAD_LETTER_FILE
    return [p for p in (base.with_name(DEAD_LETTER_FILE + ".1"), base) if p.is_file()]


def dead_lettered(state_dir: Path, prefixes: Iterable[str]) -> dict[str, list[tuple[int, str]]]:
    """prefix → [(offset, reason)] of the dead-lettered entries whose id starts with it."""
    wanted = set(prefixes)
    out: dict[str, list[tuple[int, str]]] = {p: [] for p in wanted}
    if not wanted:
        return out
    for path in dead_letter_files(state_dir):
        try:
            with open(path, "rb") as fh:
                for raw in fh:
                    _one(raw, wanted, out)
        except OSError:
            continue
    return out


def _one(raw: bytes, wanted: set[str], out: dict[str, list[tuple[int, str]]]) -> None:
    if b'"record_id": "f:' not in raw:
        return
    try:
        doc = json.loads(raw)
        rid = str(doc["record_id"])
    except (ValueError, KeyError, TypeError):
        return
    prefix, _, position = rid.rpartition(":")
    prefix += ":"
    if prefix not in wanted:
        return
    start = position.partition("-")[0]
    if not start.isdigit():
        return
    status = doc.get("status")
    why = f"dead-lettered: {doc.get('reason')}" + (f" (HTTP {status})" if status else "")
    error = str(doc.get("error") or "")
    if error:
        why += f": {error[:120]}"
    out[prefix].append((int(start), why))


def line_end(path: str, offset: int) -> int | None:
    """Where the line starting at ``offset`` ends (after its newline, or at the file's end)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(_LINE_LOOKAHEAD)
    except OSError:
        return None
    if not data:
        return None
    nl = data.find(b"\n")
    return offset + (nl + 1 if nl >= 0 else len(data))


def dead_ranges(disk: OnDisk, found: list[tuple[int, str]]) -> list[Skipped]:
    """The byte ranges of the dead-lettered lines of ``disk`` (one per line, in order)."""
    out: dict[int, Skipped] = {}
    for offset, why in found:
        end = line_end(disk.path, offset)
        if end is not None:
            out[offset] = Skipped(offset, end, why)
    return [out[k] for k in sorted(out)]


def subtract(ranges: list[tuple[int, int]], cut: list[Skipped]) -> list[tuple[int, int]]:
    """``ranges`` (sorted, disjoint) without the bytes of ``cut`` (sorted)."""
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        at = start
        for s in cut:
            if s.end <= at or s.start >= end:
                continue
            if s.start > at:
                out.append((at, s.start))
            at = max(at, s.end)
        if at < end:
            out.append((at, end))
    return out
