"""The file input's open descriptors: opening, the first-open start decision, LRU eviction.

At most ``max_open_files`` files are open at once. Opening one more first evicts the least
recently read file that can be reopened by its path (a renamed or deleted file cannot: it stays
open until read to its end); when none can be evicted the file waits and is queued again as
soon as a descriptor is closed. Files at their end and idle for ``close_inactive`` are closed
on the rescan. The first open of a file decides where it starts: its checkpoint when the
fingerprint still matches, else ``start_at``.

This reaches back into its ``FileInput`` (input.py) for the schedule, like rotation.py.
"""

from __future__ import annotations

import errno
from collections import OrderedDict
from typing import TYPE_CHECKING

import structlog

from logflux_agent.inputs.file.identity import Match
from logflux_agent.inputs.file.tailer import IdentityChanged, Tailer
from logflux_agent.observe import metrics

if TYPE_CHECKING:
    from logflux_agent.inputs.file.input import FileInput

log = structlog.get_logger(__name__)


class OpenFiles:
    """The open descriptors of one ``FileInput``, least recently read first."""

    def __init__(self, owner: FileInput) -> None:
        self._in = owner
        self.opened: OrderedDict[Tailer, None] = OrderedDict()
        self._waiting: dict[Tailer, None] = {}
        self.m_open = metrics.FILES_OPEN.labels(input=owner.config.id)

    def open(self, tailer: Tailer) -> bool:
        if tailer.path is None:
            return False
        if len(self.opened) >= self._in.config.max_open_files and not self._evict():
            self._waiting[tailer] = None
            return False
        try:
            st = tailer.open()
        except IdentityChanged:
            self._in._rescan_due = min(self._in._rescan_due, self._in._clock.monotonic())
            return False
        except FileNotFoundError:
            self._in._lose_path(tailer, self._in._clock.monotonic())
            return False
        except OSError as exc:
            reason = "permission" if exc.errno in (errno.EACCES, errno.EPERM) else "io"
            self._in._problem(reason, tailer.source, exc.strerror or str(exc), count=True)
            return False
        self._in._resolved("permission", tailer.source)
        self._in._resolved("io", tailer.source)
        self.opened[tailer] = None
        self.m_open.set(len(self.opened))
        tailer.last_active = self._in._clock.monotonic()
        try:
            if tailer.first_open:
                self._first_open(tailer, st.st_size)
                tailer.first_open = False
        except OSError as exc:
            self.read_failed(tailer, exc)
            return False
        return not tailer.binary

    def _first_open(self, tailer: Tailer, size: int) -> None:
        """Decide where a newly found file starts: its checkpoint, or ``start_at``."""
        cfg = self._in.config
        if tailer.refresh_head(cfg.fingerprint_bytes):
            self.skip_binary(tailer)
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
            self._in._rotation.on_truncated(
                tailer, at, tailer.framer.mid_line(at), expect, live=False
            )
        offset = 0
        if tailer.start_if_new == "end":
            offset = tailer.end_position(min(size, tailer.scan_size) if expect is None else size)
        tailer.expect_fp = None
        tailer.restart_at(offset)
        tailer.stream = self._in._new_stream(
            tailer.source, tailer.dev, tailer.ino, committed=offset, fingerprint=tailer.fingerprint
        )
        # Remembered now, not at its first commit: a file skipped to its end must not be read
        # as new after a restart, and a file read from 0 that is rotated away while the agent
        # is down must be named by a checkpoint to be found among its path's siblings.
        self._in._positions.track(tailer.stream, start=offset)

    def _evict(self) -> bool:
        """Close the least recently read file that can be reopened by its path."""
        for victim in self.opened:
            if victim.path is not None:
                self.close(victim)
                return True
        return False

    def close(self, tailer: Tailer) -> None:
        if tailer.fd is None:
            return
        tailer.close()
        self.opened.pop(tailer, None)
        self.m_open.set(len(self.opened))
        while self._waiting and len(self.opened) < self._in.config.max_open_files:
            waiting = next(iter(self._waiting))
            del self._waiting[waiting]
            if not waiting.dead:
                self._in._queue(waiting)
                break

    def close_inactive(self, now: float) -> None:
        limit = self._in.config.close_inactive
        for tailer in list(self.opened):
            if (
                tailer.path is not None
                and not tailer.queued
                and tailer.at_eof
                and now - tailer.last_active >= limit
            ):
                self.close(tailer)

    def skip_binary(self, tailer: Tailer) -> None:
        tailer.binary = True
        self.close(tailer)
        self._in._problem(
            "binary", tailer.source, "NUL bytes in the first bytes; file skipped", count=True
        )

    def read_failed(self, tailer: Tailer, exc: OSError) -> None:
        """A read error: close it, report once; the next rescan retries."""
        self.close(tailer)
        self._in._problem("io", tailer.source, exc.strerror or str(exc), count=True)
