"""What ``logflux-agent audit`` answers, as JSON-able documents (commands/audit.py prints them).

For a file: its identities (the file now at the path, its rotated siblings, and identities the
ledger knows under that path that are gone), each with the byte intervals accepted and how
often (a count of 2+ is a duplicate: sent again after a crash), the gaps and why, and, for one
offset, which deliveries covered it or what the agent still holds (its checkpoint). The
journal's answers are in journal.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from logflux_agent.ledger.filemap import OnDisk, entry_range, line_numbers, lines_between
from logflux_agent.ledger.index import (
    Claim,
    Delivery,
    Ledger,
    Piece,
    Stream,
    coverage,
    holes_in,
    merged,
    split_at,
)
from logflux_agent.ledger.skipped import Skipped, attach, explained, is_binary, subtract


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


def delivery_doc(d: Delivery) -> dict[str, Any]:
    doc: dict[str, Any] = {"accepted_at": iso(d.at), "status": d.status, "run": d.run}
    doc["batch"] = d.seq
    doc["request_ids"] = list(d.request_ids)
    if d.replayed_at is not None:
        doc.update(status="accepted via spool", spooled_at=iso(d.at))
        doc["accepted_at"] = iso(d.replayed_at)
        doc["request_ids"] = list(d.replay_request_ids)
        if d.replay_accepted < d.replay_parts:
            doc["dead_lettered_in_spool"] = d.replay_parts - d.replay_accepted
    elif d.in_spool:
        doc.update(status="in spool", spooled_at=iso(d.at), accepted_at=None)
    if d.key:
        doc["key_id"] = d.key
    if d.dead_lettered:
        doc["dead_lettered_in_batch"] = d.dead_lettered
    return doc


def checkpoints(state_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads((state_dir / "checkpoints.json").read_text(encoding="utf-8"))
        streams = doc["streams"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {str(k): v for k, v in streams.items() if isinstance(v, dict)}


class FileIdentity:
    """One identity of a file: its ledger streams, claims, gaps, starts and checkpoint."""

    def __init__(self, disk: OnDisk | None, streams: list[Stream]) -> None:
        self.disk = disk
        self.streams = streams
        self.claims: list[Claim] = []
        self.gaps: list[tuple[int, int, str]] = []
        self.starts: list[int] = []
        self.checkpoint: int | None = None
        self.unmapped = 0  # partial claims whose bytes cannot be told
        self.dropped = 0  # lines read but not shipped as their own entries
        # Claimed chunks with fewer entries than lines: (start, end, lines not shipped).
        self.thinned: set[tuple[int, int, int]] = set()
        self.dead: list[Skipped] = []  # dead-lettered lines (skipped.py)
        self.filtered: list[Skipped] = []  # runs of lines a filter dropped (skipped.py)
        self.filtered_open = 0  # dropped runs whose end is unknown (the file is gone)
        self.binary = disk is not None and is_binary(disk)
        self.in_spool: list[tuple[int, int, Delivery]] = []  # spooled, not yet replayed

    def skipped(self) -> list[Skipped]:
        """Lines of claimed ranges not accepted: dead-lettered, or dropped by a filter."""
        return sorted([*self.dead, *self.filtered], key=lambda s: (s.start, s.end))

    @property
    def path(self) -> str:
        if self.disk is not None:
            return self.disk.path
        return self.streams[0].path if self.streams else ""

    def describe(self) -> dict[str, Any]:
        s = self.streams[0] if self.streams else None
        doc: dict[str, Any] = {"path": self.path, "on_disk": self.disk is not None}
        if self.disk is not None:
            doc.update(dev=self.disk.dev, ino=self.disk.ino, size=self.disk.size)
        elif s is not None:
            doc.update(dev=s.dev, ino=s.ino)
        if s is not None:
            doc["input"] = s.input
            doc["recorded_path"] = s.path
        if self.checkpoint is not None:
            doc["checkpoint_offset"] = self.checkpoint
        return doc

    def spans(self) -> list[tuple[int, int, Delivery]]:
        """Byte spans accepted, one per delivery (a chunk cut between batches is mapped to
        its lines when the file is on disk; else counted once when all its parts arrived)."""
        self.unmapped = self.dropped = 0
        self.thinned = set()
        self.in_spool = []
        out: list[tuple[int, int, Delivery]] = []
        parts: dict[tuple[int, int, int], list[Claim]] = {}
        for c in self.claims:
            if not isinstance(c.end, int) or not isinstance(c.start, int):
                continue
            if c.delivery.in_spool or c.delivery.spool_dead:
                self.in_spool.append((c.start, c.end, c.delivery))
                continue
            if c.whole:
                out.append((c.start, c.end, c.delivery))
                if self.disk is not None:
                    lines = lines_between(self.disk.path, c.start, c.end)
                    if lines is not None and lines > c.n:
                        self.dropped += lines - c.n
                        self.thinned.add((c.start, c.end, lines - c.n))
                continue
            part = None
            if self.disk is not None:
                part = entry_range(self.disk.path, c.start, c.end, c.n, c.lo, c.hi)
            if part is None:
                parts.setdefault((c.start, c.end, c.n), []).append(c)
            else:
                out.append((part[0], part[1], c.delivery))
        for (start, end, n), group in parts.items():
            # Which bytes each part was is unknown; all parts together are the whole chunk.
            if parts_cover(group, n):
                out.append((start, end, max((c.delivery for c in group), key=lambda d: d.at)))
            else:
                self.unmapped += len(group)
        return out


def parts_cover(group: list[Claim], n: int) -> bool:
    at = 0
    for c in sorted(group, key=lambda c: c.lo):
        if c.lo > at:
            return False
        at = max(at, c.hi)
    return at >= n


def identities(
    path: str, siblings: list[str], ledger: Ledger, state_dir: Path
) -> list[FileIdentity]:
    """The identities of ``path``: now at it, its rotated siblings, and gone ones."""
    found: list[FileIdentity] = []
    disks = [d for p in [path, *siblings] if (d := OnDisk.at(p)) is not None]
    by_stream: dict[Stream, FileIdentity] = {}
    streams = {c.stream for c in ledger.claims} | {g.stream for g in ledger.gaps}
    streams |= {s for s, _, _ in ledger.starts}
    for disk in disks:
        own = [s for s in streams if disk.matches(s)]
        if disk.path != path and not own:
            continue  # a sibling the ledger knows nothing of: not this file's rotation
        ident = FileIdentity(disk, own)
        found.append(ident)
        for s in own:
            by_stream[s] = ident
    gone: dict[tuple[int, int, str], FileIdentity] = {}
    for s in sorted(streams, key=lambda s: (s.dev, s.ino, s.fp_len)):
        if s in by_stream or not _named_like(s.path, path):
            continue
        # One generation: device, inode and the identity of its record ids (an inode reused
        # by another file is another identity; a stream recorded before its first line was
        # complete has no ``rd`` and goes with its inode's).
        key = (s.dev, s.ino, s.rd)
        lost = gone.get(key) or next(
            (g for k, g in gone.items() if k[:2] == key[:2] and not (k[2] and s.rd)), None
        )
        if lost is None:
            lost = FileIdentity(None, [])
            found.append(lost)
        gone[key] = lost
        lost.streams.append(s)
        by_stream[s] = lost
    _distribute(ledger, by_stream)
    _attach_checkpoints(found, checkpoints(state_dir))
    attach(found, ledger, state_dir)
    return found


def _named_like(recorded: str, path: str) -> bool:
    """``recorded`` is ``path`` or a rotated name of it (same directory, name starting with
    its name): the identities the ledger knows under that path that are gone."""
    if recorded == path:
        return True
    head, name = os.path.split(path)
    there, other = os.path.split(recorded)
    return there == head and other.startswith(name)


def _distribute(ledger: Ledger, by_stream: dict[Stream, FileIdentity]) -> None:
    for c in ledger.claims:
        if (owner := by_stream.get(c.stream)) is not None:
            owner.claims.append(c)
    for g in ledger.gaps:
        if (owner := by_stream.get(g.stream)) is not None:
            owner.gaps.append((g.start, g.end, g.reason))
    for s, pos, _ in ledger.starts:
        if (owner := by_stream.get(s)) is not None:
            owner.starts.append(pos)


def _attach_checkpoints(found: list[FileIdentity], saved: dict[str, dict[str, Any]]) -> None:
    for ident in found:
        if ident.disk is None:
            continue
        for state in saved.values():
            as_stream = Stream(
                kind="file",
                dev=int(state.get("dev") or 0),
                ino=int(state.get("ino") or 0),
                fp_len=int(state.get("fingerprint_len") or 0),
                fp=str(state.get("fingerprint_sha256") or ""),
            )
            offset = state.get("offset")
            if ident.disk.matches(as_stream) and isinstance(offset, int):
                ident.checkpoint = offset


def why_not(ident: FileIdentity, offset: int, ledger: Ledger) -> str:
    """Why ``offset`` of ``ident`` has no receipt."""
    for start, end, reason in ident.gaps:
        if start <= offset < end:
            return f"never read: {reason.replace('_', ' ')} (bytes {start}-{end})"
    if ident.binary:
        return "never read: skipped binary (NUL bytes in its first 8192 bytes)"
    spooled = _spool_reason(ident, offset)
    if spooled is not None:
        return spooled
    begun = [p for p in ident.starts if p > offset]
    if begun and not any(isinstance(c.start, int) and c.start <= offset for c in ident.claims):
        return f"never read: the agent began this file at byte {min(begun)}"
    if ident.checkpoint is not None and offset >= ident.checkpoint:
        return (
            f"not yet accepted: the agent's checkpoint for this file is at byte "
            f"{ident.checkpoint}; it holds or will read what follows"
        )
    if ident.checkpoint is None and ident.disk is not None:
        ends = [c.end for c in ident.claims if isinstance(c.end, int)]
        if not ends:
            return "not yet read: the agent has no checkpoint for this file"
        if offset >= max(ends):
            return (
                f"not yet accepted: after the last accepted range (byte {max(ends)}); "
                "the agent has no checkpoint for this file"
            )
    if ledger.lost:
        return "no receipt: the ledger lost some batches (disk full) — see its x records"
    return "no receipt: accepted before the ledger's oldest record, or not by this agent"


def _spool_reason(ident: FileIdentity, offset: int) -> str | None:
    for start, end, d in ident.in_spool:
        if not start <= offset < end:
            continue
        if d.spool_dead and d.replayed_at is not None:
            return (
                f"dead-lettered by the spool's replayer at {iso(d.replayed_at)} (batch "
                f"{d.run}/{d.seq}): the ciphertext is kept in spool/dead/"
            )
        return (
            f"in the spool since {iso(d.at)} (batch {d.run}/{d.seq}), not yet accepted "
            "by the ingestor: the replayer sends it"
        )
    return None


def point(ident: FileIdentity, offset: int, ledger: Ledger) -> dict[str, Any]:
    pieces = coverage(ident.spans())
    hit = next((p for p in pieces if p.start <= offset < p.end), None)
    doc: dict[str, Any] = {"identity": ident.describe(), "offset": offset}
    dead = next((s for s in ident.skipped() if s.start <= offset < s.end), None)
    if dead is not None:
        doc.update(accepted=False, reason=dead.reason, range=[dead.start, dead.end])
        if hit is not None:
            doc["resolved_in"] = [delivery_doc(d) for d in sorted(hit.deliveries, key=_when)]
    elif hit is not None and hit.deliveries:
        doc.update(
            accepted=True,
            times=len(hit.deliveries),
            range=[hit.start, hit.end],
            deliveries=[delivery_doc(d) for d in sorted(hit.deliveries, key=_when)],
        )
    else:
        doc.update(accepted=False, reason=why_not(ident, offset, ledger))
        if ident.unmapped:
            doc["note"] = f"{ident.unmapped} partly accepted range(s) could not be mapped to bytes"
    return doc


def _when(d: Delivery) -> float:
    return d.at


def summary(ident: FileIdentity, ledger: Ledger) -> dict[str, Any]:
    pieces = coverage(ident.spans())
    size = ident.disk.size if ident.disk is not None else max((p.end for p in pieces), default=0)
    if ident.disk is None:
        size = max([size, *(end for _, end, _ in ident.gaps)])
    skipped = ident.skipped()
    holes = subtract(split_at(holes_in(pieces, size), ident.gaps), ident.filtered)
    if ident.disk is not None and ident.filtered:
        ident.thinned = explained(ident.thinned, ident.filtered, ident.disk.path)
        ident.dropped = sum(k for _, _, k in ident.thinned)
    marks = [p.start for p in pieces] + [p.end for p in pieces]
    marks += [a for h in holes for a in h] + [size]
    marks += [a for s in skipped for a in (s.start, s.end)]
    marks += [a for start, end, _ in ident.thinned for a in (start, end)]
    lines = line_numbers(ident.disk.path, marks) if ident.disk is not None else {}

    def span(start: int, end: int) -> dict[str, Any]:
        doc: dict[str, Any] = {"bytes": [start, end]}
        if start in lines and end in lines:
            last = lines[end] - (1 if end > start else 0)
            # ``end`` is where the next line starts: the range's last line is the one before.
            doc["lines"] = [lines[start], max(lines[start], last)]
        return doc

    accepted = subtract(merged([p for p in pieces if p.deliveries]), skipped)
    out: dict[str, Any] = {"identity": ident.describe()}
    out["accepted"] = [span(s, e) for s, e in accepted]
    gaps = [{**span(s, e), "reason": why_not(ident, s, ledger)} for s, e in holes]
    gaps += [_skipped_doc(span(d.start, d.end), d) for d in skipped]
    gaps += [
        {
            **span(start, end),
            "not_shipped": k,
            "reason": f"{k} line(s) of this accepted range not shipped as their own entries: "
            "dropped by a filter without a record id, or joined (multiline, partial lines); "
            "which ones is not recorded",
        }
        for start, end, k in sorted(ident.thinned)
    ]
    out["gaps"] = sorted(gaps, key=lambda g: tuple(g["bytes"]))
    out["duplicates"] = [
        {
            **span(p.start, p.end),
            "times": len(p.deliveries),
            "runs": sorted({d.run for d in p.deliveries}),
        }
        for p in pieces
        if len(p.deliveries) > 1
    ]
    _notes(out, ident, pieces)
    return out


def _skipped_doc(span: dict[str, Any], s: Skipped) -> dict[str, Any]:
    doc = {**span, "reason": s.reason}
    if s.note:
        doc["note"] = s.note
    return doc


def _notes(out: dict[str, Any], ident: FileIdentity, pieces: list[Piece]) -> None:
    if ident.dropped:
        out["not_shipped_lines"] = ident.dropped
        out["not_shipped_note"] = (
            f"{ident.dropped} line(s) inside accepted ranges were not shipped as their own "
            "entries: dropped by processors (filters) or joined (multiline, partial lines)"
        )
    if ident.filtered_open:
        out["dropped_runs_without_end"] = ident.filtered_open
    dead = sorted({d for p in pieces for d in p.deliveries if d.dead_lettered}, key=lambda d: d.at)
    if dead:
        out["dead_lettered_batches"] = [delivery_doc(d) for d in dead]
    if ident.unmapped:
        out["unmapped_partial_ranges"] = ident.unmapped
