"""Run the real `logflux-agent` command as a subprocess against a reference ingestor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import yaml

from tests.support.wait import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AgentProcess:
    """One agent process: writes its config, starts, signals, kills, restarts, reads its log."""

    def __init__(
        self,
        workdir: Path,
        *,
        endpoint: str,
        api_key: str,
        inputs: list[dict[str, Any]],
        extra: dict[str, Any] | None = None,
        metrics: bool = True,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = workdir / "state"
        self.config_path = workdir / "agent.yaml"
        self.log_path = workdir / "agent.log"
        self.metrics_port = free_port() if metrics else 0
        self.api_key = api_key
        doc: dict[str, Any] = {
            "api_key": api_key,
            "endpoint": endpoint,
            "state_dir": str(self.state_dir),
            "inputs": inputs,
            "sender": {
                "flush_interval": 0.2,
                "retry_initial_delay": 0.05,
                "retry_max_delay": 0.5,
                "shutdown_timeout": 10,
            },
            "metrics": {"enabled": metrics, "listen": f"127.0.0.1:{self.metrics_port}"},
            "logging": {"level": "info", "format": "json"},
            "checkpoint_interval": 0.1,
        }
        for key, value in (extra or {}).items():
            if isinstance(value, dict) and isinstance(doc.get(key), dict):
                doc[key] = {**doc[key], **value}
            else:
                doc[key] = value
        self.doc = doc
        self.write_config()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def write_config(self, doc: dict[str, Any] | None = None) -> None:
        if doc is not None:
            self.doc = doc
        self.config_path.write_text(yaml.safe_dump(self.doc), encoding="utf-8")
        os.chmod(self.config_path, 0o600)

    def start(
        self, *, stdin: int | IO[bytes] | None = subprocess.DEVNULL, args: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        env = dict(os.environ)
        env.pop("LOGFLUX_API_KEY", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "logflux_agent",
                "--config",
                str(self.config_path),
                *(args or []),
            ],
            stdin=stdin,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.starts += 1
        return self.proc

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def logs(self) -> str:
        return (
            self.log_path.read_text(encoding="utf-8", errors="replace")
            if self.log_path.exists()
            else ""
        )

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_for_event(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [e for e in self.events() if e.get("event") == event]
            return bool(found)

        wait_until(seen, timeout, message=f"agent log event {event!r}")
        return found[-1]

    def checkpoints(self) -> dict[str, Any]:
        path = self.state_dir / "checkpoints.json"
        if not path.exists():
            return {}
        streams: dict[str, Any] = json.loads(path.read_text())["streams"]
        return streams

    def rss_bytes(self) -> int:
        """Resident memory of the agent and its child processes (encode workers)."""
        assert self.proc is not None
        total = 0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                continue
        return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for kid in kids:
        found.append(int(kid))
        found.extend(_children(int(kid)))
    return found


def verify_pooled(
    entries: list[dict[str, Any]], written: list[str], *, allow_duplicates: bool
) -> Any:
    """Verify lines that may arrive under several file names (a rotated file keeps the name it
    was found under): completeness over all sources pooled, order within each source."""
    from tests.support.refingestor import verify_entries

    pooled = [{**e, "payload": {**e["payload"], "source": "pooled"}} for e in entries]
    report = verify_entries(pooled, {"pooled": written}, allow_duplicates, order="none")
    firsts: dict[str, list[str]] = {}
    seen: set[str] = set()
    for e in entries:
        message = e["payload"]["message"]
        if message not in seen:
            seen.add(message)
            firsts.setdefault(e["payload"]["source"], []).append(message)
    for source, messages in firsts.items():
        assert messages == sorted(messages), f"{source} arrived out of order"
    return report
