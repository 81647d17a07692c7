"""``type: syslog``: RFC 5424 / RFC 3164 messages over UDP, TCP and Unix datagram/stream sockets.

This module owns the listeners and turning received messages into Records; parsing is
``processing/syslog.py``'s, stream framing (TCP, Unix stream) ``framing.py``'s, safe binding
and connection/ack bookkeeping are shared with the socket input (``inputs/socket/``).

Mapping: PRI severity → level (severity + 1), the timestamp → ts (the receive time when there
is none), facility/HOSTNAME/APP-NAME/PROCID/MSGID/structured data → attributes (within the
protocol limits, ``fit_attributes``), MSG → message, source ``syslog:<input id>``. A malformed
message is shipped as text with a ``parse_error`` attribute and counted, never dropped.

Tasks (datagram pumps, one per stream connection) belong to a ``TaskGroup`` owned by ``run()``.

Backpressure: a stream connection (TCP, Unix stream) stops being read while the queue is full
(the sender's writes block). Datagrams cannot be held back: they wait in a buffer of
``datagram_buffer_bytes``, and one that does not fit is dropped and counted
(``logflux_agent_syslog_dropped_datagrams_total``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from collections.abc import Callable
from functools import partial

import structlog

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import SyslogInputConfig
from logflux_agent.inputs.base import Emit
from logflux_agent.inputs.socket.activation import inherited_unix
from logflux_agent.inputs.socket.common import (
    STOP_GRACE,
    Connections,
    CountingStream,
    EntryCounter,
    StreamConn,
    Throttle,
)
from logflux_agent.inputs.socket.listen import bind_inet, bind_unix, remove_unix, resolve_group
from logflux_agent.inputs.socket.rids import ConnectionNumbers, RecordIds
from logflux_agent.inputs.syslog.framing import StreamFramer
from logflux_agent.observe import metrics
from logflux_agent.processing.attributes import fit_attributes
from logflux_agent.processing.syslog import level_of, parse_syslog, syslog_fields
from logflux_agent.record import Record

log = structlog.get_logger(__name__)

_BATCH = 1000


class _Datagrams(asyncio.DatagramProtocol):
    """Received datagrams wait here for the pump; over ``max_bytes`` they are dropped."""

    def __init__(self, max_bytes: int, max_message: int, on_drop: Callable[[], None]) -> None:
        self.items: deque[bytes] = deque()
        self.bytes = 0
        self.max_bytes = max_bytes
        self.max_message = max_message
        self.on_drop = on_drop
        self.wake = asyncio.Event()

    def datagram_received(self, data: bytes, addr: object) -> None:
        del addr
        if self.bytes + len(data) > self.max_bytes:
            self.on_drop()
            return
        self.items.append(data)
        self.bytes += len(data)
        self.wake.set()

    def take(self, n: int) -> list[bytes]:
        items = self.items
        out = [items.popleft() for _ in range(min(n, len(items)))]
        self.bytes -= sum(map(len, out))
        return out


class SyslogInput:
    """Serves the configured syslog listeners until cancelled."""

    def __init__(
        self, config: SyslogInputConfig, store: CheckpointStore, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        del store  # nothing to resume: datagrams and streams cannot be read again
        self.config = config
        self.name = config.id
        self.clock = clock
        self.source = f"syslog:{config.id}"
        self.labels = dict(config.labels)
        self.counter = EntryCounter(config.id)
        self.numbers = ConnectionNumbers(config.id)  # record ids: docs/socket-syslog.md
        # One Connections per stream listener (its own limit, metrics label and emit slots).
        self.streams: dict[str, Connections] = {}
        self._emit: Emit | None = None
        self.udp_address: tuple[str, int] | None = None
        self.tcp_address: tuple[str, int] | None = None
        self.ready = asyncio.Event()
        self._throttle = Throttle()
        self._dropped = metrics.SYSLOG_DROPPED_DATAGRAMS.labels(input=config.id)
        self._bytes = metrics.INPUT_BYTES.labels(input=config.id)
        self._malformed = {
            r: metrics.SYSLOG_MALFORMED.labels(input=config.id, reason=r)
            for r in ("invalid", "partial", "long")
        }
        self._transports: list[asyncio.BaseTransport] = []
        self._datagrams: list[tuple[_Datagrams, CountingStream, RecordIds]] = []
        self._servers: list[asyncio.Server] = []
        self._unix_files: list[tuple[str, int]] = []

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        try:
            # Everything that can fail happens before the task group (an error then leaves
            # run() as itself, not wrapped in an ExceptionGroup); the group only serves.
            await self._listen_datagrams()
            await self._listen_streams()
            async with asyncio.TaskGroup() as group:
                pumps = [
                    group.create_task(self._pump(*source, emit), name=f"syslog-{source[1].key}")
                    for source in self._datagrams
                ]
                try:
                    for conns in self.streams.values():
                        conns.serving(group)
                    for server in self._servers:
                        await server.start_serving()
                    self._log_listening()
                    self.ready.set()
                    await asyncio.Event().wait()
                finally:
                    self._close()
                    await asyncio.gather(*(c.stop() for c in self.streams.values()))
                    await self._drain(pumps, emit)
        finally:
            self._close()
            for path, inode in self._unix_files:
                remove_unix(path, inode)

    async def _listen_datagrams(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        for kind, address in (("udp", cfg.udp), ("unix", cfg.unix)):
            if address is None:
                continue
            if kind == "udp":
                sock = bind_inet(address, socket.SOCK_DGRAM)
                self.udp_address = sock.getsockname()[:2]
            else:
                sock = self._bind_unix(address, socket.SOCK_DGRAM)
            # Datagrams received before the pump runs wait in the buffer like any others.
            proto = _Datagrams(cfg.datagram_buffer_bytes, cfg.max_message_bytes, self._drop)
            dgram, _ = await loop.create_datagram_endpoint(partial(_same, proto), sock=sock)
            self._transports.append(dgram)
            self._datagrams.append((proto, self.counter.stream(kind), self.numbers.sequence()))

    async def _listen_streams(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        if cfg.tcp is not None:
            sock = bind_inet(cfg.tcp, socket.SOCK_STREAM)
            self.tcp_address = sock.getsockname()[:2]
            conns = self.streams["tcp"] = self._connections("tcp")
            server = await loop.create_server(conns.protocol, sock=sock, start_serving=False)
            self._servers.append(server)
        if cfg.unix_stream is not None:
            sock = self._bind_unix(cfg.unix_stream, socket.SOCK_STREAM)
            conns = self.streams["unix"] = self._connections("unix")
            server = await loop.create_unix_server(conns.protocol, sock=sock, start_serving=False)
            self._servers.append(server)

    def _bind_unix(self, path: str, kind: int) -> socket.socket:
        inherited = inherited_unix(path, kind)  # systemd socket activation: not ours to remove
        if inherited is not None:
            return inherited
        cfg = self.config
        if cfg.group is not None:
            resolve_group(cfg.group)
        sock = bind_unix(path, kind, int(cfg.mode.removeprefix("0o"), 8), cfg.group)
        self._unix_files.append((path, os.stat(path).st_ino))
        return sock

    def _connections(self, transport: str) -> Connections:
        conns: Connections

        async def serve(conn: StreamConn) -> None:
            await self._serve(conn, transport, conns)

        conns = Connections(self.name, transport, serve, self.config.max_connections)
        return conns

    def _close(self) -> None:
        for transport in self._transports:
            transport.close()
        for server in self._servers:
            server.close()

    def _log_listening(self) -> None:
        cfg = self.config
        log.info(
            "syslog.listening",
            input=self.name,
            udp=_text(self.udp_address),
            tcp=_text(self.tcp_address),
            unix=cfg.unix,
            unix_stream=cfg.unix_stream,
            framing=cfg.framing,
        )

    def _drop(self) -> None:
        self._dropped.inc()
        self._throttle.warn("syslog.datagram_dropped", "buffer_full", input=self.name)

    async def _pump(
        self, proto: _Datagrams, stream: CountingStream, rids: RecordIds, emit: Emit
    ) -> None:
        while True:
            if not proto.items:
                proto.wake.clear()
                await proto.wake.wait()
            batch = proto.take(_BATCH)
            now = self.clock.wall()
            limit = proto.max_message
            ids = rids.take(len(batch))
            records = [
                self._record(d[:limit], now, rid, len(d) > limit)
                for d, rid in zip(batch, ids, strict=True)
            ]
            await self.counter.emit(records, stream, emit)

    async def _drain(self, pumps: list[asyncio.Task[None]], emit: Emit) -> None:
        """On stop: datagrams already received still go to the queue (within STOP_GRACE)."""
        for task in pumps:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        async def rest() -> None:
            for proto, stream, rids in self._datagrams:
                now = self.clock.wall()
                batch = proto.take(len(proto.items))
                ids = rids.take(len(batch))
                records = [self._record(d, now, i) for d, i in zip(batch, ids, strict=True)]
                await self.counter.emit(records, stream, emit)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE):
                await rest()

    async def _serve(self, conn: StreamConn, transport: str, conns: Connections) -> None:
        emit = self._emit
        assert emit is not None
        framer = StreamFramer(self.config.framing, self.config.max_message_bytes)
        stream = self.counter.stream(f"{transport}-{id(conn):x}")
        rids = self.numbers.sequence()
        while data := await conn.read():
            self._bytes.inc(len(data))
            async with conns.slots:
                await self._frames(framer, framer.feed(data), stream, rids, emit)
        await self._frames(framer, framer.flush(), stream, rids, emit)

    async def _frames(
        self,
        framer: StreamFramer,
        messages: list[bytes],
        stream: CountingStream,
        rids: RecordIds,
        emit: Emit,
    ) -> None:
        if framer.long:
            self._malformed["long"].inc(framer.long)
            framer.long = 0
        if framer.bad_frames:
            self._malformed["invalid"].inc(framer.bad_frames)
            framer.bad_frames = 0
        if messages:
            now = self.clock.wall()
            ids = rids.take(len(messages))
            records = [self._record(m, now, i) for m, i in zip(messages, ids, strict=True)]
            await self.counter.emit(records, stream, emit)

    def _record(self, data: bytes, now: float, rid: str, cut: bool = False) -> Record:
        if cut:
            self._malformed["long"].inc()
        text = data.decode("utf-8", "replace").rstrip("\r\n\0")
        msg = parse_syslog(text, now=now)
        fields = syslog_fields(msg)
        if msg.error is not None:
            self._malformed["invalid" if msg.format == "invalid" else "partial"].inc()
            fields.append(("parse_error", msg.error))
            self._throttle.warn("syslog.malformed", msg.format, input=self.name, error=msg.error)
        attributes = fit_attributes(fields, self.labels).attributes
        ts = msg.timestamp if msg.timestamp is not None else now
        return Record(msg.message, ts, level_of(msg), self.source, attributes, None, rid)


def _same(proto: _Datagrams) -> _Datagrams:
    return proto


def _text(address: tuple[str, int] | None) -> str | None:
    return None if address is None else f"{address[0]}:{address[1]}"
