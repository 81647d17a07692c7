"""Lines a filter dropped, by their record ids: the ledger's ``d`` records (docs/audit.md).

A filter (processing/filter.py) hands the rows it drops to ``Drops.note`` through the hook of
processing/rows.py (``DROP_SINKS``, registered per ``state_dir`` by ``open_receipts``). With
``record_ids: true`` a file row's id ``f:<identity>:<offset>`` says where the entry starts;
a run of consecutive dropped rows ends where the next row of the list starts (same identity),
or at the ack token of its last row when that token is of the same file (the position after
its line), or else is left open (``audit`` finds the line's end in the file). Rows without a
file id (the feature off, other inputs) are not recorded: the audit then reports their chunk
with a count, as before.

Cost: nothing unless a filter drops. When one does, the work is per *run* of dropped rows,
not per row (one id parsed at each end; in the usual list, all of them in one C-level pass:
``_plain``), and runs are buffered: they are written as ``d``
records (one per identity and reason) just before the next batch record, or when the buffer
holds ``MAX_PENDING`` runs, or at the checkpoint flush. Drops always precede (in queue order)
the kept entries whose batch commits their position, so on disk a ``d`` record comes before
the claim that covers it. Memory: at most ``MAX_PENDING`` runs plus ``_DIGESTS_MAX`` digests.
"""

from __future__ import annotations

from itertools import compress
from operator import gt, ne, not_
from typing import TYPE_CHECKING, cast

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.inputs.file.record_ids import id_head, identity_digest
from logflux_agent.record import AckToken

if TYPE_CHECKING:
    from logflux_agent.ledger.writer import LedgerWriter
    from logflux_agent.processing.rows import Rows

MAX_PENDING = 4096
_PER_RECORD = 2048  # runs per ``d`` record: far below the record size limit
_DIGESTS_MAX = 4096
_ID_LEN = 19  # len("f:") + 16 hex digits + ":"


def stream_digest(stream: object, cache: dict[int, tuple[object, str | None]]) -> str | None:
    """The record-id identity of a file stream (``f:<this>:``), None when not yet final.

    From the stream's own fields (input, device, inode, first bytes), as the file input
    derives it (inputs/file/record_ids.py); a short first line still growing has none yet.
    """
    known = cache.get(id(stream))
    if known is not None and known[0] is stream:
        return known[1]
    fingerprint = getattr(stream, "fingerprint", None)
    input_id = getattr(stream, "input_id", None)
    if not isinstance(fingerprint, bytes) or not isinstance(input_id, str):
        return None
    head, final = id_head(fingerprint)
    if not final:
        return None
    dev, ino = getattr(stream, "dev", None), getattr(stream, "ino", None)
    if not isinstance(dev, int) or not isinstance(ino, int):
        return None
    digest = identity_digest(input_id, dev, ino, head)
    if len(cache) >= _DIGESTS_MAX:
        cache.clear()
    cache[id(stream)] = (stream, digest)
    return digest


def _start(rid: str | None) -> tuple[str, int, int | None] | None:
    """(identity, start, end or None) of a file record id; None for any other id."""
    if rid is None or rid[_ID_LEN - 1 : _ID_LEN] != ":" or not rid.startswith("f:"):
        return None
    tail = rid[_ID_LEN:]
    try:
        return rid[2 : _ID_LEN - 1], int(tail), None  # the usual id: a line's start
    except ValueError:
        first, _, last = tail.partition("-")
        if not first.isdigit():
            return None
        return rid[2 : _ID_LEN - 1], int(first), int(last) if last.isdigit() else None


def _position(token: AckToken | None) -> int | None:
    """A file token's byte offset ("123:skip" → 123)."""
    if token is None:
        return None
    position = token.position
    if isinstance(position, str):
        head = position.partition(":")[0]
        return int(head) if head.isdigit() else None
    return position


