"""The spool directory: append requests durably, hand them out oldest first, delete segments.

Layout: ``<directory>/<16-digit sequence>.seg`` (segment.py's format) with its ``.acked`` count
beside it, ``aside/`` for files of an unknown format (kept, never read) and ``dead/`` for
ciphertext that can never be delivered (kept, bounded).

Bounds: ``max_bytes`` caps the segment files on disk; an append that would pass it, or that
hits a full filesystem, raises ``SpoolFull`` and leaves the file as it was, so the caller waits
(backpressure) instead of growing the disk. Memory: one ``(offset, length, created)`` tuple per
record not yet deleted, i.e. at most ``max_bytes / smallest request`` tuples.

Durability (``fsync``): ``every_batch`` fsyncs each append before it returns, so an entry
acknowledged to its input survives a power loss; ``interval`` fsyncs at most every
``fsync_interval`` seconds (and ``sync_every`` syncs that long after the last write), so a
power loss (not a process crash: the page cache survives kill -9) may lose that window.
Accepted counts are not fsynced: losing one resends a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.delivery import segment as sg
from logflux_agent.delivery.segment import SpoolItem
from logflux_agent.observe import metrics

log = structlog.get_logger(__name__)

LOCK_FILE = ".lock"


class SpoolBusy(Exception):
    """Another process holds the spool directory's lock (two writers would interleave)."""


