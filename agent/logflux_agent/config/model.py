"""The configuration model: frozen dataclasses with the documented defaults.

This module owns the *shape* and the defaults; ``load.py`` owns turning YAML into it (with
file:line:col errors) and ``env.py`` owns the ``LOGFLUX_*`` overrides. Every default here is
repeated, commented, in ``config/agent.yaml.example``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Literal

from logflux_agent.credentials import ApiKey

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


InputConfig = FileInputConfig | StdinInputConfig | JournaldInputConfig


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
