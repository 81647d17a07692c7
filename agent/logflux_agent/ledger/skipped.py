"""Ranges of a file the agent read and skipped on purpose, for ``audit``: why they are gaps.

* **Skipped binary**: the file input never reads a file with a NUL byte in its first
  ``BINARY_SNIFF_BYTES`` (inputs/file/tailer.py); the audit applies the same rule to the file
  on disk, so what no claim covers is a gap with that reason.
* **Dead-lettered**: entries the ingestor refused for good are in ``dead-letter.jsonl`` (and
  its ``.1``) with their ``record_id`` when the input sets stable ids (docs/record-ids.md): a
  file id ``f:<identity>:<offset>`` names the line at ``offset`` of the file generation whose
  identity digest it carries. Their batch's range was claimed (the ack path moved on), so the
  audit cuts those lines out of the accepted ranges and reports them with the refusal's reason.
  Without ids only the batch's count is known (the ledger's ``dl``). For a file gone from
  disk the identity comes from the ledger's stream definitions (``rd``), and a line's end from
  its id (``<start>-<end>``) or the dead letter's message (its UTF-8 length plus the newline).
* **Dropped by a filter**: the ledger's ``d`` records (ledger/drops.py) name the runs of lines
  a filter dropped by their record-id identity; they are cut out of the accepted ranges too.
* **Not shipped as their own entries**: a claimed chunk holding more lines than entries had
  lines dropped (without record ids: which ones is not recorded) or joined (multiline,
  partial lines); the audit reports the chunk's bytes and how many the ``d`` records do not
  explain.

Memory: the dead-letter files are read line by line; only entries of the identities asked
about are kept (one small tuple each); the ledger's ``d`` runs are held while the audit runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from logflux_agent.ingest.deadletter import FILE_NAME as DEAD_LETTER_FILE
from logflux_agent.inputs.file.record_ids import id_head, identity_digest
from logflux_agent.inputs.file.tailer import BINARY_SNIFF_BYTES
from logflux_agent.ledger.filemap import OnDisk, lines_between
from logflux_agent.ledger.index import Drop, Ledger

if TYPE_CHECKING:
    from logflux_agent.ledger.answers import FileIdentity

# A dead-lettered line's end is looked for this far past its start (then the range ends there).
_LINE_LOOKAHEAD = 1 << 20


@dataclass(frozen=True, slots=True)
class Skipped:
    """``[start, end)`` of a file, skipped on purpose (``reason``, said to the operator)."""

    start: int
    end: int
    reason: str
    note: str = ""  # how the bytes are known, when not from the file on disk


def is_binary(disk: OnDisk) -> bool:
    """The file input's rule: a NUL in the first bytes and the file is never read."""
    return b"\0" in disk.head[:BINARY_SNIFF_BYTES]


def id_prefix(disk: OnDisk, input_id: str) -> str:
    """``f:<identity>:`` of ``disk`` as the file input ``input_id`` names its entries."""
    head, _ = id_head(disk.head)
    return f"f:{identity_digest(input_id, disk.dev, disk.ino, head)}:"


def prefixes(ident: FileIdentity) -> set[str]:
    """The record-id prefixes of an identity: from the file on disk, and as the ledger has them."""
    out = {f"f:{s.rd}:" for s in ident.streams if s.rd}
    if ident.disk is not None:
        out |= {id_prefix(ident.disk, s.input) for s in ident.streams}
    return out


def dead_letter_files(state_dir: Path) -> list[Path]:
    """The dead-letter files, oldest first (``.1`` is the rotated one)."""
    base = state_dir / DEAD_LETTER_FILE
    return [p for p in (base.with_name(DEAD_LETTER_FILE + ".1"), base) if p.is_file()]


# A dead-lettered entry: (start, reason, end from its id or message; None: not known).
Dead = tuple[int, str, int | None]


def dead_lettered(state_dir: Path, wanted_ids: Iterable[str]) -> dict[str, list[Dead]]:
    """prefix → the dead-lettered entries whose id starts with it."""
    wanted = set(wanted_ids)
    out: dict[str, list[Dead]] = {p: [] for p in wanted}
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


def _one(raw: bytes, wanted: set[str], out: dict[str, list[Dead]]) -> None:
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
    start, _, last = position.partition("-")
    if not start.isdigit():
        return
    status = doc.get("status")
    why = f"dead-lettered: {doc.get('reason')}" + (f" (HTTP {status})" if status else "")
    error = str(doc.get("error") or "")
    if error:
        why += f": {error[:120]}"
    out[prefix].append((int(start), why, _end(int(start), last, doc)))


