"""A really full filesystem under the spool, end to end, without touching the host's mounts.

The spool directory is a 3 MiB tmpfs mounted in a private user+mount namespace (``unshare
-rm``) that a holder process keeps alive; the agent runs inside that namespace (``nsenter``), so
its spool hits ENOSPC long before ``max_bytes`` (64 MiB). The test sees the files through
``/proc/<holder>/root``. While the ingestor is down the spool fills the filesystem: the agent
reports it (``spool.full`` with reason ``disk``, ``/status``), keeps running, applies
backpressure; ``kill -9`` while full, restart on the same full filesystem, the ingestor back:
every entry spooled before the kill arrives, in order, and the agent keeps working.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

FS_SIZE = 3 * 1024 * 1024


def _line(run: int, i: int) -> bytes:
    obj = {"message": f"fs{run}-{i:07d} secret-plaintext-marker", "source": "ruby-sdk"}
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


class _Namespace:
    """A holder process owning a user+mount namespace with a small tmpfs at ``mountpoint``."""

    def __init__(self, mountpoint: Path, size: int) -> None:
        mountpoint.mkdir(parents=True, exist_ok=True)
        script = f"mount -t tmpfs -o size={size},mode=0700 tmpfs {mountpoint} && echo ready"
        self.proc = subprocess.Popen(
            ["unshare", "-rm", "sh", "-c", script + " && exec sleep 3600"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.ready = self.proc.stdout.readline().strip() == "ready"
        self.mountpoint = mountpoint
        self.enter: list[str] = []
        if self.ready:
            self.enter = self._enter_command()

    def _enter_command(self) -> list[str]:
        pid = str(self.proc.pid)
        for flags in (["-m"], ["-U", "-m", "--preserve-credentials"]):
            cmd = ["nsenter", "-t", pid, *flags]
            probe = subprocess.run([*cmd, "true"], capture_output=True, timeout=30)
            if probe.returncode == 0:
                return cmd
        return []

    def outside(self, path: Path) -> Path:
        """``path`` (inside the namespace) as the test sees it."""
        return Path(f"/proc/{self.proc.pid}/root") / path.relative_to("/")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def namespace(tmp_path: Path) -> Iterator[_Namespace]:
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("unshare/nsenter (util-linux) are missing: no private mount namespace")
    ns = _Namespace(tmp_path / "spool", FS_SIZE)
    try:
        if not ns.ready:
            assert ns.proc.stderr is not None
            pytest.skip(
                "no user+mount namespace with a tmpfs here (unshare -rm + mount -t tmpfs "
                f"refused: {ns.proc.stderr.read().strip()[:200]})"
            )
        if not ns.enter:
            pytest.skip("nsenter cannot enter the holder's mount namespace (-m nor -U -m)")
        yield ns
    finally:
        ns.close()


class _NsAgent(AgentProcess):
    """The real agent, started inside the namespace that holds the small filesystem."""

    def __init__(self, ns: _Namespace, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ns = ns

    def start(
        self, *, stdin: int | IO[bytes] | None = subprocess.DEVNULL, args: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        env = {k: v for k, v in os.environ.items() if k != "LOGFLUX_API_KEY"}
        command = [sys.executable, "-m", "logflux_agent", "--config", str(self.config_path)]
        self.proc = subprocess.Popen(
            [*self.ns.enter, *command, *(args or [])],
            stdin=stdin,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.starts += 1
        return self.proc


def _status(agent: AgentProcess) -> dict[str, Any]:
    url = f"http://127.0.0.1:{agent.metrics_port}/status"
    with urllib.request.urlopen(url, timeout=10) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def _spool_status(agent: AgentProcess) -> dict[str, Any]:
    try:
        spool: dict[str, Any] = _status(agent)["spool"]
        return spool
    except (OSError, KeyError, ValueError):
        return {}


def _produce(path: Path, run: int, n: int, sent: list[int]) -> None:
    """Numbered lines until ``n`` or until the connection breaks (the agent was killed)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(path))
            for start in range(0, n, 100):
                sock.sendall(b"".join(_line(run, i) for i in range(start, min(n, start + 100))))
                sent[0] = min(n, start + 100)
    except OSError:
        pass


def test_a_full_filesystem_under_the_spool_is_reported_survives_kill9_and_delivers(
    tmp_path: Path, ref_ingestor: RefIngestor, namespace: _Namespace
) -> None:
    spool_dir = namespace.mountpoint
    sock_path = tmp_path / "agent.sock"
    agent = _NsAgent(
        namespace,
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[{"type": "socket", "id": "app", "unix": str(sock_path)}],
        extra={
            "spool": {
                "directory": str(spool_dir),
                "max_bytes": 64 * 1024 * 1024,
                "segment_bytes": 1024 * 1024,
            }
        },
    )
    try:
        agent.start()
        agent.wait_for_event("session.ready", timeout=60)
        agent.wait_for_event("socket.listening", timeout=60)
        ref_ingestor.faults(status=503, count=10**9)
        sent = [0]
        producer = threading.Thread(target=_produce, args=(sock_path, 0, 100_000, sent))
        producer.start()
        full = agent.wait_for_event("spool.full", timeout=120)
        assert full["reason"] == "disk"
        wait_until(lambda: _spool_status(agent).get("full") is True, timeout=30)
        on_disk = namespace.outside(spool_dir)
        used = sum(p.stat().st_size for p in on_disk.glob("*.seg"))
        assert 0 < used <= FS_SIZE
        assert not (tmp_path / "spool").joinpath("0000000000000001.seg").exists(), (
            "the segments are on the namespace's tmpfs, not on the host's disk"
        )
        assert agent.alive() and sent[0] < 100_000, "the producer waits (backpressure)"
        spooled = int(_spool_status(agent)["spooled_entries"])
        assert spooled > 0
        agent.kill9()
        producer.join(timeout=60)

        agent.start()  # on the same, still full filesystem
        agent.wait_for_event("socket.listening", timeout=60)
        wait_until(lambda: bool(_spool_status(agent)), timeout=60, message="status answers")
        ref_ingestor.reset_faults()
        more = [0]
        _produce(sock_path, 1, 2000, more)  # the restarted agent takes new lines as well
        assert more[0] == 2000
        ref_ingestor.wait_for_entries(spooled + 2000, timeout=180, distinct=True)
        wait_until(
            lambda: _spool_status(agent).get("pending_requests") == 0,
            timeout=120,
            message="spool drained",
        )
    finally:
        agent.stop()
    got: dict[str, list[int]] = {"fs0": [], "fs1": []}
    for entry in ref_ingestor.entries():
        message = entry.get("payload", {}).get("message", "")
        run, _, rest = message.partition("-")
        if run in got:
            got[run].append(int(rest.split()[0]))
    first = sorted(set(got["fs0"]))
    assert first[:spooled] == list(range(spooled)), "every entry spooled before the kill"
    assert sorted(set(got["fs1"])) == list(range(2000))
    assert got["fs1"] == sorted(got["fs1"]) or len(got["fs1"]) > 2000, "order of the new run"
    raw = b"".join(p.read_bytes() for p in namespace.outside(spool_dir).rglob("*") if p.is_file())
    assert b"secret-plaintext-marker" not in raw
