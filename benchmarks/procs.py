"""Child processes of the harness and small loopback HTTP helpers.

Every process the harness starts is a `Child`: its output goes to a log file in the run's work
directory, it is stopped by its own pid (SIGTERM, then SIGKILL after a grace period), and a
ready file (JSON) tells the harness where it listens.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit


class HarnessError(RuntimeError):
    """A benchmark could not run (a process failed to start, a wait timed out, ...)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    cond: Callable[[], object],
    timeout: float,
    what: str,
    interval: float = 0.05,
    alive: Child | None = None,
) -> None:
    """Poll ``cond`` until truthy; HarnessError after ``timeout`` or if ``alive`` exits."""
    deadline = time.monotonic() + timeout
    while not cond():
        if alive is not None and not alive.running():
            raise HarnessError(
                f"{alive.name} exited (code {alive.proc.returncode}) while "
                f"waiting for {what}; see {alive.log_path}\n{alive.tail()}"
            )
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Child:
    """One subprocess with its log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_ready_file(self, path: Path, timeout: float = 60.0) -> dict[str, Any]:
        wait_for(path.exists, timeout, f"{self.name} ready file {path}", alive=self)
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def stop(self, grace: float = 30.0) -> int:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns the exit code."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Http:
    """A keep-alive JSON client for one loopback base URL (not thread-safe: one per thread)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, self.prefix + path, body=body, headers=headers or {})
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> Any:
        status, body = self.request("GET", path)
        if status != 200:
            raise HarnessError(f"GET {path} -> {status}: {body[:200]!r}")
        return json.loads(body)

    def post_json(self, path: str, doc: Any) -> Any:
        status, body = self.request(
            "POST", path, json.dumps(doc).encode(), {"Content-Type": "application/json"}
        )
        if status >= 300:
            raise HarnessError(f"POST {path} -> {status}: {body[:300]!r}")
        return json.loads(body) if body else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def python_env() -> dict[str, str]:
    """The environment for children: no API key leaking in from the harness's shell."""
    env = dict(os.environ)
    env.pop("LOGFLUX_API_KEY", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env
