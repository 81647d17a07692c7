"""Where the agent's own log lines go: a bounded buffer drained by one writer thread.

A log call must never stop the agent. Writing straight to stderr from the event loop did: when
the reader of the pipe goes away (``agent 2>&1 | head``, journald restarting, a Docker logging
driver gone), each write raises ``BrokenPipeError`` into whatever was logging, a signal handler
included, so SIGTERM was swallowed and the session task died; when the reader stalls, a full
pipe blocks the whole loop. So the calling thread only appends the rendered line to a buffer;
a daemon thread does the (blocking) writes. Lines that cannot be written are dropped and
counted in ``logflux_agent_log_lines_dropped_total{reason}``:

* ``closed``: the stream is gone (EPIPE, EBADF, ...); nothing is written to it again.
* ``full``: the buffer already holds ``max_pending_bytes`` (the reader is not keeping up).

Memory: at most ``max_pending_bytes`` (1 MiB by default) of pending text, plus one line of any
size when the buffer is empty (so a long traceback is not refused outright).

``flush(timeout)`` waits, bounded, for the buffer to drain: at exit (registered with atexit)
and before a forced ``os._exit``, so the last lines arrive whenever the reader still reads.

``TolerantStream`` is the same promise for a command's own output (``validate | head -1``),
which it also masks: every key-shaped string, from whatever field it came.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
from collections import deque
from typing import Any, Protocol, TextIO

from logflux_agent.credentials import mask_secrets
from logflux_agent.observe import metrics

DEFAULT_MAX_PENDING_BYTES = 1 << 20
_ATOMIC_BYTES = select.PIPE_BUF  # a pipe write up to this size is never interleaved
# errnos after which the stream can never take another byte.
_GONE = {errno.EPIPE, errno.EBADF, errno.EINVAL, errno.EIO, errno.ENOSPC, errno.EDQUOT}


class FdSink:
    """Non-blocking for callers: ``write`` buffers, a daemon thread writes to ``fd``."""

    def __init__(self, fd: int, max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES) -> None:
        self.fd = fd
        self.max_pending_bytes = max_pending_bytes
        self.closed = False
        self._lines: deque[bytes] = deque()
        self._pending = 0
        self._busy = False  # the writer holds lines it took from the buffer
        self._stop = False
        self._cond = threading.Condition()
        self._dropped_closed = metrics.LOG_LINES_DROPPED.labels(reason="closed")
        self._dropped_full = metrics.LOG_LINES_DROPPED.labels(reason="full")
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        data = line.encode("utf-8", "backslashreplace") + b"\n"
        with self._cond:
            if self.closed:
                self._dropped_closed.inc()
                return
            if self._pending and self._pending + len(data) > self.max_pending_bytes:
                self._dropped_full.inc()
                return
            self._lines.append(data)
            self._pending += len(data)
            self._cond.notify()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until every buffered line was written (or dropped)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._lines or self._busy) and not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self) -> None:
        """Let the thread end once the buffer is empty (a new sink replaces this one)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._lines and not self._stop:
                    self._cond.wait()
                if not self._lines:
                    return
                taken = list(self._lines)
                self._lines.clear()
                self._pending = 0
                self._busy = True
            unwritten = self._write_lines(taken)
            ok = unwritten == 0
            with self._cond:
                self._busy = False
                if not ok:
                    self.closed = True
                    self._dropped_closed.inc(unwritten + len(self._lines))
                    self._lines.clear()
                    self._pending = 0
                self._cond.notify_all()
            if not ok:
                return

    def _write_lines(self, lines: list[bytes]) -> int:
        """Write whole lines in writes of at most PIPE_BUF bytes where they fit, so another
        process on the same pipe (an encode worker) cannot land inside one of ours; the
        number of lines not written when the stream failed."""
        start = 0
        while start < len(lines):
            end, size = start + 1, len(lines[start])
            while end < len(lines) and size + len(lines[end]) <= _ATOMIC_BYTES:
                size += len(lines[end])
                end += 1
            if not self._write_all(b"".join(lines[start:end])):
                return len(lines) - start
            start = end
        return 0

    def _write_all(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except BlockingIOError:
                # Someone left O_NONBLOCK on the shared descriptor: wait until it drains.
                with contextlib.suppress(OSError, ValueError):
                    select.select([], [self.fd], [], 1.0)
                continue
            except OSError as exc:
                if exc.errno in _GONE:
                    return False
                time.sleep(0.1)  # unknown trouble: do not spin; try the same bytes again
                continue
            view = view[written:]
        return True


class FileSink:
    """For a stream with no descriptor (a test's capture buffer): write at once, never raise."""

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self.closed = False
        self.dropped = 0  # this sink's own count; the metric is the process's total
        self._dropped = metrics.LOG_LINES_DROPPED.labels(reason="closed")

    def write(self, line: str) -> None:
        if not self.closed:
            try:
                self.file.write(line + "\n")
                self.file.flush()
                return
            except (OSError, ValueError):
                self.closed = True
        self.dropped += 1
        self._dropped.inc()

    def flush(self, timeout: float) -> bool:
        del timeout
        return True

    def stop(self) -> None:
        pass


Sink = FdSink | FileSink


def open_sink(file: TextIO) -> Sink:
    try:
        fd = file.fileno()
    except (AttributeError, OSError, ValueError):
        return FileSink(file)
    return FdSink(fd)


class SinkLogger:
    """The structlog logger: every level method hands the rendered line to the sink."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def msg(self, message: Any) -> None:
        self._sink.write(str(message))

    log = debug = info = warn = warning = msg
    err = error = critical = exception = fatal = failure = msg


class Writer(Protocol):
    """What ``print(..., file=...)`` needs."""

    def write(self, text: str, /) -> int: ...


class TolerantStream:
    """A command's own output (``validate | head -1``): every key-shaped string is masked
    (whatever field it came from: node, a label, a path), each write is flushed at once, and
    a closed or broken stream ends the output quietly instead of with a traceback."""

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.file.write(mask_secrets(text))
                self.file.flush()
            except (OSError, ValueError):
                self.broken = True
                silence(self.file)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            return self.file.isatty()
        return False


def silence(file: TextIO) -> None:
    """Point ``file``'s descriptor at /dev/null so the interpreter's final flush of buffered
    text cannot fail again (it would print ``Exception ignored ... BrokenPipeError``)."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, file.fileno())
        os.close(devnull)