class SpoolFull(Exception):
    """The append does not fit (``reason``: ``max_bytes`` or ``disk``); nothing was written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(eq=False, slots=True)
class _Segment:
    seq: int
    path: Path
    size: int
    records: list[tuple[int, int, float]] = field(default_factory=list)
    acked: int = 0

    @property
    def done(self) -> bool:
        return self.acked >= len(self.records)


@dataclass(frozen=True, slots=True)
class Pending:
    """A record handed out by ``peek``: give it back to ``accepted`` once delivered."""

    segment: _Segment
    index: int
    item: SpoolItem


class Spool:
    """One spool directory, owned by one agent process."""

    def __init__(
        self,
        directory: str | Path,
        *,
        max_bytes: int,
        segment_bytes: int,
        fsync: str = "every_batch",
        fsync_interval: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = max(64 * 1024, min(segment_bytes, max_bytes))
        self._fsync_every = fsync == "every_batch"
        self._fsync_interval = fsync_interval
        self._clock = clock
        self._segments: list[_Segment] = []
        self._active: _Segment | None = None
        self._fd: int | None = None
        self._last_fsync = 0.0
        self._lock_fd: int | None = None
        self._dirty = False  # written since the last fsync (``fsync: interval``)
        # One thread does every write and fsync of the segment files, in order: appends never
        # wait behind other work of the default executor, and never run concurrently.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-write")
        self._next_seq = 1
        self._lock = asyncio.Lock()
        self._arrived = asyncio.Event()
        self.cut_records = 0
        self.aside = 0
        self.dead_bytes = 0
        self.dead_max_bytes = max(1024 * 1024, max_bytes // 4)
        metrics.SPOOL_BYTES.set_function(lambda: float(self.bytes))
        metrics.SPOOL_SEGMENTS.set_function(lambda: float(len(self._segments)))
        metrics.SPOOL_OLDEST_AGE.set_function(self.oldest_age)

    # ---- start: recovery -----------------------------------------------------------------

    def open(self) -> None:
        """Scan the directory: cut torn/corrupt tails, move foreign files aside. Never raises
        for what it finds in the files (only for a directory it cannot create or list)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_directory()
        for path in sorted(self.directory.glob("*" + sg.SUFFIX)):
            try:
                seq = int(path.stem)
            except ValueError:
                self._set_aside(path, "not a spool segment name")
                continue
            self._recover(path, seq)
            self._next_seq = max(self._next_seq, seq + 1)
        for path in self.directory.glob("*" + sg.SUFFIX + sg.ACKED):
            if not path.with_name(path.name.removesuffix(sg.ACKED)).exists():
                path.unlink(missing_ok=True)  # its segment was deleted before the crash
        dead = self.directory / "dead"
        if dead.is_dir():
            self.dead_bytes = sum(p.stat().st_size for p in dead.iterdir() if p.is_file())
        if self._segments:
            log.info(
                "spool.opened",
                directory=str(self.directory),
                segments=len(self._segments),
                requests=self.pending_requests,
                bytes=self.bytes,
            )

    def _lock_directory(self) -> None:
        """One process per spool directory (a one-shot's ``--spool`` may name a daemon's): an
        exclusive ``flock`` on ``.lock``, held until the process ends."""
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolBusy("in use by another logflux-agent process") from None
        self._lock_fd = fd

    def _recover(self, path: Path, seq: int) -> None:
        try:
            found = sg.scan(path)
        except sg.ForeignSegment as exc:
            self._set_aside(path, str(exc))
            return
        if found.problem:
            self.cut_records += 1
            reason = "crc" if "CRC" in found.problem else "torn"
            metrics.SPOOL_CORRUPT_RECORDS.labels(reason=reason).inc()
            log.warning(
                "spool.tail_cut",
                segment=path.name,
                problem=found.problem,
                kept_records=len(found.records),
                cut_bytes=found.cut_bytes,
                note="the records before it are delivered; the cut tail was never acknowledged",
            )
            sg.cut(path, found.good_end)
        acked = sg.acked_count(path)
        records: list[tuple[int, int, float]] = []
        for offset, payload in found.records:
            try:
                created = SpoolItem.decode(payload).created
            except (ValueError, KeyError, TypeError) as exc:  # CRC-valid but not ours: keep
                log.warning("spool.record_unreadable", segment=path.name, error=str(exc))
                created = 0.0
            records.append((offset, len(payload), created))
        seg = _Segment(seq, path, found.good_end, records, min(acked, len(records)))
        if seg.done:
            self._delete(seg)
        else:
            self._segments.append(seg)

    def _set_aside(self, path: Path, why: str) -> None:
        aside = self.directory / "aside"
        aside.mkdir(exist_ok=True, mode=0o700)
        shutil.move(str(path), aside / path.name)
        self.aside += 1
        metrics.SPOOL_ASIDE_SEGMENTS.inc()
        log.warning("spool.segment_set_aside", segment=path.name, why=why, kept_in=str(aside))

    # ---- writing -------------------------------------------------------------------------

    async def append(self, items: Sequence[SpoolItem]) -> int:
        """Write ``items`` in order and durably (per ``fsync``), as few calls as possible: one
        ``writev`` per record, one fsync per call. Returns how many leading items were written
        (all, unless the segment filled or ``max_bytes`` is reached: the caller appends the
        rest again); raises SpoolFull when not even the first one fits."""
        pieces = [(sg.frame_pieces(item.head(), item.body), item.created) for item in items]
        async with self._lock:
            room = self.max_bytes - self.bytes - len(sg.HEADER)
            fits = 0
            for record, _ in pieces:
                room -= sum(map(len, record))
                if room < 0:
                    break
                fits += 1
            if not fits:
                raise SpoolFull("max_bytes")
            loop = asyncio.get_running_loop()
            done = await loop.run_in_executor(self._executor, self._write, pieces[:fits])
        for item in items[:done]:
            metrics.SPOOL_WRITTEN_ENTRIES.inc(item.parts)
        metrics.SPOOL_WRITTEN_BYTES.inc(sum(sum(map(len, r)) for r, _ in pieces[:done]))
        self._arrived.set()
        return done

    def _write(self, pieces: list[tuple[list[bytes], float]]) -> int:
        """In the spool's thread: records into the active segment (a new one when it is full),
        then fsync. On an error nothing of this call stays (cut back): nothing was acknowledged."""
        seg = self._active
        first = sum(map(len, pieces[0][0]))
        if seg is None or (seg.records and seg.size + first > self.segment_bytes):
            seg = self._start_segment()
        assert self._fd is not None
        before = pos = seg.size
        added: list[tuple[int, int, float]] = []
        try:
            for record, created in pieces:
                size = sum(map(len, record))
                if (seg.records or added) and pos + size > self.segment_bytes:
                    break  # the rest goes to the next segment, in the next call
                sg.write_all(self._fd, record)
                added.append((pos, size - sg.FRAME_BYTES, created))
                pos += size
            now = self._clock.monotonic()
            if self._fsync_every or now - self._last_fsync >= self._fsync_interval:
                os.fsync(self._fd)
                self._last_fsync = now
                self._dirty = False
            else:
                self._dirty = True
        except OSError as exc:
            with contextlib.suppress(OSError):  # leave no half record behind
                os.ftruncate(self._fd, before)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise SpoolFull("disk") from None
            raise
        seg.records.extend(added)
        seg.size = pos
        return len(added)

    async def sync_every(self, interval: float) -> None:
        """With ``fsync: interval``: fsync what was written and not yet synced, every
        ``interval`` seconds, so the loss window holds while no new batch arrives too."""
        while True:
            await self._clock.sleep(interval)
            async with self._lock:
                if self._dirty and self._fd is not None:
                    await asyncio.get_running_loop().run_in_executor(self._executor, self.sync)

    def _start_segment(self) -> _Segment:
        self._close_active()
        path = self.directory / f"{self._next_seq:016d}{sg.SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            os.write(fd, sg.HEADER)
            os.fsync(fd)
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)  # the new name survives a power loss too
            finally:
                os.close(dfd)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise SpoolFull("disk") from None
            raise
        seg = _Segment(self._next_seq, path, len(sg.HEADER))
        self._next_seq += 1
        self._segments.append(seg)
        self._active, self._fd = seg, fd
        return seg

    def _close_active(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
        self._fd, self._active = None, None

    # ---- replay --------------------------------------------------------------------------

    def peek(self) -> Pending | None:
        """The oldest record not yet accepted, or None when the spool is drained."""
        for seg in self._segments:
            if not seg.done:
                offset, length, _ = seg.records[seg.acked]
                with seg.path.open("rb") as fh:
                    fh.seek(offset + 8)
                    payload = fh.read(length)
                return Pending(seg, seg.acked, SpoolItem.decode(payload))
        return None

    async def wait_pending(self) -> Pending:
        while True:
            self._arrived.clear()
            pending = self.peek()
            if pending is not None:
                return pending
            await self._arrived.wait()

    async def accepted(self, pending: Pending) -> None:
        """``pending`` was delivered (or kept as dead letter): count it; delete its segment
        once every record in it is."""
        seg = pending.segment
        async with self._lock:
            if pending.index != seg.acked:
                return
            seg.acked += 1
            if not seg.done:
                self._write_acked(seg)
            if seg.done:
                if seg is self._active:
                    self._close_active()
                self._delete(seg)

    def _write_acked(self, seg: _Segment) -> None:
        # On a full filesystem the count waits in memory (sg.grow_acked): a crash then resends
        # those requests (bounded duplicates, never a loss); a segment done is deleted anyway.
        if not sg.grow_acked(seg.path, seg.acked):
            log.warning("spool.acked_not_written", segment=seg.path.name, reason="disk full")

    def _delete(self, seg: _Segment) -> None:
        seg.path.unlink(missing_ok=True)
        sg.acked_path(seg.path).unlink(missing_ok=True)
        if seg in self._segments:
            self._segments.remove(seg)

    def dead_letter(self, item: SpoolItem, reason: str) -> bool:
        """Keep ``item``'s ciphertext in ``dead/`` (bounded); False when that is full."""
        record = sg.frame(item.encode())
        metrics.SPOOL_DEAD_LETTERED.labels(reason=reason).inc(item.parts)
        if self.dead_bytes + len(record) > self.dead_max_bytes:
            log.error("spool.dead_letter_full", entries=item.parts, reason=reason)
            return False
        dead = self.directory / "dead"
        dead.mkdir(exist_ok=True, mode=0o700)
        path = dead / "dead-letter.seg"
        new = not path.exists()
        with path.open("ab") as fh:
            if new:
                fh.write(sg.HEADER)
            fh.write(record)
        self.dead_bytes += len(record) + (len(sg.HEADER) if new else 0)
        return True

    # ---- state ---------------------------------------------------------------------------

    @property
    def bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def segments(self) -> int:
        return len(self._segments)

    @property
    def pending_requests(self) -> int:
        return sum(len(s.records) - s.acked for s in self._segments)

    def oldest_age(self) -> float:
        for seg in self._segments:
            if not seg.done:
                created = seg.records[seg.acked][2]
                return max(0.0, self._clock.wall() - created) if created else 0.0
        return 0.0

    @property
    def fsync_interval(self) -> float | None:
        """Seconds between fsyncs (``fsync: interval``), None when every batch is fsynced."""
        return None if self._fsync_every else self._fsync_interval

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            self._last_fsync = self._clock.monotonic()
            self._dirty = False

    def close(self) -> None:
        self._close_active()
        self._executor.shutdown(wait=False)
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
