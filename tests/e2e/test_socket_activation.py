"""systemd socket activation: the real agent started by `systemd-socket-activate` serves the
Unix socket it was handed (LISTEN_FDS), leaves it in place on stop; the unit file verifies."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.agentproc import AgentProcess
from tests.support.e2e import by_message
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
ACTIVATE = shutil.which("systemd-socket-activate")
ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate (systemd) is not installed")
def test_an_activated_agent_serves_the_passed_socket_and_leaves_it_on_stop(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    assert ACTIVATE is not None
    path = tmp_path / "agent.sock"
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[{"type": "socket", "id": "app", "unix": str(path)}],
    )
    log = agent.log_path.open("ab")
    # The activator listens first and starts the agent at the first connection, as systemd does.
    command = [ACTIVATE, "-l", str(path), "--fdname=agent.sock", sys.executable]
    command += ["-m", "logflux_agent", "--config", str(agent.config_path)]
    agent.proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_until(path.exists, 30, message="the activator's socket")
        inode = path.stat().st_ino
        early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        early.connect(str(path))  # queued by the kernel before the agent runs
        early.sendall(b'{"message":"sent before the agent started","level":6,"timestamp":1}\n')
        early.close()
        event = agent.wait_for_event("socket.listening", timeout=60)
        assert event["socket_activated"] is True and event["unix"] == str(path)
        late = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        late.connect(str(path))
        late.sendall(b'{"message":"sent while it runs","level":3,"timestamp":1,"id":"x-1"}\n')
        late.close()
        got = by_message(ref_ingestor.wait_for_entries(2, timeout=60))
        assert got["sent while it runs"]["level"] == 4
        assert got["sent while it runs"]["meta"]["record_id"] == "x-1"
        assert got["sent before the agent started"]["meta"]["record_id"].startswith("app:")
        assert agent.terminate() == 0
        # The socket belongs to the service manager: not removed, not replaced.
        assert path.exists() and path.stat().st_ino == inode
    finally:
        agent.stop()
        log.close()


@pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate (systemd) is not installed")
def test_a_syslog_unix_stream_socket_can_be_passed_too(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    assert ACTIVATE is not None
    path = tmp_path / "log.stream"
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[{"type": "syslog", "id": "sys", "unix_stream": str(path)}],
    )
    log = agent.log_path.open("ab")
    command = [ACTIVATE, "-l", str(path), sys.executable]
    command += ["-m", "logflux_agent", "--config", str(agent.config_path)]
    agent.proc = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        wait_until(path.exists, 30, message="the activator's socket")
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(path))
        client.sendall(b"<11>Dec  1 10:00:00 app[7]: handed over by systemd\n")
        client.close()
        (entry,) = ref_ingestor.wait_for_entries(1, timeout=60)
        assert entry["payload"]["message"] == "handed over by systemd"
        assert entry["payload"]["level"] == 4  # user.err: severity 3
        assert agent.terminate() == 0
        assert path.exists()
    finally:
        agent.stop()
        log.close()


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze (systemd) is not installed")
def test_the_socket_unit_verifies_and_names_the_default_socket_path(tmp_path: Path) -> None:
    assert ANALYZE is not None
    for name in ("logflux-agent.socket", "logflux-agent.service"):
        shutil.copy(ROOT / "systemd" / name, tmp_path / name)
    done = subprocess.run(
        [ANALYZE, "verify", str(tmp_path / "logflux-agent.socket")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    unit = (ROOT / "systemd" / "logflux-agent.socket").read_text()
    from logflux_agent.config.sockets import DEFAULT_SOCKET_PATH

    assert f"ListenStream={DEFAULT_SOCKET_PATH}\n" in unit
