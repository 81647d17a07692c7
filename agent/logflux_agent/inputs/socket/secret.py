"""The TCP shared secret of protocol.md §10 and the ``agent.pid`` file beside it.

This module owns finding, creating and reading ``agent.secret``. The C SDK reads the first line
of ``$XDG_RUNTIME_DIR/logflux/agent.secret``, else ``$HOME/.logflux/runtime/agent.secret``, else
``/tmp/.logflux-runtime/agent.secret`` (the first whose variable is set), and calls an agent
running when ``agent.pid`` in the same directory names a live process. The agent therefore:

- reads an existing secret (the configured ``shared_secret_file`` first, then the §10 location
  for its own environment), so clients that read it earlier keep working across restarts;
- otherwise creates one: 32 random bytes as 64 hex characters, mode 0600, in a directory it
  creates with mode 0700 — written with ``O_CREAT|O_EXCL|O_NOFOLLOW`` so a link planted in a
  shared directory (``/tmp``) is never followed;
- refuses a secret file or directory that is a symbolic link, is owned by another user, or is
  readable by group or others (someone else could have chosen or read it);
- writes ``agent.pid`` next to every secret file it uses, and removes it on stop.

The secret's value is never logged, put in an error message or a repr: ``SharedSecret`` shows
only its paths.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping

from logflux_agent.errors import AgentError

SECRET_NAME = "agent.secret"
PID_NAME = "agent.pid"
_MAX_SECRET_BYTES = 4096


class SecretError(AgentError):
    """The secret cannot be read or created safely; the message names the path, never the value."""


def default_secret_path(environ: Mapping[str, str]) -> str:
    """Where the C SDK looks for the secret, for this environment (protocol.md §10)."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "logflux", SECRET_NAME)
    home = environ.get("HOME")
    if home:
        return os.path.join(home, ".logflux", "runtime", SECRET_NAME)
    return os.path.join("/tmp", ".logflux-runtime", SECRET_NAME)


class SharedSecret:
    """The secret bytes plus the files that publish it. ``repr`` shows paths only."""

    __slots__ = ("_value", "created", "paths", "pid_paths")

    def __init__(self, value: bytes, paths: list[str], created: bool) -> None:
        self._value = value
        self.paths = paths
        self.created = created
        self.pid_paths: list[str] = []

    @property
    def value(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return f"SharedSecret(paths={self.paths!r})"

    def write_pid_files(self, pid: int) -> None:
        for path in self.paths:
            pid_path = os.path.join(os.path.dirname(path), PID_NAME)
            try:
                _write_new(pid_path, f"{pid}\n".encode(), replace=True)
            except OSError:
                continue
            self.pid_paths.append(pid_path)

    def remove_pid_files(self) -> None:
        for path in self.pid_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.pid_paths.clear()


def load_or_create(configured: str | None, environ: Mapping[str, str]) -> SharedSecret:
    """The secret from ``configured`` or the §10 location; created (and published) if absent."""
    locations = [p for p in (configured, default_secret_path(environ)) if p]
    for path in locations:
        value = _read_existing(path)
        if value is not None:
            others = [p for p in locations if p != path]
            written = [path, *_publish(others, value, strict=False)]
            return SharedSecret(value, written, created=False)
    value = secrets.token_hex(32).encode("ascii")
    written = _publish(locations, value, strict=configured is not None)
    if not written:
        raise SecretError(
            f"cannot create the shared secret file in any of {', '.join(locations)}: "
            "set shared_secret_file to a writable path"
        )
    return SharedSecret(value, written, created=True)


def _publish(paths: list[str], value: bytes, *, strict: bool) -> list[str]:
    """Write ``value`` to each path that does not hold a secret yet; the paths written."""
    written: list[str] = []
    for i, path in enumerate(paths):
        try:
            _ensure_dir(os.path.dirname(path))
            _write_new(path, value + b"\n", replace=False)
        except FileExistsError:
            if _read_existing(path) == value:
                written.append(path)
            continue
        except OSError as exc:
            if strict and i == 0:
                raise SecretError(
                    f"cannot create the shared secret file {path}: {exc.strerror or exc}"
                ) from None
            continue
        written.append(path)
    return written


def _ensure_dir(path: str) -> None:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise SecretError(f"cannot create {path}: {exc.strerror or exc}") from None
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise SecretError(f"{path} is not a directory (a symbolic link?); refusing to use it")
    if info.st_uid != os.geteuid():
        raise SecretError(f"{path} is owned by uid {info.st_uid}, not by the agent's user")


def _write_new(path: str, data: bytes, *, replace: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_TRUNC if replace else os.O_EXCL
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_existing(path: str) -> bytes | None:
    """The secret in ``path`` (its first line), None if there is no such file; SecretError
    if it exists but may not be trusted or read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SecretError(
            f"cannot read the shared secret file {path}: {exc.strerror or exc}"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"the shared secret file {path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise SecretError(
                f"the shared secret file {path} is owned by uid {info.st_uid}, not by the "
                "agent's user: refusing a secret someone else chose"
            )
        if info.st_mode & 0o077:
            raise SecretError(
                f"the shared secret file {path} is readable by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}): run chmod 600 {path}"
            )
        data = os.read(fd, _MAX_SECRET_BYTES)
    finally:
        os.close(fd)
    value = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not value:
        raise SecretError(f"the shared secret file {path} is empty")
    return value
