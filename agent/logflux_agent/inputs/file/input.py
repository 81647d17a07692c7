"""The file input: follows every file matching an input's globs and emits their lines.

Owns the schedule: discovery (initial scan, inotify events through ``DirWatcher``, periodic
rescan), identities and rotation (rename → the old file is read to its end, then the new one
from its beginning; copytruncate → back to offset 0; deleted → read to the end, then closed),
and fair reading (round-robin, one chunk per turn). The open descriptors (LRU eviction, where
a file starts) are ``descriptors.py``; one turn's read, framing, emitting with ack tokens and the
hold/linger timers are ``reading.py``; copies and moves are ``rotation.py``. It never writes the
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
import contextlib
import os
import stat
from collections import deque
from typing import Any

import structlog

from logflux_agent.checkpoints import Positions
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.checks import refuse_unusable
from logflux_agent.config.model import FileInputConfig
from logflux_agent.inputs.base import Emit
from logflux_agent.inputs.file.descriptors import OpenFiles
from logflux_agent.inputs.file.finder import Finder
from logflux_agent.inputs.file.identity import (
    FileStream,
    Saved,
    StartedMarker,
    marker_key,
    stream_key,
)
from logflux_agent.inputs.file.reading import Reading
from logflux_agent.inputs.file.rotation import GC_MIN_SECONDS, GC_RESCANS, Rotation
from logflux_agent.inputs.file.tailer import Tailer
from logflux_agent.inputs.file.watcher import DirWatcher
from logflux_agent.inputs.framing import LineFramer
from logflux_agent.inputs.multiline import Multiline
from logflux_agent.observe import metrics

log = structlog.get_logger(__name__)

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
        refuse_unusable(config, f"input {config.id!r}")  # the loader's rules, also in code
        # Read once, here: the saved states of this input (consumed as files are found).
        self._saved: dict[str, dict[str, Any]] = dict(positions.items(f"file:{config.id}:"))
        self._finder = Finder(config.paths, config.exclude)
        # Tests may turn inotify off to prove the rescan alone finds everything.
        self.watch_events = True
        self._by_path: dict[str, Tailer] = {}
        self._by_ident: dict[tuple[int, int], Tailer] = {}
        self._streams: dict[str, FileStream] = {}
        self._aliases: dict[str, str] = {}
        self._ready: deque[Tailer] = deque()
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
        self._m_watched = metrics.FILES_WATCHED.labels(input=config.id)
        self._files = OpenFiles(self)
        self._reading = Reading(self)

    @property
    def name(self) -> str:
        return self.config.id

    # ---- lifetime -------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        """Follow the files until cancelled; every descriptor is closed on the way out. The
        directory watch runs in this run's task group; the loop's error leaves as itself."""
        try:
            async with asyncio.TaskGroup() as group:
                if self.watch_events:
                    self._watcher = DirWatcher(
                        self.config.id, group, self._on_changes, self._on_watch_error
                    )
                self._startup()
                await self._loop(emit)
        except ExceptionGroup as crashed:  # the watch task never fails: the loop's error
            raise crashed.exceptions[0] from None
        finally:
            if self._watcher is not None:
                await self._watcher.close()
            for tailer in list(self._files.opened):
                tailer.close()
            self._files.opened.clear()
            self._files.m_open.set(0)
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
                await self._reading.service_timers(now, emit)
            if self._ready:
                tailer = self._ready.popleft()
                tailer.queued = False
                await self._reading.turn(tailer, emit)
                continue
            await self._idle(min(self._rescan_due, self._timer_due) - clock.monotonic())

    async def _idle(self, timeout: float) -> None:
        """Wait for an event batch or the next deadline, whichever comes first."""
        self._wake.clear()
        if timeout <= 0 or self._ready:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await self._clock.wait_for(self._wake.wait(), timeout)

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
        self._files.close_inactive(now)
        self._report_present(now, seen)
        self._refresh_watch()
        self._m_watched.set(len(self._by_ident))

    def _refresh_watch(self) -> None:
        if self._watcher is None:  # events off (tests), or not running
            return
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
        self._files.open(tailer)

    def _framer(self, offset: int, mid_line: str | None = None) -> LineFramer:
        cfg = self.config
        framer = LineFramer(
            max_line_bytes=cfg.max_line_bytes,
            long_lines=cfg.long_lines,
            position=offset,
            track_offsets=cfg.multiline is not None or cfg.record_ids,
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

    def open_problems(self) -> list[str]:
        """Problems reported and not resolved yet (newest last): ``status`` shows them."""
        return [f"{reason} {path}: {detail}" for (reason, path), detail in self._reported.items()]

    def snapshot(self) -> dict[str, Any]:
        """A small view of the input's state for tests and debugging."""
        return {
            "scanned": self._last_rescan > -_INF,
            "files": sorted(t.source for t in self._by_ident.values()),
            "open": len(self._files.opened),
            "open_inodes": sorted(t.ino for t in self._files.opened),
            "ready": len(self._ready),
            "holding": len(self._holding),
            "rotated": len(self._rotated),
            "streams": sum(not s.retired for s in self._streams.values()),
            "watching": self._watcher.directories if self._watcher else [],
        }


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)
