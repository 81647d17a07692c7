"""A managed ``journalctl`` child process: started in its own process group, stdout read in
large chunks, stderr drained and kept (bounded), stopped with SIGTERM then SIGKILL.

Memory stays bounded by the pipe: the stdout StreamReader pauses reading once it holds
``2 * chunk_bytes``, so when the input stops calling ``read`` (its emit is blocked), the kernel
pipe fills and journalctl blocks on its write — the journal itself is the buffer.

stderr is a pipe of our own read by a loop reader callback (no task to own or outlive the
process): each complete line is kept in a bounded tail and passed to ``on_stderr``; a line over
``_STDERR_LINE_MAX`` bytes keeps its start only. ``stop`` discards stdout in a task group of its
own while the child exits.

A child of an agent killed with SIGKILL is not signalled by anyone; it exits with SIGPIPE on its
next write (and under systemd the unit's cgroup is killed as a whole anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

STDERR_KEEP_LINES = 20
_STDERR_LINE_MAX = 4096


class JournalctlMissing(Exception):
    """The journalctl binary cannot be executed (absent, not executable)."""


class JournalctlProcess:
    """One running journalctl."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        chunk_bytes: int = 262_144,
        grace: float = 2.0,
        on_stderr: Callable[[str], None] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.chunk_bytes = chunk_bytes
        self.grace = grace
        self._on_stderr = on_stderr
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr = _StderrLines(self._keep_stderr)
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_KEEP_LINES)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    async def start(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=write_fd,
                start_new_session=True,
                limit=self.chunk_bytes,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError) as exc:
            os.close(read_fd)
            raise JournalctlMissing(f"{self.argv[0]}: {exc.strerror or exc}") from exc
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child holds its copy: end of file once it exits
        self._stderr.follow(read_fd)

    async def read(self) -> bytes:
        """Up to ``chunk_bytes`` of stdout as soon as some are there; b"" at end of output."""
        assert self._proc is not None and self._proc.stdout is not None
        return await self._proc.stdout.read(self.chunk_bytes)

    def _keep_stderr(self, line: str) -> None:
        self.stderr_tail.append(line)
        if self._on_stderr is not None:
            self._on_stderr(line)

    def _signal(self, sig: int) -> None:
        if self._proc is None or self._proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # start_new_session made the child a group leader: signal anything it started too.
            os.killpg(self._proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL at once (no waiting); ``stop`` still has to be awaited to reap it."""
        self._signal(signal.SIGKILL)

    async def wait(self) -> int:
        assert self._proc is not None
        return await self._proc.wait()

    async def stop(self) -> int | None:
        """Terminate (SIGTERM, then SIGKILL after ``grace``), reap, close the pipes.

        asyncio's ``Process.wait`` returns only once every pipe reached end of file, so stdout
        is read (and discarded: the caller stopped consuming) while waiting; otherwise a reader
        paused on a full buffer would never see the end and ``wait`` would hang.
        """
        proc = self._proc
        if proc is None:
            return None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._discard_stdout(), name=f"journalctl-drain-{proc.pid}")
                if proc.returncode is None:
                    self._signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(self.grace):
                        await proc.wait()
                except TimeoutError:
                    self._signal(signal.SIGKILL)
                    await proc.wait()
            await self._stderr.closed.wait()
        except asyncio.CancelledError:
            self._signal(signal.SIGKILL)
            raise
        return proc.returncode

    async def _discard_stdout(self) -> None:
        assert self._proc is not None
        stdout = self._proc.stdout
        if stdout is None:
            return
        with contextlib.suppress(OSError):
            while await stdout.read(self.chunk_bytes):
                pass


class _StderrLines:
    """Splits what arrives on a non-blocking pipe into lines for ``on_line``, from a reader
    callback of the event loop; ``closed`` is set once the pipe reached end of file."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._pending = bytearray()
        self._cut = False  # inside a line over the limit: dropped up to its newline
        self._fd = -1
        self.closed = asyncio.Event()

    def follow(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65_536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close()
            return
        self._pending += data
        while (end := self._pending.find(b"\n")) >= 0:
            line = bytes(self._pending[:end])
            del self._pending[: end + 1]
            if not self._cut:
                self._emit(line)
            self._cut = False
        if len(self._pending) > _STDERR_LINE_MAX and not self._cut:
            self._emit(bytes(self._pending))
            self._cut = True
        if self._cut:
            self._pending.clear()

    def _emit(self, raw: bytes) -> None:
        line = raw[:_STDERR_LINE_MAX].decode("utf-8", "replace").rstrip()
        if line:
            self._on_line(line)

    def _close(self) -> None:
        asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)
        if self._pending and not self._cut:
            self._emit(bytes(self._pending))
        self._pending.clear()
        self.closed.set()


@dataclass(frozen=True, slots=True)
class QueryResult:
    returncode: int
    stdout: bytes
    stderr: list[str]


async def run_query(
    argv: Sequence[str], *, timeout: float = 30.0, max_bytes: int = 1_048_576
) -> QueryResult:
    """Run a short journalctl command to completion; keeps at most ``max_bytes`` of stdout."""
    proc = JournalctlProcess(argv, chunk_bytes=65_536)
    await proc.start()
    out = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while True:
                chunk = await proc.read()
                if not chunk:
                    break
                if len(out) < max_bytes:
                    out += chunk[: max_bytes - len(out)]
            returncode = await proc.wait()
    finally:
        await proc.stop()
    return QueryResult(returncode, bytes(out), list(proc.stderr_tail))
