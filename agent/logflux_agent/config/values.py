"""The value checks of single settings: what a valid value is, beyond its type and bounds.

Each ``check_*`` returns the value to keep (sometimes normalised) or raises ``Invalid`` saying
what was expected; ``CHECKS`` maps "Class.field" (or "*.field") to its check, and the walker
applies it with the file:line:col of the value. ``parse_hostport`` is the one parser of a
``HOST:PORT`` listen address (``parse_listen`` for ``metrics.listen`` outside the loader).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from logflux_agent.credentials import REGIONS
from logflux_agent.errors import ConfigError

_ID_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_FINGERPRINT_HEX_RE = re.compile(r"[0-9a-f]{64}")


class Invalid(ValueError):
    """A value check failed: ``expected`` says what would be valid, ``hint`` how to get there."""

    def __init__(self, expected: str, hint: str = "") -> None:
        super().__init__(expected + hint)
        self.expected = expected
        self.hint = hint


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """'; did you mean X?' for the closest choice (case-insensitive first), or ''."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _url(text: str, *, allow_query: bool = False) -> str:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise Invalid("an http(s) URL", f" ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("an http:// or https:// URL with a host")
    if any(ch.isspace() for ch in text):
        raise Invalid("a URL without spaces")
    if not allow_query and (parts.query or parts.fragment):
        raise Invalid("a base URL without ?query or #fragment")
    return text


def check_endpoint(value: str) -> str:
    """A custom ingestor base URL; one trailing ``/`` is dropped (paths are appended to it)."""
    return _url(value).removesuffix("/")


def check_region(value: str) -> str:
    if value not in REGIONS:
        raise Invalid(f"one of {', '.join(REGIONS)}", suggest(value, REGIONS))
    return value


def check_readable_file(value: str) -> str:
    try:
        with open(value, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise Invalid("a readable file", f" ({exc.strerror or exc})") from None
    return value


def check_fingerprint(value: str) -> str:
    """``SHA256:`` + 64 lower-case hex digits; upper case, ``:`` between bytes and a missing
    prefix (as other tools print fingerprints) are accepted and normalised to that form."""
    compact = value.strip().lower().removeprefix("sha256:").replace(":", "")
    if not _FINGERPRINT_HEX_RE.fullmatch(compact):
        raise Invalid("'SHA256:' followed by 64 hex digits, as `logflux-agent check` prints it")
    return "SHA256:" + compact


def parse_hostport(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) → (host, port), or Invalid saying what is expected.

    The one parser of a listen address: the loader's check, the observe server and ``status``
    (``parse_listen``) and the socket/syslog listeners all go through it.
    """
    host, sep, port_text = value.rpartition(":")
    example = "host:port, like 127.0.0.1:9102 or [::1]:9102"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise Invalid(example, " (an IPv6 address goes in brackets)")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise Invalid(f"{example} (port 0 to 65535)")
    return host, int(port_text)


def parse_fingerprint(value: str) -> str:
    """``encryption.public_key_fingerprint`` normalised (``check_fingerprint``), or
    ConfigError naming the setting: the same rule for a config built in code."""
    try:
        return check_fingerprint(value)
    except Invalid as exc:
        raise ConfigError(
            f"encryption.public_key_fingerprint: expected {exc.expected}{exc.hint}, got {value!r}"
        ) from None


def check_listen(value: str) -> str:
    parse_hostport(value)
    return value


def parse_listen(listen: str) -> tuple[str, int]:
    """``metrics.listen`` as (host, port); ConfigError naming the setting and the value."""
    try:
        return parse_hostport(listen)
    except Invalid as exc:
        raise ConfigError(
            f"metrics.listen: expected {exc.expected}{exc.hint}, got {listen!r}"
        ) from None


def check_static_url(value: str) -> str:
    _url(value.replace("{region}", "eu"), allow_query=True)
    return value


def check_gateways(value: tuple[str, ...]) -> tuple[str, ...]:
    for url in value:
        _url(url)
    return value


def check_regex(value: str) -> str:
    try:
        re.compile(value)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise Invalid("a regular expression", f" ({exc})") from None
    return value


def check_input_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise Invalid("1 to 64 letters, digits, '_', '-' or '.'")
    return value


# The line framer's minimum (inputs/framing.py): a maximum under it cannot hold a cut marker.
# Stated here, where the loader checks it; a unit test keeps the two equal.
MIN_LINE_BYTES = 4


def check_line_bytes(value: int) -> int:
    if value < MIN_LINE_BYTES:
        raise Invalid(f"at least {MIN_LINE_BYTES} bytes")
    return value


def check_paths(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise Invalid("at least one path or glob, like ['/var/log/app/*.log']")
    return value


def split_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) already checked by ``check_listen`` → (host, port)."""
    return parse_hostport(text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` stays on this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_socket_mode(value: str) -> str:
    """A Unix socket's permission bits as octal text, like "0660"."""
    try:
        mode = int(value.removeprefix("0o"), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise Invalid('an octal file mode in quotes, like "0660"')
    return value


def check_socket_path(value: str) -> str:
    if not value.startswith("/"):
        raise Invalid("an absolute path, like /run/logflux-agent/agent.sock")
    if len(value.encode()) > 107:
        raise Invalid("a path of at most 107 bytes (the Unix socket limit)")
    return value


MIN_SPOOL_BYTES = 1024 * 1024


def check_spool_bytes(value: int) -> int:
    if value < MIN_SPOOL_BYTES:
        raise Invalid(f"at least {MIN_SPOOL_BYTES} bytes (1 MiB)")
    return value


def check_ledger_bytes(value: int) -> int:
    if value < 1024 * 1024:
        raise Invalid("at least 1048576 bytes (1 MiB)")
    return value


def check_positive_seconds(value: float) -> float:
    if value <= 0:
        raise Invalid("a number of seconds above 0")
    return value


# "Class.field" (or "*.field") -> check; a check returns the value to keep or raises Invalid.
CHECKS: dict[str, Callable[[Any], Any]] = {
    "AgentConfig.endpoint": check_endpoint,
    "AgentConfig.region": check_region,
    "AgentConfig.ca_file": check_readable_file,
    "EncryptionConfig.public_key_file": check_readable_file,
    "EncryptionConfig.public_key_fingerprint": check_fingerprint,
    "MetricsConfig.listen": check_listen,
    "DiscoveryConfig.static_url": check_static_url,
    "DiscoveryConfig.gateways": check_gateways,
    "MultilineConfig.start_pattern": check_regex,
    "MultilineConfig.continue_pattern": check_regex,
    "FileInputConfig.paths": check_paths,
    "*.max_line_bytes": check_line_bytes,
    "SocketInputConfig.tcp": check_listen,
    "SocketInputConfig.unix": check_socket_path,
    "SocketInputConfig.mode": check_socket_mode,
    "SyslogInputConfig.tcp": check_listen,
    "SyslogInputConfig.udp": check_listen,
    "SyslogInputConfig.unix": check_socket_path,
    "SyslogInputConfig.unix_stream": check_socket_path,
    "SyslogInputConfig.mode": check_socket_mode,
    "*.id": check_input_id,
    "SpoolConfig.max_bytes": check_spool_bytes,
    "SpoolConfig.segment_bytes": check_spool_bytes,
    "SpoolConfig.fsync_interval": check_positive_seconds,
    "LedgerConfig.max_bytes": check_ledger_bytes,
    "LedgerConfig.max_age": check_positive_seconds,
}