def _end(start: int, last: str, doc: dict[str, object]) -> int | None:
    """Where the entry ended: its id says (a part of a line), else its message's bytes and
    the newline (the line as read, when the message is the line: no parser replaced it)."""
    if last.isdigit():
        return int(last)
    message = doc.get("message")
    if doc.get("truncated") or not isinstance(message, str):
        return None
    return start + len(message.encode("utf-8", "surrogatepass")) + 1


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


GONE_NOTE_DROP = "the file is gone: bytes as the ledger recorded the dropped run"
GONE_NOTE = "the file is gone: bytes from the record id and the dead letter's message length"


def dead_ranges(disk: OnDisk | None, found: list[Dead]) -> list[Skipped]:
    """The byte ranges of the dead-lettered lines (one per line, in order): read from the file
    on disk, else (gone) as the dead letter recorded them."""
    out: dict[int, Skipped] = {}
    for offset, why, recorded in found:
        if disk is not None:
            end = line_end(disk.path, offset)
            if end is not None:
                out[offset] = Skipped(offset, end, why)
        elif recorded is not None and recorded > offset:
            out[offset] = Skipped(offset, recorded, why, GONE_NOTE)
    return [out[k] for k in sorted(out)]


def drop_ranges(disk: OnDisk | None, found: list[Drop]) -> tuple[list[Skipped], int]:
    """The runs a filter dropped, merged (a run re-dropped after a restart is the same run),
    and how many have no known end (the file is gone and the run's end was not recorded)."""
    spans: set[tuple[int, int, str]] = set()
    open_ended = 0
    for d in found:
        end = d.end
        if end is None and disk is not None:
            end = line_end(disk.path, d.start)
        if end is None or end <= d.start:
            open_ended += 1
            continue
        spans.add((d.start, end, d.why))
    out: list[Skipped] = []
    for start, end, why in _own_bytes(sorted(spans)):
        reason = f"dropped by filter: {why}"
        last = out[-1] if out else None
        if last is not None and (start < last.end or (start == last.end and last.reason == reason)):
            reason = last.reason if why in last.reason else f"{last.reason}; {why}"
            out[-1] = Skipped(last.start, max(last.end, end), reason, last.note)
            continue
        out.append(Skipped(start, end, reason, "" if disk is not None else GONE_NOTE_DROP))
    return out, open_ended


def _own_bytes(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Each run without the runs of another filter inside it.

    A later filter sees only the rows an earlier one kept: two of its dropped rows side by
    side in its list may have had rows between them that the earlier filter dropped, so its
    run (to the start of the next row it saw) holds the earlier runs. Those bytes are theirs.
    """
    out: list[tuple[int, int, str]] = []
    for i, (start, end, why) in enumerate(spans):
        inner: list[Skipped] = []
        for other in spans[i + 1 :]:
            if other[0] >= end:
                break
            if other[2] != why and other[1] <= end:
                inner.append(Skipped(*other))
        out.extend((s, e, why) for s, e in subtract([(start, end)], inner))
    return sorted(out)


def attach(found: list[FileIdentity], ledger: Ledger, state_dir: Path) -> None:
    """Dead-lettered lines (dead-letter.jsonl) and lines filters dropped (the ledger's ``d``
    records) of each identity, by their record ids."""
    mine = {prefix: ident for ident in found for prefix in prefixes(ident)}
    for prefix, hits in dead_lettered(state_dir, mine).items():
        ident = mine[prefix]
        if hits:
            ident.dead = sorted([*ident.dead, *dead_ranges(ident.disk, hits)], key=_start)
    runs: dict[int, list[Drop]] = {}
    for prefix, ident in mine.items():
        runs.setdefault(id(ident), []).extend(ledger.drops.get(prefix[2:-1], ()))
    for ident in found:
        if runs.get(id(ident)):
            ident.filtered, ident.filtered_open = drop_ranges(ident.disk, runs[id(ident)])


def _start(s: Skipped) -> int:
    return s.start


def explained(
    thinned: set[tuple[int, int, int]], filtered: list[Skipped], path: str
) -> set[tuple[int, int, int]]:
    """``thinned`` chunks (start, end, lines not shipped) less the lines ``filtered`` says a
    filter dropped inside them: what is left was joined, or dropped without a record id."""
    out: set[tuple[int, int, int]] = set()
    for start, end, k in thinned:
        for s in filtered:
            if s.end <= start or s.start >= end:
                continue
            k -= lines_between(path, max(start, s.start), min(end, s.end)) or 0
        if k > 0:
            out.add((start, end, k))
    return out


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
