"""CPU time and resident memory of a whole process tree, read from /proc (Linux).

Used by ``logflux-agent bench`` and the repo's benchmarks to measure the agent and its encode
workers as one thing. CPU of a tree = the root's own utime+stime plus its cutime+cstime
(children it already reaped) plus the same for every live descendant: a child's time moves into
its parent's c-fields at the moment it is reaped, so the sum stays continuous as workers come
and go. RSS is summed over the live tree (shared pages count once per process, as ``ps`` shows
them); PSS splits shared pages between their sharers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def children(pid: int) -> list[int]:
    """All live descendants of ``pid`` (every thread's children, recursively)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            kids = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            found.append(int(kid))
            found.extend(children(int(kid)))
    return found


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, include_reaped: bool = True) -> float:
    """utime+stime (and cutime+cstime) of one process, in seconds; 0 when it is gone."""
    f = stat_fields(pid)
    if f is None:
        return 0.0
    # Fields after the name start at index 3 of the man page: utime is #14 -> f[11].
    ticks = int(f[11]) + int(f[12])
    if include_reaped:
        ticks += int(f[13]) + int(f[14])
    return ticks / CLK_TCK


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages (libpython, libcrypto...) split between sharers."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class TreeSample:
    """One look at a process tree: when, CPU seconds so far, RSS of all and of the root."""

    t: float
    cpu: float
    rss_total: int
    rss_main: int
    processes: int


def sample_tree(pid: int) -> TreeSample:
    kids = children(pid)
    cpu = cpu_seconds(pid) + sum(cpu_seconds(k) for k in kids)
    main = rss_bytes(pid)
    return TreeSample(
        time.monotonic(), cpu, main + sum(rss_bytes(k) for k in kids), main, 1 + len(kids)
    )


def pss_tree(pid: int) -> int:
    return pss_bytes(pid) + sum(pss_bytes(k) for k in children(pid))
