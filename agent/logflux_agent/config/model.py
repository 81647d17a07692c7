"""The configuration model: frozen dataclasses with the documented defaults.

This module owns the *shape*, the defaults and the bounds of numbers (``BOUNDS``); what a
valid value is beyond that (URLs, addresses, patterns...) is ``values.py``, and the rules
across settings ``checks.py``; ``load.py`` owns turning YAML into it (with
file:line:col errors) and ``env.py`` owns interpolation and the ``LOGFLUX_*`` overrides. Every
default here is repeated, commented, in ``config/agent.yaml.example``.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass, field
from typing import Literal

from logflux_agent.config.ledger import LedgerConfig
from logflux_agent.config.processors import ProcessorConfig
from logflux_agent.config.sockets import (
    DEFAULT_SOCKET_PATH,
    SocketInputConfig,
    SocketLongLines,
    SyslogFraming,
    SyslogInputConfig,
)
from logflux_agent.config.spool import SpoolConfig, SpoolFsync

# The value checks live in values.py; these names are imported from here as well.
from logflux_agent.config.values import CHECKS as CHECKS
from logflux_agent.config.values import Invalid as Invalid
from logflux_agent.config.values import check_endpoint as check_endpoint
from logflux_agent.config.values import is_loopback as is_loopback
from logflux_agent.config.values import parse_hostport as parse_hostport
from logflux_agent.config.values import parse_listen
from logflux_agent.config.values import split_hostport as split_hostport
from logflux_agent.config.values import suggest as suggest
from logflux_agent.credentials import ApiKey

__all__ = [
    "DEFAULT_SOCKET_PATH",
    "LedgerConfig",
    "SocketInputConfig",
    "SocketLongLines",
    "SpoolConfig",
    "SpoolFsync",
    "SyslogFraming",
    "SyslogInputConfig",
]

DEFAULT_CONFIG_PATH = "/etc/logflux-agent/agent.yaml"
DEFAULT_STATE_DIR = "/var/lib/logflux-agent"

OnFull = Literal["block", "drop_newest"]
StartAt = Literal["beginning", "end"]
LongLines = Literal["split", "truncate"]


def _hostname() -> str:
    return socket.gethostname()


@dataclass(frozen=True, slots=True, kw_only=True)
class MultilineConfig:
    """Join physical lines into one entry.

    Exactly one of ``start_pattern`` (a line matching it begins a new entry) or
    ``continue_pattern`` (a line matching it belongs to the previous entry) is set.
    """

    start_pattern: str | None = None
    continue_pattern: str | None = None
    max_lines: int = 500
    timeout: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FileInputConfig:
    """``type: file`` — tail files matching globs, with rotation and persisted offsets."""

    type: Literal["file"] = "file"
    id: str
    paths: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    # None: "end" for files present at the very first start, "beginning" for files found later.
    start_at: StartAt | None = None
    labels: dict[str, str] = field(default_factory=dict)
    max_line_bytes: int = 262_144
    long_lines: LongLines = "split"
    multiline: MultilineConfig | None = None
    partial_line_timeout: float = 5.0
    max_open_files: int = 1024
    close_inactive: float = 300.0
    rescan_interval: float = 10.0
    fingerprint_bytes: int = 1024
    read_chunk_bytes: int = 262_144
    detect_level: bool = False
    on_full: OnFull = "block"
    processors: tuple[ProcessorConfig, ...] = ()
    # Stable record ids in meta.record_id (docs/record-ids.md): on, since they cost ~0.2 µs/line.
    record_ids: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class StdinInputConfig:
    """``type: stdin`` — read lines from standard input until EOF, then drain and exit."""

    type: Literal["stdin"] = "stdin"
    id: str = "stdin"
    labels: dict[str, str] = field(default_factory=dict)
    max_line_bytes: int = 262_144
    long_lines: LongLines = "split"
    multiline: MultilineConfig | None = None
    detect_level: bool = False
    on_full: OnFull = "block"
    processors: tuple[ProcessorConfig, ...] = ()
    spool: SpoolConfig | None = None
    record_ids: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class JournaldInputConfig:
    """``type: journald`` — follow the systemd journal through a managed ``journalctl``."""

    type: Literal["journald"] = "journald"
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    units: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    # Highest syslog priority number to ship (0 emerg .. 7 debug); None ships everything.
    priority: int | None = None
    directory: str | None = None
    files: tuple[str, ...] = ()
    start_at: StartAt = "end"
    include_fields: tuple[str, ...] = ()
    journalctl: str = "journalctl"
    on_full: OnFull = "block"
    processors: tuple[ProcessorConfig, ...] = ()
    record_ids: bool = False


InputConfig = (
    FileInputConfig | StdinInputConfig | JournaldInputConfig | SocketInputConfig | SyslogInputConfig
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryConfig:
    """Where discovery looks; overridable so tests and private deployments can point elsewhere.

    ``static_url`` may contain ``{region}``. ``gateways`` are tried in order for authenticated
    discovery (``{gateway}/api/discovery``).
    """

    static_url: str = "https://discover.{region}.logflux.io"
    gateways: tuple[str, ...] = (
        "https://api.logflux.io",
        "https://eu.api.logflux.io",
        "https://us.api.logflux.io",
    )
    timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EncryptionConfig:
    """Pin the account public key, and bound the life of one AES session key."""

    public_key_fingerprint: str | None = None
    public_key_file: str | None = None
    session_max_age: float = 86_400.0
    session_max_entries: int = 2**31


DEFAULT_COMPRESS_MIN_BYTES = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderConfig:
    """Batching, concurrency, retry and shutdown of the sender stage."""

    batch_max_entries: int = 1000
    batch_max_bytes: int = 4_194_304
    flush_interval: float = 1.0
    max_in_flight: int = 4
    http_timeout: float = 30.0
    retry_initial_delay: float = 0.5
    retry_max_delay: float = 30.0
    retry_backoff_factor: float = 2.0
    shutdown_timeout: float = 10.0
    # Processes that gzip+encrypt batches; 0 encodes on the event loop's thread pool.
    encode_workers: int = 1
    # Entries with less plaintext JSON than this go in a stored (uncompressed) gzip member:
    # deflating short lines saves few bytes for most of the CPU. 0 deflates every entry.
    compress_min_bytes: int = DEFAULT_COMPRESS_MIN_BYTES
    dead_letter_max_bytes: int = 104_857_600


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    """Bounds of the queue between inputs and the sender: entries and bytes, whichever first."""

    max_entries: int = 20_000
    max_bytes: int = 33_554_432


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    """The Prometheus /metrics, /health and /ready endpoint."""

    enabled: bool = True
    listen: str = "127.0.0.1:9102"
    # /ready turns false when no send succeeded for this long while sends are failing.
    ready_failure_threshold: float = 60.0

    @property
    def address(self) -> tuple[str, int]:
        """``listen`` as (host, port); ConfigError when it is not one (a config not loaded)."""
        return parse_listen(self.listen)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    """The agent's own logs (to stderr). ``auto``: JSON unless stderr is a terminal."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """The whole agent configuration. ``source`` is the file it came from (for messages)."""

    source: str = DEFAULT_CONFIG_PATH
    api_key: ApiKey
    endpoint: str | None = None
    region: str | None = None
    ca_file: str | None = None
    tls_verify: bool = True
    node: str = field(default_factory=_hostname)
    environment: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    state_dir: str = DEFAULT_STATE_DIR
    checkpoint_interval: float = 1.0
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    encryption: EncryptionConfig = field(default_factory=EncryptionConfig)
    inputs: tuple[InputConfig, ...] = ()
    sender: SenderConfig = field(default_factory=SenderConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    spool: SpoolConfig | None = None  # for every stdin/socket/syslog input without its own
    ledger: LedgerConfig = field(default_factory=LedgerConfig)  # receipts for ``audit``
    # "watch": reload (as on SIGHUP) when the config file or a conf.d fragment changes.
    reload: Literal["signal", "watch"] = "signal"


# ---- constraints ---------------------------------------------------------------------------
# What a valid value is, beyond its type. ``load.py`` walks the YAML and applies these by
# "Class.field" name; they live here, next to the defaults they constrain.

MAX_LABELS = 20  # the ingestor's limit on attributes per entry (protocol.md §4)
RESERVED_LABELS = ("customer", "application", "node", "timestamp", "loglevel", "key_uuid")
JOURNAL_PRIORITIES = {
    "emerg": 0,
    "emergency": 0,
    "alert": 1,
    "crit": 2,
    "critical": 2,
    "err": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}
_YEAR = 365 * 86_400.0
_INT_MAX = 2**53
# (minimum, minimum allowed?, maximum). Unlisted ints are [1, 2**53]; unlisted floats are
# durations in seconds, (0, one year].
BOUNDS: dict[str, tuple[float, bool, float]] = {
    "SenderConfig.shutdown_timeout": (0, True, _YEAR),
    "SenderConfig.encode_workers": (0, True, 64),
    "SenderConfig.compress_min_bytes": (0, True, 1_048_576),
    "SenderConfig.max_in_flight": (1, True, 256),
    "SenderConfig.dead_letter_max_bytes": (0, True, _INT_MAX),
    "SenderConfig.retry_backoff_factor": (1.0, True, 100.0),
    "EncryptionConfig.session_max_entries": (1, True, 2**32),
    "SocketInputConfig.max_line_bytes": (64, True, 16 << 20),
    "SocketInputConfig.max_connections": (1, True, 1_000_000),
    "SyslogInputConfig.max_message_bytes": (480, True, 16 << 20),
    "SyslogInputConfig.max_connections": (1, True, 1_000_000),
    "SyslogInputConfig.datagram_buffer_bytes": (65_536, True, 1 << 32),
}


def bound_problem(qual: str, kind: type, value: float) -> str | None:
    """What was expected when ``value`` is outside the bounds of ``qual``; None when fine."""
    lo, lo_ok, hi = BOUNDS.get(qual, (1, True, _INT_MAX) if kind is int else (0.0, False, _YEAR))
    what = "an integer" if kind is int else "a number"
    if not math.isfinite(value):
        return "a finite number"
    if value < lo or (value == lo and not lo_ok):
        return f"{what} {'≥' if lo_ok else '>'} {_number(lo)}"
    if value > hi:
        return f"{what} ≤ {_number(hi)}"
    return None


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
