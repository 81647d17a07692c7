"""Process-tree sampling over a run, machine-wide busy/steal shares and per-thread breakdowns.

The tree arithmetic itself (CPU of a tree including reaped children, RSS, PSS) is the package's
own, ``logflux_agent.proctree``, which ``logflux-agent bench`` uses too.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from logflux_agent.proctree import (
    CLK_TCK,
    PAGE,
    TreeSample,
    children,
    cpu_seconds,
    pss_bytes,
    rss_bytes,
    sample_tree,
)
from logflux_agent.proctree import stat_fields as _stat_fields

__all__ = ["PAGE", "TreeSample", "cpu_seconds", "rss_bytes"]


def system_ticks() -> tuple[int, int, int]:
    """(busy, steal, total) clock ticks of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal = fields[7] if len(fields) > 7 else 0
    total = sum(fields[:8])
    return total - idle - steal, steal, total


def system_share(before: tuple[int, int, int], after: tuple[int, int, int]) -> dict[str, float]:
    """Machine-wide busy and steal percentages (of all cores) between two system_ticks()."""
    total = max(after[2] - before[2], 1)
    return {
        "machine_busy_percent": round((after[0] - before[0]) / total * 100, 1),
        "steal_percent": round((after[1] - before[1]) / total * 100, 1),
    }


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def threads(pid: int) -> list[dict[str, object]]:
    """CPU seconds per thread of one process (name from comm), busiest first."""
    out: list[dict[str, object]] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        # Python does not name OS threads: tell the main (event-loop) thread from the others.
        name = "main" if int(tid) == pid else f"tid {tid}"
        f = raw[raw.rindex(")") + 2 :].split()
        out.append(
            {"tid": int(tid), "name": name, "cpu_s": round((int(f[11]) + int(f[12])) / CLK_TCK, 2)}
        )
    out.sort(key=lambda t: -float(str(t["cpu_s"])))
    return out


def minor_faults(pid: int) -> int | None:
    """Minor page faults of one process so far (``minflt``), None when it is gone."""
    f = _stat_fields(pid)
    return int(f[7]) if f is not None else None


def breakdown(pid: int) -> list[dict[str, object]]:
    """Each live process of the tree: pid, RSS and PSS MiB, CPU seconds (own + reaped),
    command line, and its busiest threads."""
    return [
        {
            "pid": p,
            "rss_mib": round(rss_bytes(p) / 2**20, 1),
            "pss_mib": round(pss_bytes(p) / 2**20, 1),
            "cpu_s": round(cpu_seconds(p), 2),
            "minor_faults": minor_faults(p),
            "cmd": cmdline(p)[:120],
            "threads": [t for t in threads(p) if float(str(t["cpu_s"])) >= 0.05][:6],
        }
        for p in [pid, *children(pid)]
    ]


@dataclass
class TreeSampler:
    """Samples a process tree every ``interval`` seconds in a thread; keeps the whole series."""

    pid: int
    interval: float = 0.1
    samples: list[TreeSample] = field(default_factory=list)
    # Each process of the tree at the moment the tree's RSS was highest.
    peak_breakdown: list[dict[str, object]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self.samples.append(sample_tree(self.pid))
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        peak = 0
        while not self._stop.wait(self.interval):
            sample = sample_tree(self.pid)
            self.samples.append(sample)
            if sample.rss_total > peak * 1.02:  # only clear new peaks: a breakdown costs more
                peak = sample.rss_total
                self.peak_breakdown = breakdown(self.pid)

    def stop(self, dump_to: Path | None = None) -> TreeSample:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        last = sample_tree(self.pid)
        if last.processes and _stat_fields(self.pid) is not None:
            self.samples.append(last)
        if dump_to is not None:
            self.dump(dump_to)
        return self.samples[-1]

    def now(self) -> TreeSample:
        """A fresh sample (also recorded), for marking the edges of a measured window."""
        s = sample_tree(self.pid)
        self.samples.append(s)
        return s

    def dump(self, path: Path) -> None:
        """The series as CSV (t relative to the first sample, cpu s, rss bytes), for plots."""
        t0 = self.samples[0].t if self.samples else 0.0
        rows = ["t,cpu_s,rss_total,rss_main,processes"]
        rows += [
            f"{s.t - t0:.3f},{s.cpu:.3f},{s.rss_total},{s.rss_main},{s.processes}"
            for s in self.samples
        ]
        path.write_text("\n".join(rows) + "\n")

    def peak_rss(self, since: float = 0.0, until: float = float("inf")) -> tuple[int, int]:
        """(peak of the tree sum, peak of the main process) over samples in [since, until]."""
        window = [s for s in self.samples if since <= s.t <= until] or self.samples
        return max(s.rss_total for s in window), max(s.rss_main for s in window)

    def cpu_between(self, since: float, until: float) -> float:
        """Tree CPU seconds spent between two instants (nearest samples)."""
        before = [s for s in self.samples if s.t <= since]
        after = [s for s in self.samples if s.t >= until]
        a = before[-1] if before else self.samples[0]
        b = after[0] if after else self.samples[-1]
        return b.cpu - a.cpu
