"""`validate`'s run-time checks of where socket and syslog inputs listen (real sockets)."""

from __future__ import annotations

import socket
from pathlib import Path

from logflux_agent.config.sockets import SocketInputConfig, SyslogInputConfig
from logflux_agent.preflight import OK, WARNING, Check, _input


def _by_status(checks: list[Check]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for check in checks:
        out.setdefault(check.status, []).append(check.message)
    return out


def test_a_free_tcp_port_and_a_creatable_unix_path_are_ok(tmp_path: Path) -> None:
    cfg = SocketInputConfig(id="app", unix=str(tmp_path / "agent.sock"), tcp="127.0.0.1:0")
    checks = _input(cfg)
    assert [c.status for c in checks] == [OK, OK]
    assert all(c.subject == "input app" for c in checks)


def test_a_tcp_port_in_use_is_a_warning_naming_the_consequence() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        checks = _input(SocketInputConfig(id="app", tcp=f"127.0.0.1:{port}"))
    [check] = checks
    assert check.status == WARNING
    assert f"tcp 127.0.0.1:{port} is in use" in check.message
    assert "the input will not start" in check.message


def test_a_udp_port_in_use_is_a_warning() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        checks = _input(SyslogInputConfig(id="sys", udp=f"127.0.0.1:{port}"))
    assert _by_status(checks)[WARNING] == [
        f"udp 127.0.0.1:{port} is in use (by this agent already running, or another program): "
        "the input will not start"
    ]


def test_unix_paths_missing_directory_live_socket_stale_socket_and_plain_file(
    tmp_path: Path,
) -> None:
    missing = _input(SocketInputConfig(id="a", unix=str(tmp_path / "no" / "agent.sock")))
    assert missing[0].status == WARNING and "does not exist" in missing[0].message

    live_path = tmp_path / "live.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(str(live_path))
        live.listen()
        [check] = _input(SocketInputConfig(id="a", unix=str(live_path)))
        assert check.status == WARNING and "served by a running program" in check.message

    stale_path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(stale_path))
    stale.close()  # the file stays, nobody listens: what a crash leaves behind
    [check] = _input(SocketInputConfig(id="a", unix=str(stale_path)))
    assert check.status == OK and "stale socket" in check.message

    plain = tmp_path / "plain"
    plain.write_text("x")
    [check] = _input(SyslogInputConfig(id="s", unix=str(plain)))
    assert check.status == WARNING and "not a socket" in check.message


def test_the_default_socket_path_is_checked_when_no_listener_is_set() -> None:
    [check] = _input(SocketInputConfig(id="a"))
    assert "/run/logflux-agent" in check.message
