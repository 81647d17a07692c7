"""The notify protocol against real unix datagram sockets (path and abstract namespace)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from logflux_agent.observe.sdnotify import Notifier
from tests.support.wait import async_wait_until, wait_until


class Receiver:
    """A bound datagram socket standing in for systemd's notify socket."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def has(self, message: str) -> bool:
        return message in self.drain()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    # AF_UNIX paths are limited to 108 bytes: keep it short rather than under tmp_path.
    with tempfile.TemporaryDirectory(prefix="sdn-") as tmp:
        path = str(Path(tmp) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.setblocking(False)
        try:
            yield Receiver(sock, path)
        finally:
            sock.close()


@pytest.fixture
def abstract_receiver() -> Iterator[Receiver]:
    name = f"logflux-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        yield Receiver(sock, "@" + name)
    finally:
        sock.close()


def test_ready_status_stopping(receiver: Receiver) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": receiver.env_value})
    assert notifier.enabled
    notifier.ready()
    notifier.status("retrying session: connection refused\nREADY=0")
    notifier.stopping()
    wait_until(lambda: len(receiver.drain()) >= 3, timeout=5, message="3 datagrams")
    assert receiver.messages[0] == "READY=1"
    # The newline is flattened: the status text cannot smuggle another assignment in.
    assert receiver.messages[1] == "STATUS=retrying session: connection refused READY=0"
    assert receiver.messages[2] == "STOPPING=1"


def test_abstract_namespace_socket(abstract_receiver: Receiver) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": abstract_receiver.env_value})
    notifier.ready()
    notifier.watchdog()
    wait_until(lambda: abstract_receiver.has("WATCHDOG=1"), timeout=5, message="WATCHDOG=1")
    assert abstract_receiver.messages == ["READY=1", "WATCHDOG=1"]


def test_reloading_carries_the_monotonic_clock(receiver: Receiver) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": receiver.env_value})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    wait_until(lambda: receiver.drain(), timeout=5, message="a datagram")
    lines = receiver.messages[0].split("\n")
    assert lines[0] == "RELOADING=1"
    key, _, value = lines[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_watchdog_interval_is_half_of_watchdog_usec(receiver: Receiver) -> None:
    sock = receiver.env_value
    assert (
        Notifier({"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "30000000"}).watchdog_interval() == 15.0
    )
    mine = str(os.getpid())
    assert (
        Notifier(
            {"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": mine}
        ).watchdog_interval()
        == 15.0
    )
    # Meant for our parent (we were started by the notified process): not ours to ping.
    assert (
        Notifier(
            {"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getppid())}
        ).watchdog_interval()
        is None
    )
    assert Notifier({"NOTIFY_SOCKET": sock}).watchdog_interval() is None
    assert Notifier({"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "0"}).watchdog_interval() is None
    assert Notifier({"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "x"}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval() is None


async def test_watchdog_loop_pings_from_the_event_loop(receiver: Receiver) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": receiver.env_value, "WATCHDOG_USEC": "20000"})
    assert notifier.watchdog_interval() == 0.01
    task = asyncio.create_task(notifier.watchdog_loop())
    try:
        await async_wait_until(
            lambda: receiver.drain().count("WATCHDOG=1") >= 3,
            timeout=10,
            message="three watchdog pings",
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert set(receiver.messages) == {"WATCHDOG=1"}


async def test_watchdog_loop_returns_when_unarmed() -> None:
    await asyncio.wait_for(Notifier({}).watchdog_loop(), timeout=5)


def test_no_notify_socket_is_a_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    notifier.ready()
    notifier.reloading()
    notifier.status("x")
    notifier.watchdog()
    notifier.stopping()
    assert notifier.watchdog_interval() is None


def test_unsupported_socket_kind_is_disabled() -> None:
    notifier = Notifier({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    notifier.ready()


def test_send_failure_never_raises_and_logs_once(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    with structlog.testing.capture_logs() as logs:
        notifier.ready()
        notifier.watchdog()
        notifier.stopping()
    failures = [e for e in logs if e["event"] == "sdnotify.send_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "warning"


def test_reads_os_environ_by_default(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.env_value)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier()
    assert notifier.watchdog_interval() == 2.0
    notifier.ready()
    wait_until(lambda: receiver.has("READY=1"), timeout=5, message="READY=1")
