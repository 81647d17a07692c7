"""``type: socket``: the LogFlux local-agent endpoint (protocol.md §10) over Unix and TCP.

This module owns the listeners and the client connections: accepting (up to
``max_connections``), reading, framing lines (``inputs/framing.py``), handing them to the
per-connection ``LineMapper`` and the records to the queue, and stopping gracefully. Entry
mapping and recovery are ``entry.py``'s (a chunk of SDK-shaped lines by one regex:
``sdkline.py``; else the usual chunk column-wise: ``columns.py``), the secret policy
``mapper.py``'s, record ids ``rids.py``'s, the secret file ``secret.py``'s, safe binding
``listen.py``'s, sockets passed by systemd ``activation.py``'s. Connection tasks run in a
TaskGroup owned by ``run()``.

Backpressure: one task per connection reads, maps and awaits ``emit``; while the queue is full
it does not read, so the kernel buffers fill and the client's ``write`` blocks (an SDK call in
the application then blocks too — docs/socket-syslog.md says so). Clients are never closed for
being idle: the SDKs never reconnect.

Memory per connection, at most: a 64 KiB receive buffer, the received bytes held
(``StreamConn.HIGH_WATER`` plus one receive, 128 KiB), the partial line (``max_line_bytes``)
and one held C SDK head (``max_line_bytes``). Mapped records waiting for the queue exist for
at most ``EMIT_SLOTS`` (16) connections per listener at a time, each about the 128 KiB read
plus 200 B per entry. In total ``max_connections`` x (192 KiB + 2 x ``max_line_bytes``) in
the worst case, + 16 x ~0.5 MiB, plus the queue's own bound (docs/socket-syslog.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Mapping

import structlog

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import SocketInputConfig
from logflux_agent.inputs.base import Emit
from logflux_agent.inputs.framing import Frames, LineFramer
from logflux_agent.inputs.socket.activation import inherited_unix
from logflux_agent.inputs.socket.common import Connections, EntryCounter, StreamConn, Throttle
from logflux_agent.inputs.socket.listen import (
    bind_inet,
    bind_unix,
    is_loopback,
    remove_unix,
    resolve_group,
)
from logflux_agent.inputs.socket.mapper import FittedLabels, LineMapper, Policy
from logflux_agent.inputs.socket.rids import ConnectionNumbers
from logflux_agent.inputs.socket.secret import SharedSecret, load_or_create
from logflux_agent.observe import metrics

log = structlog.get_logger(__name__)

_WARN_REASONS = frozenset({"parse_error", "refused_wrong_secret", "refused_no_secret"})


class _Listener:
    """One listening socket: its transport name, secret policy, connections and the label
    sets its connections share (one attribute dict per distinct set, see ``columns.py``)."""

    def __init__(
        self, transport: str, policy: Policy, connections: Connections, labels: FittedLabels
    ) -> None:
        self.transport = transport
        self.policy = policy
        self.connections = connections
        self.labels = labels
        self.server: asyncio.Server | None = None


class SocketInput:
    """Serves the configured listeners until cancelled; then stops them gracefully."""

    def __init__(
        self,
        config: SocketInputConfig,
        store: CheckpointStore,
        *,
        clock: Clock = SYSTEM_CLOCK,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        del store  # nothing to resume: a socket cannot be read again
        self.config = config
        self.name = config.id
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self.counter = EntryCounter(config.id)
        self.source = f"socket:{config.id}"
        self.labels = dict(config.labels)
        self.numbers = ConnectionNumbers(config.id)
        self.listeners: list[_Listener] = []
        self.secret: SharedSecret | None = None
        self.unix_path: str | None = None
        self._unix_inode: int | None = None
        self.activated = False
        self.tcp_address: tuple[str, int] | None = None
        self._throttle = Throttle()
        self._long = metrics.LONG_LINES.labels(input=config.id, action=config.long_lines)
        self._bytes = metrics.INPUT_BYTES.labels(input=config.id)
        self._invalid = metrics.INVALID_UTF8.labels(input=config.id)
        self.ready = asyncio.Event()

    @property
    def connections(self) -> int:
        return sum(len(lst.connections) for lst in self.listeners)

    async def run(self, emit: Emit) -> None:
        try:
            # Everything that can fail happens before the task group (an error then leaves
            # run() as itself, not wrapped in an ExceptionGroup); the group only serves.
            await self._listen(emit)
            async with asyncio.TaskGroup() as group:
                try:
                    for listener in self.listeners:
                        listener.connections.serving(group)
                        assert listener.server is not None
                        await listener.server.start_serving()
                    self._log_listening()
                    self.ready.set()
                    await asyncio.Event().wait()
                finally:
                    await self._stop()
        finally:
            for listener in self.listeners:
                if listener.server is not None:
                    listener.server.close()
            if self.unix_path is not None and self._unix_inode is not None:
                remove_unix(self.unix_path, self._unix_inode)
            if self.secret is not None:
                self.secret.remove_pid_files()

    async def _listen(self, emit: Emit) -> None:
        """Bind every configured listener, not yet accepting connections."""
        cfg = self.config
        if cfg.unix_path is not None:
            # Passed by systemd (socket activation): served as it is, never removed by us.
            sock = inherited_unix(cfg.unix_path, socket.SOCK_STREAM, self.environ)
            self.activated = sock is not None
            if sock is None:
                mode = int(cfg.mode.removeprefix("0o"), 8)
                if cfg.group is not None:
                    resolve_group(cfg.group)
                sock = bind_unix(cfg.unix_path, socket.SOCK_STREAM, mode, cfg.group)
                self._unix_inode = os.stat(cfg.unix_path).st_ino
            self.unix_path = cfg.unix_path
            await self._serve(sock, "unix", Policy(), emit)
        if cfg.tcp is not None:
            self.secret = load_or_create(cfg.shared_secret_file, self.environ)
            self.secret.write_pid_files(os.getpid())
            sock = bind_inet(cfg.tcp, socket.SOCK_STREAM)
            self.tcp_address = sock.getsockname()[:2]
            if not is_loopback(str(self.tcp_address[0])):
                log.warning("socket.remote_listener", input=self.name, address=cfg.tcp)
            policy = Policy(self.secret.value, cfg.require_secret)
            await self._serve(sock, "tcp", policy, emit)

    def _log_listening(self) -> None:
        cfg = self.config
        log.info(
            "socket.listening",
            input=self.name,
            unix=self.unix_path,
            socket_activated=self.activated if self.unix_path else None,
            tcp=f"{self.tcp_address[0]}:{self.tcp_address[1]}" if self.tcp_address else None,
            secret_files=self.secret.paths if self.secret else None,
            secret_created=self.secret.created if self.secret else None,
            require_secret=cfg.require_secret if cfg.tcp else None,
        )

    async def _serve(self, sock: socket.socket, transport: str, policy: Policy, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        listener: _Listener

        async def serve(conn: StreamConn) -> None:
            await self._read_loop(listener, emit, conn)

        conns = Connections(self.name, transport, serve, self.config.max_connections)
        listener = _Listener(transport, policy, conns, FittedLabels(self.labels))
        self.listeners.append(listener)
        if transport == "unix":
            server = await loop.create_unix_server(conns.protocol, sock=sock, start_serving=False)
        else:
            server = await loop.create_server(conns.protocol, sock=sock, start_serving=False)
        listener.server = server

    async def _stop(self) -> None:
        for listener in self.listeners:
            if listener.server is not None:
                listener.server.close()
        await asyncio.gather(*(lst.connections.stop() for lst in self.listeners))
        for listener in self.listeners:
            if listener.server is not None:
                with contextlib.suppress(Exception):
                    await listener.server.wait_closed()

    # ---- one connection -----------------------------------------------------------------

    async def _read_loop(self, listener: _Listener, emit: Emit, conn: StreamConn) -> None:
        cfg = self.config
        drop = cfg.long_lines == "drop"
        framer = LineFramer(
            max_line_bytes=cfg.max_line_bytes + 1 if drop else cfg.max_line_bytes,
            long_lines="truncate" if drop else cfg.long_lines,  # type: ignore[arg-type]
        )
        mapper = LineMapper(
            self.source,
            listener.labels,
            listener.policy,
            self.numbers.sequence(),
            cfg.max_line_bytes,
        )
        stream = self.counter.stream(f"{listener.transport}-{id(conn):x}")
        wall: Callable[[], float] = self.clock.wall
        slots = listener.connections.slots
        while data := await conn.read():
            self._bytes.inc(len(data))
            async with slots:
                records = mapper.map_lines(self._lines(framer.feed(data), drop), wall())
                self._count(mapper)
                await self.counter.emit(records, stream, emit)
        # End of the connection (the client left, perhaps mid-line, or the input stops): what
        # was read is shipped, a cut line with parse_error rather than not at all.
        now = wall()
        records = mapper.map_lines(self._lines(framer.flush(final=True), drop), now)
        held = mapper.flush(now)
        self._count(mapper)
        await self.counter.emit(records, stream, emit)
        await self.counter.emit(held, stream, emit)

    def _lines(self, frames: Frames, drop: bool) -> list[str]:
        if frames.invalid_utf8:
            self._invalid.inc(frames.invalid_utf8)
        if frames.long_lines:
            self._long.inc(frames.long_lines)
        lines = frames.lines
        if drop:
            # The framer cuts a long line to max_line_bytes + 1 (possibly a read later than
            # the one that counted it): anything over max_line_bytes is such a head.
            limit = self.config.max_line_bytes
            kept = [x for x in lines if len(x) * 4 <= limit or len(x.encode()) <= limit]
            if len(kept) != len(lines):
                metrics.SOCKET_REFUSED_ENTRIES.labels(input=self.name, reason="long_line").inc(
                    len(lines) - len(kept)
                )
                lines = kept
        return lines

    def _count(self, mapper: LineMapper) -> None:
        counts = mapper.counts
        if not counts:
            return
        for reason, n in counts.items():
            if reason.startswith("refused_"):
                short = reason.removeprefix("refused_")
                metrics.SOCKET_REFUSED_ENTRIES.labels(input=self.name, reason=short).inc(n)
            else:
                metrics.SOCKET_ENTRY_PROBLEMS.labels(input=self.name, reason=reason).inc(n)
            if reason in _WARN_REASONS:
                self._throttle.warn("socket.bad_entries", reason, input=self.name, count=n)
        counts.clear()
