"""The shape of the socket and syslog inputs' configuration.

Kept apart from ``model.py`` (which re-exports it, so the loader and every other module see one
model) only to keep modules small; the checks of their values are in ``values.py`` with all
the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from logflux_agent.config.processors import ProcessorConfig
from logflux_agent.config.spool import SpoolConfig

OnFull = Literal["block", "drop_newest"]  # the same choices as model.OnFull

DEFAULT_SOCKET_PATH = "/run/logflux-agent/agent.sock"
SocketLongLines = Literal["split", "truncate", "drop"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketInputConfig:
    """``type: socket`` — the LogFlux local-agent protocol (protocol.md §10): NDJSON entries
    from the Ruby, PHP and C SDKs over a Unix socket and/or TCP.

    With neither ``unix`` nor ``tcp`` set it listens on ``DEFAULT_SOCKET_PATH``.
    """

    type: Literal["socket"] = "socket"
    id: str = "socket"
    unix: str | None = None
    mode: str = "0660"
    group: str | None = None
    tcp: str | None = None
    allow_remote: bool = False
    require_secret: bool = True
    shared_secret_file: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    max_line_bytes: int = 262_144
    long_lines: SocketLongLines = "split"
    max_connections: int = 1024
    on_full: OnFull = "block"
    processors: tuple[ProcessorConfig, ...] = ()
    spool: SpoolConfig | None = None

    @property
    def unix_path(self) -> str | None:
        """The Unix socket to serve: ``unix``, or the default when no listener is configured."""
        if self.unix is not None:
            return self.unix
        return None if self.tcp is not None else DEFAULT_SOCKET_PATH


SyslogFraming = Literal["auto", "lf", "octet_counting"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SyslogInputConfig:
    """``type: syslog`` — RFC 5424 / RFC 3164 over UDP, TCP and a Unix stream socket (LF or
    RFC 6587 octet counting), and a Unix datagram socket, in any combination (at least one)."""

    type: Literal["syslog"] = "syslog"
    id: str = "syslog"
    udp: str | None = None
    tcp: str | None = None
    unix: str | None = None  # a datagram socket, like /dev/log
    unix_stream: str | None = None  # a stream socket, framed like TCP
    mode: str = "0660"
    group: str | None = None
    allow_remote: bool = False
    framing: SyslogFraming = "auto"
    labels: dict[str, str] = field(default_factory=dict)
    max_message_bytes: int = 65_536
    max_connections: int = 1024
    # Datagrams received and waiting for the queue; beyond this, new ones are dropped (counted).
    datagram_buffer_bytes: int = 8_388_608
    on_full: OnFull = "block"
    processors: tuple[ProcessorConfig, ...] = ()
    spool: SpoolConfig | None = None
