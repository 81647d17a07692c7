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
not per row (one id parsed at each end), and runs are buffered: they are written as ``d``
records (one per identity and reason) just before the next batch record, or when the buffer
holds ``MAX_PENDING`` runs, or at the checkpoint flush. Drops always precede (in queue order)
the kept entries whose batch commits their position, so on disk a ``d`` record comes before
the claim that covers it. Memory: at most ``MAX_PENDING`` runs plus ``_DIGESTS_MAX`` digests.
"""

from __future__ import annotations

from itertools import compress
from typing import TYPE_CHECKING, Any

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

# A run: [identity digest, start, end (None: the line's end, found by the audit), reason].
Run = list[Any]


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
    if rid is None or not rid.startswith("f:") or rid[_ID_LEN - 1 : _ID_LEN] != ":":
        return None
    first, _, last = rid[_ID_LEN:].partition("-")
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
        self.pending: list[Run] = []
        self.digests: dict[int, tuple[object, str | None]] = {}

    def note(self, rows: Rows, keep: list[bool], why: str) -> None:
        """Rows whose ``keep`` flag is false were dropped by filter ``why`` (before ``keep``)."""
        rids = rows.rid
        n = len(rids)
        prev = -2
        first = -1
        for i in compress(range(n), [not k for k in keep]):
            if i != prev + 1:
                if first >= 0:
                    self._run(rows, first, prev, why)
                first = i
            prev = i
        if first >= 0:
            self._run(rows, first, prev, why)
        if len(self.pending) >= MAX_PENDING:
            self.flush()

    def _run(self, rows: Rows, first: int, last: int, why: str) -> None:
        """Rows ``first..last`` (consecutive in the list) were dropped."""
        rids = rows.rid
        begin = _start(rids[first])
        if begin is None:
            return
        digest, start, _ = begin
        end: int | None = None
        if last + 1 < len(rids):
            after = _start(rids[last + 1])
            if after is not None and after[0] == digest and after[1] > start:
                end = after[1]
        if end is None:
            tail = _start(rids[last]) if last != first else begin
            if tail is not None and tail[2] is not None:
                end = tail[2]  # a line shipped in part: its id names the end
            else:
                token = rows.ack[last]
                at = _position(token)
                if (
                    token is not None
                    and at is not None
                    and at > start
                    and stream_digest(token.stream, self.digests) == digest
                ):
                    end = at
        pending = self.pending
        if pending:
            run = pending[-1]
            if run[0] == digest and run[2] == start and run[3] == why:
                run[2] = end  # continues the previous run (the next list of the same file)
                return
        pending.append([digest, start, end, why])

    def flush(self) -> None:
        """Write the buffered runs (before a batch record, at the checkpoint flush)."""
        pending = self.pending
        if not pending:
            return
        self.pending = []
        writer = self.writer
        if not writer.enabled:
            return
        at = round(self._clock.wall(), 3)
        groups: dict[tuple[str, str], list[list[int | None]]] = {}
        for digest, start, end, why in pending:
            groups.setdefault((digest, why), []).append([start, end])
        for (digest, why), runs in groups.items():
            for i in range(0, len(runs), _PER_RECORD):
                part = runs[i : i + _PER_RECORD]
                doc = {"t": "d", "at": at, "rd": digest, "why": why, "r": part}
                writer.append(doc, "drop")
