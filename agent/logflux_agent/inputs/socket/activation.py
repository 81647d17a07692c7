"""systemd socket activation: Unix sockets handed to the agent instead of bound by it.

When systemd starts the agent from a socket unit (``systemd/logflux-agent.socket``) it passes
the listening sockets as descriptors 3, 4, … and says so in ``LISTEN_PID`` (must be this
process) and ``LISTEN_FDS`` (how many; ``sd_listen_fds(3)``). This module owns taking them:
an input whose Unix path is one of them serves that socket instead of binding its own, and
leaves the file alone on stop (systemd created it, with the unit's ``SocketMode=`` and
``SocketGroup=``, and keeps listening while the agent restarts).

The descriptors are read once per process and kept open here; an input gets a duplicate, so an
input that crashes and restarts, or is rebuilt by a reload, can take the socket again. They are
not inherited by child processes (the encode workers, journalctl).
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Mapping

SD_LISTEN_FDS_START = 3
_MAX_FDS = 64  # more than any configuration has Unix sockets; a bound on a bogus LISTEN_FDS

_inherited: dict[tuple[str, int], int] | None = None


def inherited_unix(
    path: str, kind: int, environ: Mapping[str, str] | None = None
) -> socket.socket | None:
    """A duplicate of the socket systemd passed for ``path`` (of ``kind``), or None."""
    global _inherited
    if _inherited is None:
        _inherited = _take(os.environ if environ is None else environ)
    fd = _inherited.get((os.path.normpath(path), kind))
    if fd is None:
        return None
    sock = socket.socket(fileno=os.dup(fd))
    sock.setblocking(False)
    return sock


def activated_paths() -> list[str]:
    """The Unix paths systemd passed (after the first ``inherited_unix``)."""
    return sorted(path for path, _ in (_inherited or {}))


def _take(environ: Mapping[str, str]) -> dict[tuple[str, int], int]:
    """The Unix sockets passed to this process: (path, type) → descriptor."""
    try:
        if int(environ.get("LISTEN_PID", "0")) != os.getpid():
            return {}
        count = min(int(environ.get("LISTEN_FDS", "0")), _MAX_FDS)
    except ValueError:
        return {}
    found: dict[tuple[str, int], int] = {}
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + max(count, 0)):
        key = _unix_socket(fd)
        if key is not None:
            os.set_inheritable(fd, False)
            found[key] = fd
    return found


def _unix_socket(fd: int) -> tuple[str, int] | None:
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        probe = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    with probe:
        if probe.family != socket.AF_UNIX:
            return None
        name = probe.getsockname()
        if not isinstance(name, str) or not name:
            return None
        return os.path.normpath(name), probe.type
