"""What would fail when the agent starts with this configuration, checked without starting it.

``validate`` runs these after the file itself was found valid. Nothing is created or written,
nothing is sent: the state directory is judged by ``statedir.inspect``, inputs by looking at
the filesystem, the metrics address by binding it for an instant. Each check says ``ok``,
``warning`` (the agent runs, but something will not work as written: a path that does not
exist yet, a port in use) or ``error`` (the agent would exit: the state directory).

The checks run as the user who calls ``validate``; the packaged service runs as
``logflux-agent``, so the state directory and file permissions are those of the caller.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from logflux_agent.config.model import (
    AgentConfig,
    FileInputConfig,
    InputConfig,
    JournaldInputConfig,
)
from logflux_agent.config.sockets import SocketInputConfig, SyslogInputConfig
from logflux_agent.config.values import parse_hostport
from logflux_agent.statedir import inspect

OK, WARNING, ERROR = "ok", "warning", "error"
_GLOB_CHARS = frozenset("*?[")
_COUNT_CAP = 10_000  # files counted per pattern: enough to report, bounded on a huge tree


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: ``subject`` is what was checked (``state_dir``, ``input app``, ...)."""

    subject: str
    status: str
    message: str


def run_checks(config: AgentConfig) -> list[Check]:
    checks = [_state_dir(config)]
    for cfg in config.inputs:
        checks.extend(_input(cfg))
    if config.metrics.enabled:
        checks.append(_metrics(config.metrics.listen))
    return checks


def _state_dir(config: AgentConfig) -> Check:
    problem = inspect(config.state_dir)
    if problem is None:
        verb = "is writable" if Path(config.state_dir).is_dir() else "can be created"
        return Check("state_dir", OK, f"{config.state_dir} {verb}")
    return Check("state_dir", ERROR, problem.message)


def _input(cfg: InputConfig) -> list[Check]:
    subject = f"input {cfg.id}"
    if isinstance(cfg, FileInputConfig):
        return [_file_pattern(subject, pattern) for pattern in cfg.paths]
    if isinstance(cfg, JournaldInputConfig):
        out: list[Check] = []
        if shutil.which(cfg.journalctl) is None:
            out.append(
                Check(subject, WARNING, f"{cfg.journalctl} not found: the input will not start")
            )
        if cfg.directory:
            out.append(_readable_dir(subject, Path(cfg.directory)))
        return out or [Check(subject, OK, f"{cfg.journalctl} found")]
    if isinstance(cfg, SocketInputConfig | SyslogInputConfig):
        return _listeners(subject, cfg)
    return []


def _listeners(subject: str, cfg: SocketInputConfig | SyslogInputConfig) -> list[Check]:
    """Where a socket or syslog input listens: can each address be bound, each path served?"""
    later = "the input will not start"
    out: list[Check] = []
    if cfg.tcp is not None:
        out.append(_bind(subject, f"tcp {cfg.tcp}", cfg.tcp, socket.SOCK_STREAM, later))
    unix = cfg.unix_path if isinstance(cfg, SocketInputConfig) else cfg.unix
    if isinstance(cfg, SyslogInputConfig) and cfg.udp is not None:
        out.append(_bind(subject, f"udp {cfg.udp}", cfg.udp, socket.SOCK_DGRAM, later))
    if unix is not None:
        out.append(_unix_path(subject, Path(unix)))
    if isinstance(cfg, SyslogInputConfig) and cfg.unix_stream is not None:
        out.append(_unix_path(subject, Path(cfg.unix_stream)))
    return out


def _unix_path(subject: str, path: Path) -> Check:
    parent = path.parent
    if path.is_socket():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(str(path)) == 0:
                return Check(subject, WARNING, f"{path} is served by a running program already")
        return Check(subject, OK, f"{path} is a stale socket: it will be replaced")
    if path.exists():
        return Check(subject, WARNING, f"{path} exists and is not a socket: the input refuses it")
    if not parent.is_dir():
        # Under systemd, RuntimeDirectory= creates /run/logflux-agent before the agent starts.
        return Check(
            subject,
            WARNING,
            f"directory {parent} does not exist (the packaged unit's RuntimeDirectory= "
            "creates /run/logflux-agent; elsewhere create it)",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        return Check(subject, WARNING, f"directory {parent} is not writable by this user")
    return Check(subject, OK, f"{path} can be created")


def _base_dir(pattern: str) -> Path:
    """The deepest directory of ``pattern`` above its first glob character."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _file_pattern(subject: str, pattern: str) -> Check:
    if not _GLOB_CHARS & set(pattern):
        path = Path(pattern)
        if path.is_file():
            if os.access(path, os.R_OK):
                return Check(subject, OK, f"{pattern} is readable")
            return Check(
                subject, WARNING, f"{pattern} is not readable by this user: it will be skipped"
            )
        if path.exists():
            return Check(subject, WARNING, f"{pattern} exists but is not a regular file")
        parent = _readable_dir(subject, path.parent)
        if parent.status != OK:
            return parent
        return Check(subject, WARNING, f"{pattern} does not exist yet: the agent waits for it")
    base = _readable_dir(subject, _base_dir(pattern))
    if base.status != OK:
        return base
    matches = 0
    for _ in glob.iglob(pattern, recursive="**" in pattern):
        matches += 1
        if matches >= _COUNT_CAP:
            break
    if matches == 0:
        return Check(subject, WARNING, f"{pattern} matches no file yet: the agent waits for one")
    more = "+" if matches >= _COUNT_CAP else ""
    return Check(subject, OK, f"{pattern} matches {matches}{more} file(s)")


def _readable_dir(subject: str, path: Path) -> Check:
    if not path.exists():
        return Check(subject, WARNING, f"directory {path} does not exist")
    if not path.is_dir():
        return Check(subject, WARNING, f"{path} is not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        return Check(subject, WARNING, f"directory {path} is not readable by this user")
    return Check(subject, OK, f"directory {path} is readable")


def _metrics(listen: str) -> Check:
    return _bind(
        "metrics", listen, listen, socket.SOCK_STREAM, "`run` exits 1 if it cannot bind it at start"
    )


def _bind(subject: str, shown: str, listen: str, kind: int, consequence: str) -> Check:
    """Bind ``HOST:PORT`` for an instant, as the agent will (SO_REUSEADDR for streams)."""
    host, port = parse_hostport(listen)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=kind)[0]
        with socket.socket(family, kind, proto) as sock:
            if kind == socket.SOCK_STREAM:
                # As the agent binds: a TIME_WAIT socket is no conflict.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        why = {
            errno.EADDRINUSE: "is in use (by this agent already running, or another program)",
            errno.EACCES: "needs privileges (a port below 1024)",
            errno.EADDRNOTAVAIL: "is not an address of this machine",
        }.get(exc.errno or 0, f"cannot be bound ({exc.strerror or exc})")
        return Check(subject, WARNING, f"{shown} {why}: {consequence}")
    return Check(subject, OK, f"{shown} is free")