class Drops:
    """Buffers the dropped runs and writes them to the ledger."""

    def __init__(self, writer: LedgerWriter, clock: Clock = SYSTEM_CLOCK) -> None:
        self.writer = writer
        self._clock = clock
        # (identity digest, reason) → runs [start, end] in the order dropped.
        self.pending: dict[tuple[str, str], list[list[int | None]]] = {}
        self.count = 0
        self.digests: dict[int, tuple[object, str | None]] = {}

    def note(self, rows: Rows, keep: list[bool], why: str) -> None:
        """Rows whose ``keep`` flag is false were dropped by filter ``why`` (before ``keep``)."""
        n = len(keep)
        if not n:
            return
        # Where the flags change, found in C: the runs are between these bounds.
        drop = list(map(not_, keep))
        bounds = [0, *compress(range(1, n), map(ne, drop[1:], drop[:-1])), n]
        k0 = 0 if drop[0] else 1
        firsts, stops = bounds[k0:-1:2], bounds[k0 + 1 :: 2]
        last = (firsts.pop(), stops.pop()) if stops and stops[-1] == n else None
        if firsts and not self._plain(rows.rid, firsts, stops, why):
            for first, stop in zip(firsts, stops, strict=True):
                self._run(rows, first, stop, why)
        if last is not None:
            self._run(rows, *last, why)
        if self.count >= MAX_PENDING:
            self.flush()

    def _plain(self, rids: list[str | None], firsts: list[int], stops: list[int], why: str) -> bool:
        """The usual list: every run starts at a plain id of one file and ends where the next
        (kept) row of that file starts. Parsed all at once, in C; False: take the slow path."""
        picked = [*map(rids.__getitem__, firsts), *map(rids.__getitem__, stops)]
        head = picked[0]
        if head is None or not head.startswith("f:") or head[_ID_LEN - 1 : _ID_LEN] != ":":
            return False
        head = head[:_ID_LEN]
        try:
            joined = "\n".join(cast("list[str]", picked))  # (a None among them: TypeError)
            if joined.count(head) != len(picked):
                return False
            numbers = list(map(int, joined.replace(head, "").split("\n")))
        except (TypeError, ValueError):
            return False
        m = len(firsts)
        starts, ends = numbers[:m], numbers[m:]
        if not all(map(gt, ends, starts)):
            return False
        self._add(head[2:-1], why, starts[0], ends[0])
        runs = self.pending[(head[2:-1], why)]
        runs.extend(map(list, zip(starts[1:], ends[1:], strict=True)))
        self.count += m - 1
        return True

    def _run(self, rows: Rows, first: int, stop: int, why: str) -> None:
        """Rows ``first .. stop - 1`` (consecutive in the list) were dropped."""
        begin = _start(rows.rid[first])
        if begin is None:
            return
        digest, start, end = begin
        if stop - 1 != first or end is None:
            end = self._end(rows, digest, start, stop)
        self._add(digest, why, start, end)

    def _add(self, digest: str, why: str, start: int, end: int | None) -> None:
        runs = self.pending.get((digest, why))
        if runs is None:
            runs = self.pending[(digest, why)] = []
        elif runs[-1][1] == start:
            runs[-1][1] = end  # continues the previous run (the next list of the same file)
            return
        runs.append([start, end])
        self.count += 1

    def _end(self, rows: Rows, digest: str, start: int, stop: int) -> int | None:
        """Where the run ending before row ``stop`` ends: the next row's start (same file),
        the part's end its id names, or its last row's token (of the same file); else None."""
        rids = rows.rid
        if stop < len(rids):
            after = _start(rids[stop])
            if after is not None and after[0] == digest and after[1] > start:
                return after[1]
        tail = _start(rids[stop - 1])
        if tail is not None and tail[2] is not None:
            return tail[2]  # a line shipped in part: its id names the end
        token = rows.ack[stop - 1]
        at = _position(token)
        if token is None or at is None or at <= start:
            return None
        return at if stream_digest(token.stream, self.digests) == digest else None

    def flush(self) -> None:
        """Write the buffered runs (before a batch record, at the checkpoint flush)."""
        pending = self.pending
        if not pending:
            return
        self.pending, self.count = {}, 0
        writer = self.writer
        if not writer.enabled:
            return
        at = round(self._clock.wall(), 3)
        for (digest, why), runs in pending.items():
            for i in range(0, len(runs), _PER_RECORD):
                part = runs[i : i + _PER_RECORD]
                doc = {"t": "d", "at": at, "rd": digest, "why": why, "r": part}
                writer.append(doc, "drop")
