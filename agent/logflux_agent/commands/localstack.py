"""A reference ingestor and an agent as child processes on loopback, for `demo` and `bench`.

Both commands show a user the real thing without a LogFlux account: the bundled reference
ingestor (``logflux-agent dev-ingestor``) with a throwaway key pair, and the real agent run as a
separate process with a config written into a work directory. This module owns starting them,
reading the ingestor's address and key from its ready file, and stopping them like a service
manager would (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class LocalIngestor:
    """A running reference ingestor: its process, base URL, an accepted API key, key fingerprint."""

    proc: subprocess.Popen[bytes]
    url: str
    api_key: str
    fingerprint: str

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = get_json(f"{self.url}/_ref/stats")
        return stats


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def start_ingestor(workdir: Path, *extra: str, timeout: float = 30.0) -> LocalIngestor:
    """Start ``dev-ingestor`` on a free loopback port; wait until its ready file names it."""
    ready = workdir / "ingestor.json"
    with open(workdir / "ingestor.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "logflux_agent",
                "dev-ingestor",
                "--port",
                "0",
                "--ready-file",
                str(ready),
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while not ready.exists() or ready.stat().st_size == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop([proc])
            raise RuntimeError("the reference ingestor did not start (its log: ingestor.log)")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    return LocalIngestor(proc, info["url"], info["api_keys"][0], info["fingerprint"])


def write_config(workdir: Path, text: str) -> Path:
    """The agent's config file, mode 600 (it holds the key), as an operator would keep it."""
    config = workdir / "agent.yaml"
    config.write_text(text, encoding="utf-8")
    os.chmod(config, 0o600)
    return config


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """The real agent (this interpreter's ``logflux_agent``), its output into ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "logflux_agent", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(procs: list[subprocess.Popen[bytes]], grace: float = 15.0) -> None:
    """SIGTERM each live process (it drains), SIGKILL what is still alive after ``grace``."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
