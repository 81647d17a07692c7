"""Binding the listening sockets of the socket and syslog inputs, safely.

This module owns the rules for a Unix socket path (shared by ``type: socket`` and the syslog
input's datagram socket) and for TCP/UDP addresses:

- an existing path is replaced only when it is a socket owned by the agent's user that nobody
  answers on (a stale file left by a crash: a connect test gets "connection refused"); a live
  listener, a socket owned by someone else, or anything that is not a socket is refused with an
  error that says which;
- the socket is bound under a temporary name in the same directory, given its ``mode`` and
  ``group``, and renamed into place: there is no moment at which it exists with the umask's
  permissions;
- ``HOST:PORT`` splits like the metrics ``listen`` setting; ``is_loopback`` says whether a host
  stays on this machine (``localhost``, 127.0.0.0/8, ``::1``).
"""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import stat

from logflux_agent.config.model import is_loopback, split_hostport
from logflux_agent.errors import AgentError

__all__ = ["ListenError", "bind_inet", "bind_unix", "is_loopback", "remove_unix"]


class ListenError(AgentError):
    """A socket cannot be bound; the message names the path or address and why."""


def parse_mode(text: str) -> int:
    """``"0660"`` / ``"660"`` / ``"0o660"`` → 0o660; ValueError when not an octal mode."""
    value = int(text.removeprefix("0o"), 8)
    if not 0 <= value <= 0o777:
        raise ValueError(text)
    return value


def resolve_group(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ListenError(f"group {name!r} does not exist") from None


def bind_unix(path: str, kind: int, mode: int, group: str | None) -> socket.socket:
    """A bound (not yet listening) Unix socket of ``kind`` at ``path``; see the module doc."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise ListenError(
                f"cannot create the directory {directory} for socket {path}: {exc.strerror or exc}"
            ) from None
    _clear_stale(path, kind)
    gid = resolve_group(group) if group is not None else -1
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    sock = socket.socket(socket.AF_UNIX, kind)
    try:
        sock.bind(tmp)
        os.chmod(tmp, mode)
        if gid >= 0:
            os.chown(tmp, -1, gid)
        os.rename(tmp, path)
    except OSError as exc:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ListenError(f"cannot create socket {path}: {exc.strerror or exc}") from None
    return sock


def _clear_stale(path: str, kind: int) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ListenError(f"cannot inspect {path}: {exc.strerror or exc}") from None
    if not stat.S_ISSOCK(info.st_mode):
        raise ListenError(
            f"{path} exists and is not a socket; refusing to replace it (remove it, or "
            "choose another path)"
        )
    if info.st_uid != os.geteuid():
        raise ListenError(
            f"{path} is a socket owned by uid {info.st_uid}, not by the agent's user; "
            "refusing to replace it"
        )
    probe = socket.socket(socket.AF_UNIX, kind)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        pass  # stale: left by a process that died without removing it
    except OSError as exc:
        raise ListenError(f"cannot check whether {path} is in use: {exc.strerror or exc}") from None
    else:
        raise ListenError(
            f"another process is listening on {path}; refusing to take over its socket"
        )
    finally:
        probe.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_unix(path: str, inode: int) -> None:
    """Remove ``path`` if it is still the socket we bound (not a successor's)."""
    with contextlib.suppress(OSError):
        if os.lstat(path).st_ino == inode:
            os.unlink(path)


def bind_inet(address: str, kind: int) -> socket.socket:
    """A bound TCP (SOCK_STREAM) or UDP (SOCK_DGRAM) socket at ``HOST:PORT``."""
    host, port = split_hostport(address)
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot resolve {address}: {exc.strerror or exc}") from None
    family, _, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock
