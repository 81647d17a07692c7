"""The file input: follows every file matching an input's globs and emits their lines.

Owns the schedule: discovery (initial scan, inotify events through ``DirWatcher``, periodic
rescan), identities and rotation (rename → the old file is read to its end, then the new one
from its beginning; copytruncate → back to offset 0; deleted → read to the end, then closed),
the bound on open descriptors (LRU eviction), fair reading (round-robin, one chunk per turn),
partial-line and multiline timeouts, and emitting records with ack tokens. It never writes the
checkpoint store: its saved states are read once, when it is built; it declares its streams,
their start positions known without a record (a file started at its end, the "started before"
marker), released files and which files are still present to the checkpointer
(pipeline/checkpointer.py), which owns every write and the garbage collection.

Everything runs in one task on the event loop: reads are positional ``pread`` calls of at most
``read_chunk_bytes`` from the page cache, and ``await emit(...)`` is where backpressure stops
the reading.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections import OrderedDict, deque
from typing import Any

import structlog

from logflux_agent.checkpoints import Positions
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import FileInputConfig
from logflux_agent.inputs.base import Emit
from logflux_agent.inputs.file.finder import Finder
from logflux_agent.inputs.file.identity import (
    FileStream,
    Match,
    Saved,
    StartedMarker,
    compare,
    marker_key,
    position,
    stream_key,
)
from logflux_agent.inputs.file.rotation import GC_MIN_SECONDS, GC_RESCANS, Rotation
from logflux_agent.inputs.file.settings import validate
from logflux_agent.inputs.file.tailer import IdentityChanged, Tailer
from logflux_agent.inputs.file.watcher import DirWatcher
from logflux_agent.inputs.framing import (
    Frames,
    LineFramer,
    Multiline,
    make_records,
    newline_slices,
)
from logflux_agent.observe import metrics
from logflux_agent.record import AckToken

log = structlog.get_logger(__name__)

# A renamed or deleted file is kept open this long after its last growth (bounded by
# close_inactive), for writers that keep writing to it until they reopen their log.
ROTATED_LINGER = 5.0
# How often the size of a renamed/deleted file is polled (it may be outside watched dirs).
ROTATED_POLL = 0.25
# Records per emitted list; a chunk of very short lines is emitted in several lists.
MAX_EMIT_RECORDS = 8192
# Directory events trigger a rescan at most this often.
MIN_RESCAN_GAP = 0.2
# At most this many distinct problems are remembered for "log once".
_MAX_REPORTED = 10_000

_INF = float("inf")


class FileInput:
    """``type: file``. Build it, then ``await run(emit)`` until cancelled."""

    def __init__(
        self, config: FileInputConfig, positions: Positions, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.config = config
        self._positions = positions
        self._clock = clock
        validate(config)
        # Read once, here: the saved states of this input (consumed as files are found).
        self._saved: dict[str, dict[str, Any]] = dict(positions.items(f"file:{config.id}:"))
        self._finder = Finder(config.paths, config.exclude)
        # Tests may turn inotify off to prove the rescan alone finds everything.
        self.watch_events = True
        self._attrs = config.labels
        self._by_path: dict[str, Tailer] = {}
        self._by_ident: dict[tuple[int, int], Tailer] = {}
        self._streams: dict[str, FileStream] = {}
        self._aliases: dict[str, str] = {}
        self._ready: deque[Tailer] = deque()
        self._opened: OrderedDict[Tailer, None] = OrderedDict()
        self._waiting_open: dict[Tailer, None] = {}
        self._holding: set[Tailer] = set()
        self._rotated: set[Tailer] = set()
        self._wake = asyncio.Event()
        self._reported: dict[tuple[str, str], str] = {}
        self._dirs_seen: set[str] = set()
        self._first_start = marker_key(config.id) not in self._saved
        self._rescan_due = 0.0
        self._last_rescan = -_INF
        self._timer_due = _INF
        self._watcher: DirWatcher | None = None
        self._rotation = Rotation(self)
        self._m_entries = metrics.INPUT_ENTRIES.labels(input=config.id)
        self._m_bytes = metrics.INPUT_BYTES.labels(input=config.id)
        self._m_long = metrics.LONG_LINES.labels(input=config.id, action=config.long_lines)
        self._m_utf8 = metrics.INVALID_UTF8.labels(input=config.id)
        self._m_watched = metrics.FILES_WATCHED.labels(input=config.id)
        self._m_open = metrics.FILES_OPEN.labels(input=config.id)

    @property
    def name(self) -> str:
        return self.config.id

    # ---- lifetime -------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        """Follow the files until cancelled; every descriptor is closed on the way out."""
        try:
            self._startup()
            await self._loop(emit)
        finally:
            if self._watcher is not None:
                await self._watcher.close()
            for tailer in list(self._opened):
                tailer.close()
            self._opened.clear()
            self._m_open.set(0)
            self._m_watched.set(0)

    def _startup(self) -> None:
        cfg = self.config
        now = self._clock.monotonic()
        if not self._first_start:
            self._rotation.recover_moved()
        self._rescan(now, initial=True)
        if self._first_start:
            marker = StartedMarker(cfg.id, self._clock.wall())
            self._positions.track(marker, start=0)
        log.info(
            "file.input_started",
            input=cfg.id,
            files=len(self._by_ident),
            first_start=self._first_start,
            start_at=cfg.start_at or "default",
            watching=self._watcher.directories if self._watcher else [],
        )

    async def _loop(self, emit: Emit) -> None:
        clock = self._clock
        while True:
            now = clock.monotonic()
            if now >= self._rescan_due:
                self._rescan(now)
            if now >= self._timer_due:
                await self._service_timers(now, emit)
            if self._ready:
                tailer = self._ready.popleft()
                tailer.queued = False
                await self._turn(tailer, emit)
                continue
            await self._idle(min(self._rescan_due, self._timer_due) - clock.monotonic())

    async def _idle(self, timeout: float) -> None:
        """Wait for an event batch or the next deadline, whichever comes first."""
        self._wake.clear()
        if timeout <= 0 or self._ready:
            await asyncio.sleep(0)
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    def _on_changes(self, paths: set[str]) -> None:
        # Handled at once, even while the main loop waits in emit (backpressure): a new file
        # is opened (pinned) right away, so a rename rotation while the pipeline is blocked
        # cannot take a file generation away before it was ever opened.
        self._handle_changes(paths, self._clock.monotonic())
        self._wake.set()

    def _on_watch_error(self, directories: str, exc: BaseException) -> None:
        self._problem("watch", directories, f"{type(exc).__name__}: {exc}", count=True)

    # ---- discovery ------------------------------------------------------------------------

    def _rescan(self, now: float, *, initial: bool = False) -> None:
        self._rescan_due = now + self.config.rescan_interval
        self._last_rescan = now
        result = self._finder.scan()
        missing = {path for reason, path, _ in result.problems if reason == "missing_dir"}
        for reason, path, detail in result.problems:
            if reason == "missing_dir":
                if path in self._dirs_seen:
                    self._problem("vanished", path, detail, count=True)
                else:
                    self._problem("missing_dir", path, detail, count=False)
            else:
                self._problem(reason, path, detail, count=True)
        for pattern in self._finder.patterns:
            if pattern.base not in missing:
                self._dirs_seen.add(pattern.base)
                self._resolved("missing_dir", pattern.base)
                self._resolved("vanished", pattern.base)
        seen: set[tuple[int, int]] = set()
        for path, st in result.files.items():
            ident = (st.st_dev, st.st_ino)
            if ident in seen:
                continue
            seen.add(ident)
            self._observe(path, st, now, initial=initial)
        for path, tailer in list(self._by_path.items()):
            found = result.files.get(path)
            if (
                found is None or (found.st_dev, found.st_ino) != (tailer.dev, tailer.ino)
            ) and self._by_path.get(path) is tailer:
                self._lose_path(tailer, now)
        self._close_inactive(now)
        self._report_present(now, seen)
        self._refresh_watch()
        self._m_watched.set(len(self._by_ident))

    def _refresh_watch(self) -> None:
        if not self.watch_events:
            return
        if self._watcher is None:
            self._watcher = DirWatcher(self.config.id, self._on_changes, self._on_watch_error)
        roots = self._finder.watch_roots()
        for real in self._aliases:
            roots.setdefault(os.path.dirname(real), False)
        self._watcher.update(roots)

    def _handle_changes(self, changed: set[str], now: float) -> None:
        for path in sorted(changed):
            path = self._aliases.get(path, path)
            tailer = self._by_path.get(path)
            if tailer is None and not self._finder.matches(path):
                # A new directory may hold matching files; a removed watched one needs a new
                # watch when it comes back. Other paths (unrelated files) are ignored.
                if os.path.isdir(path) or (
                    self._watcher is not None and path in self._watcher.directories
                ):
                    self._rescan_due = min(
                        self._rescan_due, max(now, self._last_rescan + MIN_RESCAN_GAP)
                    )
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:
                if tailer is not None:
                    self._lose_path(tailer, now)
                continue
            except OSError:
                continue  # the rescan reports it
            if not _is_regular(st):
                if tailer is not None:
                    self._lose_path(tailer, now)
                continue
            self._observe(path, st, now, initial=False, event=True)

    def _observe(
        self, path: str, st: os.stat_result, now: float, *, initial: bool, event: bool = False
    ) -> None:
        """``path`` currently names the file ``st``: follow it, or notice what changed."""
        ident = (st.st_dev, st.st_ino)
        tailer = self._by_path.get(path)
        if tailer is not None:
            if (tailer.dev, tailer.ino) == ident:
                self._poke(tailer, st.st_size, event=event)
                return
            self._lose_path(tailer, now)
        other = self._by_ident.get(ident)
        if other is not None:
            if other.path is None:
                # Renamed to another matching name: keep following it under that name.
                other.path = path
                other.rotated_at = None
                self._rotated.discard(other)
                self._by_path[path] = other
            if other.path == path:
                self._poke(other, st.st_size, event=event)
            return
        self._add(path, st, now, initial=initial, after=tailer)

    def _add(
        self, path: str, st: os.stat_result, now: float, *, initial: bool, after: Tailer | None
    ) -> None:
        cfg = self.config
        if cfg.start_at == "beginning":
            start = "beginning"
        elif cfg.start_at == "end":
            start = "end" if initial else "beginning"
        else:
            start = "end" if initial and self._first_start else "beginning"
        key = stream_key(cfg.id, st.st_dev, st.st_ino)
        state = self._saved.pop(key, None)
        saved = Saved.decode(cfg.id, key, state) if state is not None else None
        offset = saved.offset if saved is not None else 0
        stream = self._new_stream(
            path, st.st_dev, st.st_ino, committed=offset if saved is not None else None
        )
        tailer = Tailer(
            source=path,
            dev=st.st_dev,
            ino=st.st_ino,
            stream=stream,
            framer=self._framer(offset, saved.mid_line if saved is not None else None),
            multiline=self._multiline(),
            offset=offset,
            expect_fp=saved.fingerprint if saved is not None else None,
            start_if_new=start,
            scan_size=st.st_size,
            now=now,
        )
        # A generation recovered at start (rotation.py) is read before the file now here.
        after = after or self._rotation.chain.pop(path, None)
        if after is not None and not after.dead:
            tailer.after = after
        tailer.copy_check = saved is None
        self._by_path[path] = tailer
        self._by_ident[(st.st_dev, st.st_ino)] = tailer
        real = os.path.realpath(path)
        if real != path:
            self._aliases[real] = path
        self._queue(tailer)
        # Pin the inode now: if the file is renamed before its first read, it is still ours.
        self._open(tailer)

    def _framer(self, offset: int, mid_line: str | None = None) -> LineFramer:
        cfg = self.config
        framer = LineFramer(
            max_line_bytes=cfg.max_line_bytes,
            long_lines=cfg.long_lines,
            position=offset,
            track_offsets=cfg.multiline is not None,
        )
        # The checkpoint sits inside a line whose head was shipped: go on as without a restart.
        framer.resume(mid_line)
        return framer

    def _multiline(self) -> Multiline | None:
        cfg = self.config
        if cfg.multiline is None:
            return None
        return Multiline(cfg.multiline, max_bytes=cfg.max_line_bytes)

    def _new_stream(
        self, path: str, dev: int, ino: int, *, committed: int | None, fingerprint: bytes = b""
    ) -> FileStream:
        """A new stream generation for an identity; the checkpointer retires the older one."""
        stream = FileStream(self.config.id, path, dev, ino, fingerprint, committed=committed)
        self._positions.track(stream)
        if len(self._streams) >= len(self._by_ident) + 64:
            # Retired streams are only dropped from this view lazily, in batches.
            self._streams = {k: s for k, s in self._streams.items() if not s.retired}
        self._streams[stream.key] = stream
        return stream

    def _report_present(self, now: float, seen: set[tuple[int, int]]) -> None:
        """Tell the checkpointer which identities exist; it drops entries long absent."""
        cfg = self.config
        keys = {stream_key(cfg.id, dev, ino) for dev, ino in seen}
        keys.add(marker_key(cfg.id))
        grace = max(GC_RESCANS * cfg.rescan_interval, GC_MIN_SECONDS)
        self._positions.present(f"file:{cfg.id}:", keys, grace, now)

    def _poke(self, tailer: Tailer, size: int, *, event: bool = False) -> None:
        """The file was seen with ``size`` bytes: read it if there may be something new.

        A change event on an open file always earns a turn, even at an unchanged size: a file
        truncated and rewritten to exactly its old size (copytruncate under a writer) is told
        apart only by its first bytes, which the turn checks with one small pread.
        """
        if tailer.binary:
            return
        # Sizes seen on every change, even while blocked in emit: a drop is a truncation the
        # next turn will handle; several drops before that turn are several truncations.
        if size < tailer.last_size:
            tailer.shrinks += 1
        elif not tailer.shrinks:
            tailer.known_size = max(tailer.known_size, size)
        tailer.last_size = size
        if size != tailer.offset or tailer.first_open or (event and tailer.fd is not None):
            self._queue(tailer)

    def _queue(self, tailer: Tailer) -> None:
        if not tailer.queued and not tailer.dead:
            tailer.queued = True
            self._ready.append(tailer)

    def _lose_path(self, tailer: Tailer, now: float) -> None:
        """The path no longer names this file (renamed or deleted): read it to its end."""
        if tailer.path is not None and self._by_path.get(tailer.path) is tailer:
            del self._by_path[tailer.path]
        tailer.path = None
        if tailer.fd is not None:
            tailer.at_eof = False  # unknown until read again; a successor waits for it
        if tailer.rotated_at is None:
            tailer.rotated_at = now
            self._rotated.add(tailer)
            log.info(
                "file.rotated",
                input=self.config.id,
                path=tailer.source,
                ino=tailer.ino,
                offset=tailer.offset,
                open=tailer.fd is not None,
            )
        if tailer.fd is not None:
            self._queue(tailer)
        self._timer_due = min(self._timer_due, now)

    # ---- reading --------------------------------------------------------------------------

    async def _turn(self, tailer: Tailer, emit: Emit) -> None:
        """One bounded read of one file, framed and emitted."""
        if tailer.binary or tailer.dead or self._waits(tailer):
            return
        if tailer.fd is None:
            if not self._open(tailer) or self._waits(tailer):
                return
        else:
            self._opened.move_to_end(tailer)
        if tailer.parked_for is not None or (tailer.copy_check and self._rotation.parks(tailer)):
            return
        cfg = self.config
        now = self._clock.monotonic()
        try:
            # Every turn, one small pread: a file truncated and rewritten past our offset
            # (copytruncate under a fast writer) has other first bytes.
            if tailer.fingerprint:
                match = compare(tailer.fingerprint, tailer.head(len(tailer.fingerprint)))
                if match is not Match.SAME:
                    await self._restart_file(tailer, emit, match)
                    if tailer.fd is None or tailer.after is not None:  # reopen / wait: next turn
                        self._queue(tailer)
                        return
            data = tailer.read(cfg.read_chunk_bytes)
            if not data:
                if tailer.size() < tailer.offset:
                    await self._restart_file(tailer, emit, Match.SHORTER)
                    self._queue(tailer)
                    return
                self._reached_eof(tailer, now)
                return
            if tailer.refresh_head(cfg.fingerprint_bytes):
                self._skip_binary(tailer)
                return
        except OSError as exc:
            self._read_failed(tailer, exc)
            return
        tailer.at_eof = False
        tailer.last_data = tailer.last_active = now
        self._m_bytes.inc(len(data))
        # At most MAX_EMIT_RECORDS lines per framed part: each emitted list then ends at its
        # own exact position, so a stop between lists never strands accepted lines.
        for part in newline_slices(data, MAX_EMIT_RECORDS):
            await self._deliver(tailer, tailer.framer.feed(part), now, emit)
        if len(data) < cfg.read_chunk_bytes:
            self._reached_eof(tailer, now)
        else:
            self._queue(tailer)

    @staticmethod
    def _waits(tailer: Tailer) -> bool:
        """Rotation order: a file waits until the one before it reached its end once."""
        after = tailer.after
        if after is None:
            return False
        if not after.dead and not after.at_eof:
            after.successor = tailer
            return True
        tailer.after = None
        return False

    async def _deliver(self, tailer: Tailer, frames: Frames, now: float, emit: Emit) -> None:
        """Count, join multiline entries, build records and emit them with ack tokens."""
        if frames.long_lines:
            self._m_long.inc(frames.long_lines)
        if frames.invalid_utf8:
            self._m_utf8.inc(frames.invalid_utf8)
        ends: list[int] | None
        if tailer.multiline is not None:
            lines, ends = tailer.multiline.push(frames.lines, frames.ends, now)
            end = ends[-1] if ends else tailer.emitted_end
        else:
            lines, ends = frames.lines, frames.ends
            end = frames.end
        await self._emit_lines(tailer, lines, end, emit, ends)

    async def _emit_lines(
        self,
        tailer: Tailer,
        lines: list[str],
        end: int,
        emit: Emit,
        ends: list[int] | None = None,
    ) -> None:
        if not lines:
            return
        cfg = self.config
        records = make_records(
            lines, self._clock.wall(), tailer.source, self._attrs, detect=cfg.detect_level
        )
        self._m_entries.inc(len(records))
        if len(records) <= MAX_EMIT_RECORDS:
            records[-1] = records[-1].with_ack(self._token(tailer, end))
            tailer.emitted_end = end
            await emit(records)
            return
        # More lines than newlines (split long lines): each list ends at its last line's
        # position when known, else at the position before this batch (safe, never ahead).
        before = tailer.emitted_end
        for i in range(0, len(records), MAX_EMIT_RECORDS):
            part = records[i : i + MAX_EMIT_RECORDS]
            if i + MAX_EMIT_RECORDS >= len(records):
                at = end
            else:
                at = ends[i + MAX_EMIT_RECORDS - 1] if ends else before
            part[-1] = part[-1].with_ack(self._token(tailer, at))
            tailer.emitted_end = at
            await emit(part)

    @staticmethod
    def _token(tailer: Tailer, at: int) -> AckToken:
        return AckToken(tailer.stream, position(at, tailer.framer.mid_line(at)))

    def _reached_eof(self, tailer: Tailer, now: float) -> None:
        tailer.at_eof = True
        successor, tailer.successor = tailer.successor, None
        if successor is not None:
            self._queue(successor)
        if tailer.holding():
            self._holding.add(tailer)
            self._timer_due = min(self._timer_due, self._hold_deadline(tailer))

    def _hold_deadline(self, tailer: Tailer) -> float:
        due = _INF
        if tailer.framer.pending:
            due = tailer.last_data + self.config.partial_line_timeout
        if tailer.multiline is not None:
            deadline = tailer.multiline.deadline
            if deadline is not None:
                due = min(due, deadline)
        return due

    async def _restart_file(self, tailer: Tailer, emit: Emit, match: Match) -> None:
        """Same inode, other content: truncated (copytruncate) or replaced. Read from 0.

        The old content goes on in its copy when one is found (rotation.py); else what is held
        of it is shipped now.
        """
        at = tailer.emitted_end
        if not self._rotation.on_truncated(
            tailer, at, tailer.framer.mid_line(at), tailer.fingerprint
        ):
            await self._flush_held(tailer, emit)
        event = "file.truncated" if match is Match.SHORTER else "file.replaced"
        log.info(
            event, input=self.config.id, path=tailer.source, ino=tailer.ino, offset=tailer.offset
        )
        tailer.restart_at(0)
        tailer.fingerprint = b""
        tailer.head_len = 0
        tailer.stream = self._new_stream(tailer.source, tailer.dev, tailer.ino, committed=0)

    async def _flush_held(self, tailer: Tailer, emit: Emit) -> None:
        """Emit everything held for ``tailer``: its file is gone or its content replaced."""
        frames = tailer.framer.flush(final=True)
        now = self._clock.monotonic()
        if tailer.multiline is not None:
            lines, ends = tailer.multiline.push(frames.lines, frames.ends, now)
            more, more_ends = tailer.multiline.flush()
            lines += more
            ends += more_ends
            end = ends[-1] if ends else tailer.emitted_end
            await self._emit_lines(tailer, lines, end, emit, ends)
        else:
            await self._emit_lines(tailer, frames.lines, frames.end, emit)

    # ---- opening and closing --------------------------------------------------------------

    def _open(self, tailer: Tailer) -> bool:
        if tailer.path is None:
            return False
        if len(self._opened) >= self.config.max_open_files and not self._evict():
            self._waiting_open[tailer] = None
            return False
        try:
            st = tailer.open()
        except IdentityChanged:
            self._rescan_due = min(self._rescan_due, self._clock.monotonic())
            return False
        except FileNotFoundError:
            self._lose_path(tailer, self._clock.monotonic())
            return False
        except OSError as exc:
            reason = "permission" if exc.errno in (errno.EACCES, errno.EPERM) else "io"
            self._problem(reason, tailer.source, exc.strerror or str(exc), count=True)
            return False
        self._resolved("permission", tailer.source)
        self._resolved("io", tailer.source)
        self._opened[tailer] = None
        self._m_open.set(len(self._opened))
        tailer.last_active = self._clock.monotonic()
        try:
            if tailer.first_open:
                self._first_open(tailer, st.st_size)
                tailer.first_open = False
        except OSError as exc:
            self._read_failed(tailer, exc)
            return False
        return not tailer.binary

    def _first_open(self, tailer: Tailer, size: int) -> None:
        """Decide where a newly found file starts: its checkpoint, or ``start_at``."""
        cfg = self.config
        if tailer.refresh_head(cfg.fingerprint_bytes):
            self._skip_binary(tailer)
            return
        expect = tailer.expect_fp
        if expect is not None:
            match = expect.compare(tailer.fingerprint)
            if match is Match.SAME and size >= tailer.offset:
                return
            event = "file.replaced" if match is Match.DIFFERENT else "file.truncated"
            log.info(
                event,
                input=cfg.id,
                path=tailer.source,
                ino=tailer.ino,
                checkpoint_offset=tailer.offset,
                size=size,
            )
            if match is not Match.DIFFERENT:
                tailer.start_if_new = "beginning"
            at = tailer.offset
            self._rotation.on_truncated(tailer, at, tailer.framer.mid_line(at), expect, live=False)
        offset = 0
        if tailer.start_if_new == "end":
            offset = tailer.end_position(min(size, tailer.scan_size) if expect is None else size)
        tailer.expect_fp = None
        tailer.restart_at(offset)
        tailer.stream = self._new_stream(
            tailer.source, tailer.dev, tailer.ino, committed=offset, fingerprint=tailer.fingerprint
        )
        if offset > 0:
            # Skipped on purpose: remember it, or a restart would read it as a new file.
            self._positions.track(tailer.stream, start=offset)

    def _evict(self) -> bool:
        """Close the least recently read file that can be reopened by its path."""
        for victim in self._opened:
            if victim.path is not None:
                self._close(victim)
                return True
        return False

    def _close(self, tailer: Tailer) -> None:
        if tailer.fd is None:
            return
        tailer.close()
        self._opened.pop(tailer, None)
        self._m_open.set(len(self._opened))
        while self._waiting_open and len(self._opened) < self.config.max_open_files:
            waiting = next(iter(self._waiting_open))
            del self._waiting_open[waiting]
            if not waiting.dead:
                self._queue(waiting)
                break

    def _close_inactive(self, now: float) -> None:
        limit = self.config.close_inactive
        for tailer in list(self._opened):
            if (
                tailer.path is not None
                and not tailer.queued
                and tailer.at_eof
                and now - tailer.last_active >= limit
            ):
                self._close(tailer)

    def _skip_binary(self, tailer: Tailer) -> None:
        tailer.binary = True
        self._close(tailer)
        self._problem(
            "binary", tailer.source, "NUL bytes in the first bytes; file skipped", count=True
        )

    def _read_failed(self, tailer: Tailer, exc: OSError) -> None:
        """A read error: close it, report once; the next rescan retries."""
        self._close(tailer)
        self._problem("io", tailer.source, exc.strerror or str(exc), count=True)

    # ---- timers ---------------------------------------------------------------------------

    async def _service_timers(self, now: float, emit: Emit) -> None:
        due = _INF
        for tailer in list(self._holding):
            if tailer.dead or not tailer.holding():
                self._holding.discard(tailer)
                continue
            if tailer.framer.pending and now >= tailer.last_data + self.config.partial_line_timeout:
                await self._deliver(tailer, tailer.framer.flush(), now, emit)
            joiner = tailer.multiline
            if joiner is not None and joiner.deadline is not None and now >= joiner.deadline:
                lines, ends = joiner.flush()
                await self._emit_lines(tailer, lines, ends[-1], emit)
            if tailer.holding():
                due = min(due, self._hold_deadline(tailer))
            else:
                self._holding.discard(tailer)
        linger = min(self.config.close_inactive, ROTATED_LINGER)
        for tailer in list(self._rotated):
            if tailer.path is not None or tailer.dead:
                self._rotated.discard(tailer)
                continue
            if tailer.fd is None:
                await self._finish(tailer, emit)
                continue
            try:
                size = tailer.size()
            except OSError:
                size = tailer.offset
            if size != tailer.offset:
                tailer.last_data = now
                self._queue(tailer)
            elif (
                not tailer.queued
                and tailer.at_eof
                and tailer.rotated_at is not None
                and now - max(tailer.rotated_at, tailer.last_data) >= linger
            ):
                await self._finish(tailer, emit)
                continue
            due = min(due, now + ROTATED_POLL)
        self._timer_due = due

    async def _finish(self, tailer: Tailer, emit: Emit) -> None:
        """A renamed/deleted file was read to its end and stayed quiet: let it go."""
        await self._flush_held(tailer, emit)
        if tailer.path is not None:
            return  # found again under a matching name while emitting
        self._close(tailer)
        tailer.dead = True
        self._rotated.discard(tailer)
        self._holding.discard(tailer)
        if self._by_ident.get((tailer.dev, tailer.ino)) is tailer:
            del self._by_ident[(tailer.dev, tailer.ino)]
        for real in [r for r, p in self._aliases.items() if p == tailer.source]:
            if tailer.source not in self._by_path:
                del self._aliases[real]
        successor, tailer.successor = tailer.successor, None
        if successor is not None:
            self._queue(successor)
        self._rotation.release_parked(tailer)
        self._positions.release(tailer.stream, tailer.emitted_end)
        self._m_watched.set(len(self._by_ident))
        log.info(
            "file.released",
            input=self.config.id,
            path=tailer.source,
            ino=tailer.ino,
            offset=tailer.offset,
        )

    # ---- problems -------------------------------------------------------------------------

    def _problem(self, reason: str, path: str, detail: str, *, count: bool) -> None:
        """Log a problem once per (reason, path); count every occurrence."""
        if count:
            metrics.INPUT_ERRORS.labels(input=self.config.id, reason=reason).inc()
        key = (reason, path)
        if key in self._reported:
            return
        if len(self._reported) >= _MAX_REPORTED:
            self._reported.clear()
        self._reported[key] = detail
        level = log.info if reason == "missing_dir" else log.warning
        level("file.problem", input=self.config.id, reason=reason, path=path, detail=detail)

    def _resolved(self, reason: str, path: str) -> None:
        if self._reported.pop((reason, path), None) is not None:
            log.info("file.problem_resolved", input=self.config.id, reason=reason, path=path)

    # ---- introspection (tests, debugging) -------------------------------------------------

    def committed_offsets(self) -> list[tuple[str, int, int, int]]:
        """(path, dev, ino, committed offset) of every file followed: ``status`` computes lag."""
        return [
            (s.path, s.dev, s.ino, s.offset or 0) for s in self._streams.values() if not s.retired
        ]

    def snapshot(self) -> dict[str, Any]:
        """A small view of the input's state for tests and debugging."""
        return {
            "scanned": self._last_rescan > -_INF,
            "files": sorted(t.source for t in self._by_ident.values()),
            "open": len(self._opened),
            "open_inodes": sorted(t.ino for t in self._opened),
            "ready": len(self._ready),
            "holding": len(self._holding),
            "rotated": len(self._rotated),
            "streams": sum(not s.retired for s in self._streams.values()),
            "watching": self._watcher.directories if self._watcher else [],
        }


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)
