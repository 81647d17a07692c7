"""What the socket and syslog inputs share: entry counting for acks, connections, quiet logs.

These inputs cannot read anything again, so nothing is persisted; like stdin, a stream's
position is the number of entries it emitted, and the input adds up what was committed, so
``unacked = emitted - committed`` is exact (exported as ``logflux_agent_unacked_entries``).
Each connection (and each datagram socket) is its own stream: positions grow along it in the
order its entries were queued.

``Connections`` tracks the tasks serving stream clients so the input can stop them gracefully.
The tasks belong to a ``TaskGroup`` the input's ``run()`` opens (``Connections.serving``), so
none outlives the input. On stop, reading stops, what was already read is framed and queued (a
partial last line too), and only a task still blocked on a full queue after ``STOP_GRACE``
seconds is cancelled, its entries counted as lost. ``Throttle`` keeps a misbehaving client from
flooding the agent's own log: a reason is logged at most once per interval, with how many
occurrences were not logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from logflux_agent.inputs.base import Emit
from logflux_agent.observe import metrics
from logflux_agent.packed import Entries
from logflux_agent.record import AckToken, Record

log = structlog.get_logger(__name__)

STOP_GRACE = 10.0
EMIT_SLOTS = 16
LOG_INTERVAL = 60.0


class EntryCounter:
    """Per input: entries emitted and committed (the difference is unacknowledged)."""

    def __init__(self, input_id: str) -> None:
        self.input_id = input_id
        self.emitted = 0
        self.committed = 0
        self.lost = 0
        self._entries = metrics.INPUT_ENTRIES.labels(input=input_id)
        metrics.UNACKED_ENTRIES.labels(input=input_id).set_function(self.unacked)

    def unacked(self) -> float:
        return float(self.emitted - self.committed)

    def stream(self, name: str) -> CountingStream:
        return CountingStream(f"{self.input_id}:{name}", self)

    async def emit(
        self, records: list[Record] | Entries, stream: CountingStream, emit: Emit
    ) -> None:
        """Hand ``records`` to the queue with a counting token on the last one."""
        if not records:
            return
        count = stream.emitted + len(records)
        if isinstance(records, Entries):
            records.ack = AckToken(stream, count)
        else:
            records[-1] = records[-1].with_ack(AckToken(stream, count))
        await emit(records)
        stream.emitted = count
        self.emitted += len(records)
        self._entries.inc(len(records))


class CountingStream:
    """An ack stream whose position is an entry count; commits add to the input's total."""

    __slots__ = ("_key", "committed", "emitted", "owner")

    def __init__(self, key: str, owner: EntryCounter) -> None:
        self._key = key
        self.owner = owner
        self.emitted = 0
        self.committed = 0

    @property
    def key(self) -> str:
        return self._key

    def commit(self, position: int | str) -> None:
        count = int(position)
        if count > self.committed:
            self.owner.committed += count - self.committed
            self.committed = count


class Throttle:
    """Log each reason at most once per ``interval`` seconds, saying how many were skipped."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warn(self, event: str, reason: str, **fields: Any) -> None:
        now = time.monotonic()
        last = self._last.get(reason)
        if last is not None and now - last < self.interval:
            self._skipped[reason] = self._skipped.get(reason, 0) + 1
            return
        self._last[reason] = now
        skipped = self._skipped.pop(reason, 0)
        log.warning(event, reason=reason, not_logged_since_last=skipped, **fields)


class StreamConn(asyncio.BufferedProtocol):
    """One client connection: received bytes wait here (bounded) until its task reads them.

    The transport receives into a buffer of ``RECV_BYTES`` (so one receive is never larger);
    at ``HIGH_WATER`` held bytes it stops reading, so the kernel buffers fill and the client's
    writes block; ``read`` resumes it. ``read`` returns everything held at once (bigger chunks,
    fewer queue operations), b"" at end of connection or once stopped.
    """

    RECV_BYTES = 65_536
    HIGH_WATER = 65_536

    def __init__(self, serve: Callable[[StreamConn], Awaitable[None]], owner: Connections) -> None:
        self._serve = serve
        self._owner = owner
        self._buffer = memoryview(bytearray(self.RECV_BYTES))  # slices copy once, in bytes()
        self._chunks: list[bytes] = []
        self._held = 0
        self._eof = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.task = self._owner.start(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        del sizehint
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self._eof:
            return
        self._chunks.append(bytes(self._buffer[:nbytes]))
        self._held += nbytes
        if self._held >= self.HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self) -> bytes:
        while not self._chunks:
            if self._eof:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._held = 0
        if self._paused and not self._eof and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def stop(self) -> None:
        """No more reading: what is held is still returned by ``read``, then b""."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self._paused = False
        self._eof = True
        self._wake()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Connections:
    """The live client connections of one listener, and their graceful stop."""

    def __init__(
        self,
        input_id: str,
        transport: str,
        serve: Callable[[StreamConn], Awaitable[None]],
        max_connections: int,
    ) -> None:
        self.input_id = input_id
        self.serve = serve
        self.max_connections = max_connections
        self._live: dict[StreamConn, asyncio.Task[None]] = {}
        self._gauge = metrics.SOCKET_OPEN_CONNECTIONS.labels(input=input_id, transport=transport)
        self._accepted = metrics.SOCKET_CONNECTIONS_TOTAL.labels(
            input=input_id, transport=transport, result="accepted"
        )
        self._over = metrics.SOCKET_CONNECTIONS_TOTAL.labels(
            input=input_id, transport=transport, result="over_limit"
        )
        self._throttle = Throttle()
        self.stopping = False
        self._group: asyncio.TaskGroup | None = None
        # Connections that may hold mapped records at once (waiting for the queue): the rest
        # keep at most their raw bytes, so memory does not grow with the connection count.
        self.slots = asyncio.Semaphore(EMIT_SLOTS)

    def __len__(self) -> int:
        return len(self._live)

    def protocol(self) -> StreamConn:
        return StreamConn(self.serve, self)

    def serving(self, group: asyncio.TaskGroup) -> None:
        """Connection tasks are started in ``group`` (owned by the input's ``run()``)."""
        self._group = group

    def start(self, conn: StreamConn) -> asyncio.Task[None] | None:
        group = self._group
        if group is None:  # not serving (yet, or any more): no task may outlive run()
            conn.close()
            return None
        if self.stopping or len(self._live) >= self.max_connections:
            self._over.inc()
            self._throttle.warn(
                "socket.connection_refused",
                "max_connections",
                input=self.input_id,
                max_connections=self.max_connections,
            )
            conn.close()
            return None
        self._accepted.inc()
        self._gauge.inc()
        task = group.create_task(self._run(conn), name=f"conn-{self.input_id}")
        self._live[conn] = task
        return task

    async def _run(self, conn: StreamConn) -> None:
        try:
            await self.serve(conn)
        except Exception as exc:  # one client's problem must not end the input
            metrics.INPUT_ERRORS.labels(input=self.input_id, reason="connection").inc()
            self._throttle.warn(
                "socket.connection_failed", "connection", input=self.input_id, error=repr(exc)
            )
        finally:
            self._live.pop(conn, None)
            self._gauge.dec()
            conn.close()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop reading everywhere, let each connection queue what it read, then cancel."""
        self.stopping = True
        for conn in list(self._live):
            conn.stop()
        tasks = set(self._live.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
            log.error(
                "socket.stop_timeout",
                input=self.input_id,
                connections=len(late),
                note="the queue stayed full; entries these connections had read were lost",
            )
