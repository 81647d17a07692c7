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
    repeat: int = 1
    # throughput: "plain" access-log lines, or "cri-json" (container lines: CRI-wrapped JSON)
    line_format: str = "plain"
    # throughput: the file input's processors (a YAML list), or None for none
    processors: list[Any] | None = None
    # outage --input: "file" (a tailed file: memory stays bounded) or "socket" (the disk
    # spool: spooling and replay rates, spool_outage.py); socket: entries and spool fsync
    outage_input: str = "file"
    outage_entries: int | None = None
    spool_fsync: str = "every_batch"

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
        out = subprocess.run(
            [agent_bin, "version"], capture_output=True, text=True, timeout=60, check=False
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "logflux-agent (version unknown: `logflux-agent version` failed)"


def calibrate(entries: int = 20_000) -> float:
    """µs per entry of a fixed hot-path loop (v2 JSON + gzip + AES-GCM), best of 3.

    Printed with every run so figures from a busy or slower machine can be put in proportion
    (the issue's quiet-machine floor is ~5 µs per line).
    """
    import json
    import time
    import zlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        from isal import isal_zlib

        def gz(data: bytes) -> bytes:
            out: bytes = isal_zlib.compress(data, 1, wbits=31)
            return out
    except ImportError:

        def gz(data: bytes) -> bytes:
            return zlib.compress(data, 6, wbits=31)

    from gen import AccessLogGenerator

    lines = AccessLogGenerator(7).lines(1000)
    aead = AESGCM(bytes(32))
    nonce = bytes(12)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for i in range(entries):
            plain = json.dumps(
                {
                    "v": "2.0",
                    "type": "log",
                    "source": "/var/log/access.log",
                    "level": 7,
                    "ts": "2026-11-28T10:00:00.000000Z",
                    "message": lines[i % 1000],
                },
                separators=(",", ":"),
            ).encode()
            aead.encrypt(nonce, gz(plain), None)
        best = min(best, time.perf_counter() - started)
    return round(best / entries * 1e6, 2)


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
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "mem_gib": mem_total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "agent": agent_version(agent_bin),
        "isal_in_harness_env": has_isal,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "calibration_us_per_entry": calibrate(),
    }
