"""The ledger writer: appends records to the current segment, rotates, enforces retention.

One ``os.write`` per record (a batch's claims, with the stream definitions it needs first), so
a ``kill -9`` loses nothing already written (the page cache survives the process); ``sync``
(fsync) runs on the checkpoint flush cadence, *before* the checkpoint is written, so on disk
the ledger is never behind the checkpoint. The ledger is evidence, not the ack path: a failed
write (disk full, I/O error) is counted, logged once per cause, and delivery goes on; the next
successful write first cuts the failed bytes off and records how many batches were lost.

Retention: a segment is closed at ``segment_bytes`` (an eighth of ``max_bytes``, 64 KiB to
16 MiB); the oldest closed segments are deleted while the total passes ``max_bytes`` or when
their last write is older than ``max_age``. Disk use ≤ ``max_bytes`` + one segment.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import structlog

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.ledger import format as fmt
from logflux_agent.observe import metrics

log = structlog.get_logger(__name__)

MIN_SEGMENT = 64 * 1024
MAX_SEGMENT = 16 * 1024 * 1024


def segment_bytes_for(max_bytes: int) -> int:
    return max(MIN_SEGMENT, min(MAX_SEGMENT, max_bytes // 8))


class LedgerWriter:
    """Appends to ``directory``'s newest segment; never raises from ``append`` or ``sync``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int,
        max_age: float,
        run: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.segment_bytes = segment_bytes_for(max_bytes)
        self.run = run
        self._clock = clock
        self._fd = -1
        self._number = 0
        self._size = 0  # bytes of the current segment known good
        self._closed_bytes = 0  # bytes of the other segments
        self._sids: dict[Hashable, int] = {}
        self._pending_defs: list[bytes] = []
        self._dirty = False
        self.failures = 0
        self.torn_cut = 0
        self.records = 0
        self._failed_cause: str | None = None
        self._lost = 0
        self._lost_from = 0.0
        self._broken = False

    # ---- lifecycle ----------------------------------------------------------------------

    def open(self) -> bool:
        """Recover the newest segment's tail and start a new segment. False: ledger off."""
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            existing = fmt.segments(self.dir)
            if existing:
                self._recover(existing[-1])
                self._number = (fmt.segment_number(existing[-1]) or 0) + 1
            self._closed_bytes = sum(_size(p) for p in existing)
            self._start_segment()
        except OSError as exc:
            log.error("ledger.unavailable", path=str(self.dir), error=exc.strerror)
            self._fd = -1
            return False
        self._retain()
        return True

    def _recover(self, path: Path) -> None:
        found = fmt.scan(path)
        if found.torn:
            os.truncate(path, found.good_end)
            self.torn_cut += 1
            metrics.LEDGER_TORN.inc()
            log.warning(
                "ledger.torn_tail_cut",
                path=str(path),
                kept_bytes=found.good_end,
                cut_bytes=found.size - found.good_end,
            )

    def _start_segment(self) -> None:
        path = self.dir / fmt.segment_name(self._number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        head = fmt.HEADER + fmt.frame({"t": "r", "run": self.run, "at": self._clock.wall()})
        try:
            os.ftruncate(fd, 0)
            os.write(fd, head)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self._size = len(head)
        self._sids = {}
        self._dirty = True

    def close(self) -> None:
        self.sync()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # ---- records ------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Open, or failing for now (then records are counted as lost until it recovers)."""
        return self._fd >= 0 or self._broken

    def sid(self, key: Hashable, describe: dict[str, Any]) -> int:
        """The id of stream ``key`` in the current segment, defining it on first use."""
        sid = self._sids.get(key)
        if sid is None:
            sid = self._sids[key] = len(self._sids)
            self._pending_defs.append(fmt.frame({"t": "s", "id": sid, **describe}))
        return sid

    def append(self, doc: dict[str, Any], kind: str) -> None:
        """Write ``doc`` (after the stream definitions it needs) with one write."""
        if self._fd < 0 and not self._broken:  # off (never opened)
            self._pending_defs.clear()
            return
        parts = self._pending_defs
        self._pending_defs = []
        if self._lost or self._broken:
            number = self._number
            # In a new segment ``doc``'s stream ids mean nothing: it counts as lost too.
            if not self._repair() or self._number != number:
                self._note_lost(parts)
                return
        if self._lost:
            parts.insert(
                0,
                fmt.frame(
                    {"t": "x", "n": self._lost, "from": self._lost_from, "to": self._clock.wall()}
                ),
            )
        data = b"".join(parts) + fmt.frame(doc)
        try:
            os.write(self._fd, data)
        except OSError as exc:
            self._failed(exc, parts)
            return
        if self._lost:
            log.info("ledger.write_recovered", lost_batches=self._lost)
            self._lost = 0
            self._failed_cause = None
        self._size += len(data)
        self._dirty = True
        self.records += 1
        metrics.LEDGER_RECORDS.labels(kind=kind).inc()
        if self._size >= self.segment_bytes:
            self._rotate()
        metrics.LEDGER_BYTES.set(self.size_bytes)

    def _failed(self, exc: OSError, defs: list[bytes]) -> None:
        self.failures += 1
        metrics.LEDGER_WRITE_FAILURES.inc()
        cause = str(exc.errno)
        if cause != self._failed_cause:  # logged once per cause until a write succeeds
            self._failed_cause = cause
            log.error(
                "ledger.write_failed",
                path=str(self.dir),
                error=exc.strerror,
                note="delivery goes on; the ledger misses these batches (counted)",
            )
        self._note_lost(defs)

    def _note_lost(self, defs: list[bytes]) -> None:
        if not self._lost:
            self._lost_from = self._clock.wall()
        self._lost += 1
        # Stream definitions not written: define them again in the next record that needs them.
        if defs:
            self._sids = {}

    def _repair(self) -> bool:
        """Cut what a failed write may have left; else start a new segment."""
        if self._fd < 0:  # a rotation failed: try a new segment again
            try:
                self._number += 1
                self._start_segment()
            except OSError:
                return False
            self._broken = False
            return True
        try:
            os.ftruncate(self._fd, self._size)
            return True
        except OSError:
            pass
        try:
            self._rotate()
        except OSError:
            return False
        return self._fd >= 0

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        self._closed_bytes += self._size
        self._number += 1
        try:
            self._start_segment()
        except OSError as exc:
            self._broken = True  # the next record tries a new segment (or counts as lost)
            self.failures += 1
            metrics.LEDGER_WRITE_FAILURES.inc()
            log.error("ledger.rotate_failed", path=str(self.dir), error=exc.strerror)
            return
        self._retain()

    def _retain(self) -> None:
        """Delete the oldest closed segments over ``max_bytes`` or older than ``max_age``."""
        now = self._clock.wall()
        current = fmt.segment_name(self._number)
        closed = [p for p in fmt.segments(self.dir) if p.name != current]
        total = sum(_size(p) for p in closed) + self._size
        for path in closed:
            try:
                st = path.stat()
            except OSError:
                continue
            if total <= self.max_bytes and now - st.st_mtime <= self.max_age:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= st.st_size
            log.info("ledger.segment_expired", path=str(path), bytes=st.st_size)
        self._closed_bytes = total - self._size
        metrics.LEDGER_BYTES.set(self.size_bytes)

    def sync(self) -> None:
        """fsync what was written since the last sync (the checkpoint flush cadence)."""
        if self._fd < 0 or not self._dirty:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self.failures += 1
            metrics.LEDGER_WRITE_FAILURES.inc()
            if str(exc.errno) != self._failed_cause:
                self._failed_cause = str(exc.errno)
                log.error("ledger.sync_failed", path=str(self.dir), error=exc.strerror)
            return
        self._dirty = False

    def expire(self) -> None:
        """Age-based retention between rotations (called with ``sync``)."""
        if self._fd >= 0:
            self._retain()

    @property
    def size_bytes(self) -> int:
        return self._closed_bytes + self._size


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
