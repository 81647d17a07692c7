"""The stdin input: ``some-command | logflux-agent``: read lines until end of input, then return.

It owns reading standard input without blocking the event loop, and the entry counting that
lets the supervisor tell how many entries were never delivered. Line framing, long lines,
UTF-8 replacement, multiline and level detection are ``inputs/framing.py``'s, shared with the
file input.

Reading: a daemon thread does the blocking reads, one chunk at a time and only when the input
asks for it (it asks for the next chunk while it emits the current one, so reading overlaps
emitting by one chunk). That works for pipes, regular files (``< file``) and terminals alike.
While ``emit`` blocks, nothing more is read: the pipe fills and the producer blocks in its
write. Nothing is dropped, and memory is bounded by two chunks, one partial line and one held
multiline entry.

Positions: stdin cannot be read again, so nothing is persisted. The ack stream counts entries:
a token's position is the number of entries emitted up to and including its record, so
``stream.committed`` is how many were accepted, and ``emitted - stream.committed`` how many were
not (yet).

Record ids (docs/record-ids.md): ``s:<input>:<session>:<n>``, the session 12 random hex digits
drawn when the input starts and ``n`` the entry's count (its ack position). Standard input is
never read twice, so the id is stable where an entry can be sent twice: a retry, or a replay
from the ciphertext spool (which stores the encrypted entry, id and all).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import select
import sys
import threading
from collections.abc import Sequence
from typing import BinaryIO

import structlog

from logflux_agent.checkpoints import Positions
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import StdinInputConfig
from logflux_agent.inputs.base import Emit
from logflux_agent.inputs.framing import Frames, LineFramer
from logflux_agent.inputs.levels import LEVEL_INFO, make_records
from logflux_agent.inputs.multiline import Multiline
from logflux_agent.observe import metrics
from logflux_agent.packed import Lines
from logflux_agent.record import AckToken, Record, Resumable

log = structlog.get_logger(__name__)

READ_CHUNK_BYTES = 262_144
SOURCE = "stdin"


class StdinAckStream(Resumable):
    """Counts accepted entries (the position is a count); nothing durable: never written."""

    __slots__ = ()
    durable = False

    def __init__(self, key: str) -> None:
        super().__init__(key, 0)

    def progress(self, position: int | str) -> int:
        return max(int(position), self.accepted)

    @property
    def accepted(self) -> int:
        """Entries the checkpointer saw committed."""
        committed = self.committed
        return committed if isinstance(committed, int) else 0


class _Chunk:
    """What the reader thread hands over: bytes (b"" = end of input) or the error that ended it."""

    __slots__ = ("data", "error")

    def __init__(self, data: bytes, error: BaseException | None = None) -> None:
        self.data = data
        self.error = error


class _ThreadReader:
    """Blocking reads of a binary stream in a daemon thread, one chunk per request."""

    def __init__(self, stream: BinaryIO, chunk_bytes: int, name: str) -> None:
        self._stream = stream
        self._chunk_bytes = chunk_bytes
        self._loop = asyncio.get_running_loop()
        self._requests: queue.SimpleQueue[asyncio.Future[_Chunk] | None] = queue.SimpleQueue()
        # A daemon thread: a read blocked on a producer that never writes again must not keep
        # the process alive once the agent is done.
        self._thread = threading.Thread(target=self._run, name=f"stdin-reader-{name}", daemon=True)
        self._thread.start()

    def request(self) -> asyncio.Future[_Chunk]:
        fut: asyncio.Future[_Chunk] = self._loop.create_future()
        self._requests.put(fut)
        return fut

    def close(self) -> None:
        self._requests.put(None)

    def _read(self, n: int) -> bytes:
        read1 = getattr(self._stream, "read1", None)
        while True:
            data = read1(n) if read1 is not None else self._stream.read(n)
            if data is not None:
                return bytes(data)
            # A non-blocking descriptor with nothing to read yet: wait until it has something.
            select.select([self._stream.fileno()], [], [])

    def _run(self) -> None:
        while True:
            fut = self._requests.get()
            if fut is None:
                return
            try:
                chunk = _Chunk(self._read(self._chunk_bytes))
            except (OSError, ValueError) as exc:  # ValueError: the stream was closed
                chunk = _Chunk(b"", exc)
            try:
                self._loop.call_soon_threadsafe(_deliver, fut, chunk)
            except RuntimeError:  # the event loop is gone: nobody is waiting any more
                return
            if not chunk.data:
                return


def _deliver(fut: asyncio.Future[_Chunk], chunk: _Chunk) -> None:
    if not fut.done():
        fut.set_result(chunk)


class StdinInput:
    """``type: stdin``. ``run`` returns at end of input, after emitting every entry."""

    def __init__(
        self,
        config: StdinInputConfig,
        positions: Positions,
        *,
        clock: Clock = SYSTEM_CLOCK,
        stream: BinaryIO | None = None,
    ) -> None:
        del positions  # nothing to resume: standard input cannot be read again
        self.config = config
        self.name = config.id
        self.clock = clock
        if stream is None and sys.stdin is not None:
            stream = sys.stdin.buffer
        self._stream = stream
        self.stream = StdinAckStream(f"stdin:{config.id}")
        self.framer = LineFramer(max_line_bytes=config.max_line_bytes, long_lines=config.long_lines)
        self.joiner = (
            Multiline(config.multiline, max_bytes=config.max_line_bytes)
            if config.multiline is not None
            else None
        )
        self.attributes = dict(config.labels)
        # "s:<input>:<session>:%d" (ids on), else None.
        self._rid_format = f"s:{config.id}:{os.urandom(6).hex()}:%d" if config.record_ids else None
        # Observable: entries handed to the pipeline, bytes read, and whether EOF was reached.
        self.emitted = 0
        self.bytes_read = 0
        self.finished = False
        self._entries = metrics.INPUT_ENTRIES.labels(input=config.id)
        self._bytes = metrics.INPUT_BYTES.labels(input=config.id)
        self._long = metrics.LONG_LINES.labels(input=config.id, action=config.long_lines)
        self._invalid = metrics.INVALID_UTF8.labels(input=config.id)

    @property
    def undelivered(self) -> int:
        """Entries emitted but not (yet) committed as accepted."""
        return self.emitted - self.stream.accepted

    async def run(self, emit: Emit) -> None:
        if self._stream is None:
            metrics.INPUT_ERRORS.labels(input=self.name, reason="stdin_closed").inc()
            log.error(
                "stdin.unavailable",
                input=self.name,
                error="standard input is closed; nothing to read",
            )
            self.finished = True
            return
        with contextlib.suppress(OSError, ValueError):
            if self._stream.isatty():
                log.info(
                    "stdin.terminal",
                    input=self.name,
                    hint="reading from a terminal; end the input with Ctrl-D",
                )
        reader = _ThreadReader(self._stream, READ_CHUNK_BYTES, self.name)
        try:
            await self._read_all(reader, emit)
        finally:
            reader.close()
        self.finished = True
        log.info("stdin.eof", input=self.name, entries=self.emitted, bytes=self.bytes_read)

    async def _read_all(self, reader: _ThreadReader, emit: Emit) -> None:
        pending = reader.request()
        while True:
            deadline = self.joiner.deadline if self.joiner is not None else None
            if deadline is not None and not pending.done():
                timeout = max(0.0, deadline - self.clock.monotonic())
                done, _ = await asyncio.wait({pending}, timeout=timeout)
                if not done:
                    assert self.joiner is not None
                    await self._emit_lines(self.joiner.flush()[0], emit)
                    continue
            chunk = await pending
            if chunk.error is not None:
                metrics.INPUT_ERRORS.labels(input=self.name, reason="io").inc()
                log.error(
                    "stdin.read_failed",
                    input=self.name,
                    error=str(chunk.error),
                    note="treated as end of input",
                )
            if not chunk.data:
                await self._emit_frames(self.framer.flush(final=True), emit)
                if self.joiner is not None:
                    await self._emit_lines(self.joiner.flush()[0], emit)
                return
            pending = reader.request()  # read the next chunk while this one is emitted
            self.bytes_read += len(chunk.data)
            self._bytes.inc(len(chunk.data))
            await self._emit_frames(self.framer.feed(chunk.data), emit)

    async def _emit_frames(self, frames: Frames, emit: Emit) -> None:
        if frames.long_lines:
            self._long.inc(frames.long_lines)
        if frames.invalid_utf8:
            self._invalid.inc(frames.invalid_utf8)
        lines = frames.lines
        if self.joiner is not None:
            lines, _ = self.joiner.push(lines, None, self.clock.monotonic())
        await self._emit_lines(lines, emit)

    async def _emit_lines(self, lines: list[str], emit: Emit) -> None:
        if not lines:
            return
        rids = None
        if self._rid_format is not None:
            rids = list(
                map(
                    self._rid_format.__mod__, range(self.emitted + 1, self.emitted + 1 + len(lines))
                )
            )
        count = self.emitted + len(lines)
        token = AckToken(self.stream, count)
        records: Sequence[Record]
        if not self.config.detect_level:
            # Packed like a file input's read (packed.py): no Record per line here (a
            # processor chain takes it column-wise, chain.py).
            records = Lines(
                lines, self.clock.wall(), LEVEL_INFO, SOURCE, self.attributes, token, rids
            )
        else:
            rows = make_records(
                lines,
                self.clock.wall(),
                SOURCE,
                self.attributes,
                detect=self.config.detect_level,
                rids=rids,
            )
            rows[-1] = rows[-1].with_ack(token)
            records = rows
        await emit(records)
        self.emitted = count
        self._entries.inc(len(records))
