"""The agent under test: its config, its process, and a /health prober.

The agent is the real ``logflux-agent`` console script from the venv, run with a config the
harness writes (the documented YAML shape) and stopped with SIGTERM like a service manager.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common import Options
from procs import Child, Http, free_port, python_env, wait_for


def agent_config(
    *,
    api_key: str,
    endpoint: str,
    state_dir: Path,
    paths: list[str],
    metrics_port: int,
    sender: dict[str, Any] | None = None,
    queue: dict[str, Any] | None = None,
    file_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The benchmark config: one file input from the beginning, the documented sender shape."""
    return {
        "api_key": api_key,
        "endpoint": endpoint,
        "state_dir": str(state_dir),
        "inputs": [
            {
                "type": "file",
                "id": "bench",
                "paths": paths,
                "start_at": "beginning",
                **(file_input or {}),
            }
        ],
        "sender": {
            "batch_max_entries": 1000,
            "flush_interval": 1.0,
            "max_in_flight": 4,
            "encode_workers": 1,
            **(sender or {}),
        },
        "queue": {"max_entries": 20000, "max_bytes": 33554432, **(queue or {})},
        "metrics": {"enabled": True, "listen": f"127.0.0.1:{metrics_port}"},
        "logging": {"level": "info"},
    }


def bench_config(
    opts: Options,
    api_key: str,
    endpoint: str,
    work: Path,
    paths: list[str],
    queue: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``agent_config`` with the sender options the scenario was run with."""
    return agent_config(
        api_key=api_key,
        endpoint=endpoint,
        state_dir=work / "state",
        paths=paths,
        metrics_port=free_port(),
        sender={
            "encode_workers": opts.encode_workers,
            "max_in_flight": opts.max_in_flight,
            "flush_interval": opts.flush_interval,
        },
        queue=queue,
    )


class Agent:
    """One running agent process."""

    def __init__(self, agent_bin: str, workdir: Path, config: dict[str, Any]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        # A --workdir reused from an earlier run holds checkpoints saying the file was read.
        shutil.rmtree(config["state_dir"], ignore_errors=True)
        self.config = config
        self.config_path = workdir / "agent.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        os.chmod(self.config_path, 0o600)  # it holds an API key, even if a throwaway one
        listen = str(config["metrics"]["listen"])
        self.metrics_port = int(listen.rsplit(":", 1)[1])
        self.child = Child(
            "logflux-agent",
            [agent_bin, "--config", str(self.config_path)],
            workdir / "agent.log",
            env=python_env(),
        )
        self.exit_code: int | None = None
        self.stop_seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.child.pid

    def wait_health(self, timeout: float = 60.0) -> None:
        wait_for(
            lambda: probe_health(self.metrics_port)[0] == 200,
            timeout,
            "the agent's /health",
            interval=0.02,
            alive=self.child,
        )

    def metric(self, name: str) -> float | None:
        """One unlabelled sample from /metrics (sum over label sets), or None."""
        try:
            status, body = Http(f"http://127.0.0.1:{self.metrics_port}", 5).request(
                "GET", "/metrics"
            )
        except OSError:
            return None
        if status != 200:
            return None
        total = None
        pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([-+0-9.eE]+|NaN)$", re.M)
        for m in pattern.finditer(body.decode()):
            total = (total or 0.0) + float(m.group(1))
        return total

    def stop(self, grace: float = 60.0) -> int:
        started = time.monotonic()
        self.exit_code = self.child.stop(grace)
        self.stop_seconds = time.monotonic() - started
        return self.exit_code


def probe_health(port: int, timeout: float = 5.0) -> tuple[int, float]:
    """(status, seconds) of one GET /health on a fresh connection; status 0 on error."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - started
    except (OSError, http.client.HTTPException):
        return 0, time.perf_counter() - started
    finally:
        conn.close()


@dataclass
class HealthProber:
    """GET /health every ``interval`` seconds in a thread, like a liveness probe would."""

    port: int
    interval: float = 0.01
    latencies: list[float] = field(default_factory=list)
    failures: int = 0  # after the first success: refusals before the server listens are start-up
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> HealthProber:
        self._thread = threading.Thread(target=self._run, name="health-prober", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            status, seconds = probe_health(self.port)
            if status == 200:
                self.latencies.append(seconds)
            elif self.latencies:
                self.failures += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def default_agent_bin() -> str:
    """``logflux-agent`` next to the running interpreter (the venv), else the repo's venv."""
    here = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "logflux-agent"
    if here.exists():
        return str(here)
    import sys

    beside = Path(sys.executable).with_name("logflux-agent")
    if beside.exists():
        return str(beside)
    return str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "logflux-agent")


__all__ = [
    "Agent",
    "HealthProber",
    "agent_config",
    "default_agent_bin",
    "free_port",
    "probe_health",
]
