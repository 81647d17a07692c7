"""Can the agent use its ``state_dir``? One answer, with the true reason and how to fix it.

The state directory holds the checkpoints and the dead-letter file, so the agent refuses to
run without it. A failure has different causes that need different fixes, and the message
names the one that applies:

* ``read-only``: the directory (or the ancestor it would be created in) is on a filesystem
  mounted read-only (EROFS): remount it read-write or choose another path;
* ``permission``: this user may not write there (EACCES/EPERM): the owner and mode are shown;
* ``not-a-directory``: a component of the path is a file (ENOTDIR/EEXIST);
* ``full``: no space or inode left to create a file (ENOSPC/EDQUOT);
* ``other``: anything else, with the system's words.

The agent exits 1 (a runtime failure, not 2): the fix is on the machine — a mount, an owner —
not in the configuration file, and under systemd a restart after the fix picks it up.

``inspect`` answers without creating or writing anything (for ``validate``); ``prepare``
creates the directory and proves it writable with a probe file (for ``run``), since only a
real write sees ACLs, security modules or an immutable attribute.

``hold`` makes the directory this process's own for as long as it runs: two agents on one
``state_dir`` would each rewrite ``checkpoints.json`` with only what they follow, so the
checkpoints of the other's files (and of generations rotated while one was down) would vanish.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from logflux_agent.config.model import DEFAULT_STATE_DIR
from logflux_agent.errors import StateError

_PROBE = ".logflux-agent-write-test"
LOCK_FILE = ".logflux-agent.lock"


@dataclass(frozen=True, slots=True)
class StateProblem:
    """Why ``path`` cannot be used: ``kind`` is one of the module docstring's names."""

    kind: str
    message: str


def _user() -> str:
    uid = os.geteuid()
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _existing_ancestor(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _mount_point(path: Path) -> Path:
    """The mount holding ``path``: the longest mount point above it in /proc/self/mountinfo
    (a bind mount has the same device as its source, so st_dev alone cannot tell)."""
    path = path.resolve()
    best: Path | None = None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 5:
                    continue
                point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4]))
                if (path == point or point in path.parents) and (
                    best is None or len(point.parts) > len(best.parts)
                ):
                    best = point
    except OSError:
        pass
    if best is not None:
        return best
    dev = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == dev:
        path = path.parent
    return path


def _owner_mode(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return ""
    return f"{path} is owned by uid {st.st_uid} with mode {stat.S_IMODE(st.st_mode):04o}"


def _hint(path: Path) -> str:
    if str(path) == DEFAULT_STATE_DIR and os.geteuid() != 0:
        return (
            f"; {DEFAULT_STATE_DIR} is the packaged service's directory (user logflux-agent): "
            "run as that user (systemctl start logflux-agent), or set state_dir: to a "
            "directory you own, e.g. ~/.local/state/logflux-agent"
        )
    return "; give this user write access to it, or set state_dir: to a directory it owns"


def describe(path: Path, err: int, where: Path | None = None) -> StateProblem:
    """The problem behind errno ``err`` met while creating or writing ``path`` (at ``where``)."""
    where = where or path
    if err == errno.EROFS:
        try:
            mounted = f" (mounted read-only at {_mount_point(_existing_ancestor(where))})"
        except OSError:
            mounted = ""
        return StateProblem(
            "read-only",
            f"state_dir {path} is on a read-only filesystem{mounted}: the agent writes its "
            "checkpoints there; remount it read-write or set state_dir: to a writable path",
        )
    if err in (errno.EACCES, errno.EPERM):
        owner = _owner_mode(where)
        return StateProblem(
            "permission",
            f"state_dir {path}: permission denied for {_user()}"
            + (f": {owner}" if owner else "")
            + _hint(path),
        )
    if err in (errno.ENOTDIR, errno.EEXIST):
        return StateProblem(
            "not-a-directory", f"state_dir {path}: {where} exists and is not a directory"
        )
    if err in (errno.ENOSPC, errno.EDQUOT):
        return StateProblem(
            "full", f"state_dir {path}: the filesystem holding it has no space or inodes left"
        )
    return StateProblem("other", f"state_dir {path}: {os.strerror(err)}")


def inspect(state_dir: str | os.PathLike[str]) -> StateProblem | None:
    """Would ``prepare`` succeed? Decided without creating or writing anything."""
    path = Path(state_dir)
    target = _existing_ancestor(path)
    if not target.is_dir():
        return describe(path, errno.ENOTDIR, target)
    try:
        if os.statvfs(target).f_flag & os.ST_RDONLY:
            return describe(path, errno.EROFS, target)
    except OSError as exc:
        return describe(path, exc.errno or errno.EIO, target)
    if not os.access(target, os.W_OK | os.X_OK):
        return describe(path, errno.EACCES, target)
    return None


def prepare(state_dir: str | os.PathLike[str]) -> None:
    """Create ``state_dir`` if needed and prove a file can be created in it; ``StateError``
    with the true reason otherwise."""
    path = Path(state_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = _existing_ancestor(path)
        if exc.errno == errno.EEXIST or not where.is_dir():
            raise StateError(describe(path, errno.ENOTDIR, where).message) from exc
        raise StateError(describe(path, exc.errno or errno.EIO, where).message) from exc
    probe = path / f"{_PROBE}.{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise StateError(describe(path, exc.errno or errno.EIO).message) from exc
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError as exc:
        raise StateError(describe(path, exc.errno or errno.EIO).message) from exc


def hold(state_dir: str | os.PathLike[str]) -> int:
    """Prepare ``state_dir`` and take an exclusive ``flock`` on its lock file; the returned
    descriptor holds it (the kernel releases it when the process ends, also on kill -9).
    ``StateError`` when another process holds it."""
    prepare(state_dir)
    path = Path(state_dir)
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateError(describe(path, exc.errno or errno.EIO).message) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StateError(
                f"state_dir {path}: in use by another logflux-agent process; give each agent "
                "its own state_dir"
            ) from None
        raise StateError(describe(path, exc.errno or errno.EIO).message) from exc
    return fd
