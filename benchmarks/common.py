"""What every scenario shares: the run options, the machine description, the work directory."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Options:
    agent_bin: str
    workdir: Path
    lines: int
    quick: bool
    outage_seconds: float
    outage_rate: float
    idle_files: int
    idle_seconds: float
    latency_rate: float
    latency_seconds: float
    health_interval: float
    timeout: float
    syslog_ng: str  # "auto" | "no" | "only"
    rss_bound_mib: float | None
    encode_workers: int
    max_in_flight: int
    flush_interval: float
    profile: bool

    def scaled(self, full: float, quick: float) -> float:
        return quick if self.quick else full


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def agent_version(agent_bin: str) -> str:
    try:
        out = subprocess.run([agent_bin, "version"], capture_output=True, text=True, timeout=60,
                             check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "logflux-agent (version unknown: `logflux-agent version` failed)"


def machine(agent_bin: str) -> dict[str, Any]:
    try:
        import isal  # noqa: F401

        has_isal = True
    except ImportError:
        has_isal = False
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": cpu_model(), "mem_gib": mem_total,
            "kernel": platform.release(), "python": platform.python_version(),
            "agent": agent_version(agent_bin), "isal_in_harness_env": has_isal,
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
