"""`type: syslog`: the real agent fed by the real `logger` (util-linux) and by raw frames."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.agentproc import AgentProcess, free_port
from tests.support.e2e import by_message, metric
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

LOGGER = shutil.which("logger")
needs_logger = pytest.mark.skipif(
    LOGGER is None, reason="`logger` from util-linux (bsdutils) is not installed"
)


def syslog_agent(tmp_path: Path, ingestor: RefIngestor, **cfg: Any) -> AgentProcess:
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=[{"type": "syslog", "id": "sys", **cfg}],
    )


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def logger(*args: str) -> None:
    assert LOGGER is not None
    subprocess.run([LOGGER, *args], check=True, timeout=30)


@needs_logger
def test_logger_over_unix_tcp_octet_counting_and_udp_arrives_mapped(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    path = tmp_path / "log.sock"
    tcp, udp = free_port(), free_udp_port()
    agent = syslog_agent(
        tmp_path, ref_ingestor, unix=str(path), tcp=f"127.0.0.1:{tcp}", udp=f"127.0.0.1:{udp}"
    )
    agent.start()
    try:
        agent.wait_for_event("syslog.listening", timeout=60)
        logger("--socket", str(path), "-t", "unixapp", "-p", "daemon.err", "via unix")
        logger(
            "-n", "127.0.0.1", "-P", str(tcp), "--tcp", "--octet-count", "--rfc5424",
            "-t", "tcpapp", "-p", "local3.warning", "--msgid", "M42",
            "--sd-id", "origin@32473", "--sd-param", 'ip="10.0.0.1"',
            "via tcp octet counting",
        )  # fmt: skip
        logger(
            "-n", "127.0.0.1", "-P", str(udp), "--udp", "--rfc3164",
            "-t", "udpapp", "-p", "user.debug", "via udp",
        )  # fmt: skip
        entries = ref_ingestor.wait_for_entries(3, timeout=60)
        got = by_message(entries)
        unix = got["via unix"]
        assert unix["level"] == 4  # err = 3 -> 4
        assert unix["attributes"]["app_name"] == "unixapp"
        assert unix["attributes"]["facility"] == "daemon"
        assert unix["source"] == "syslog:sys"
        tcp_entry = got["via tcp octet counting"]
        assert tcp_entry["level"] == 5  # warning = 4 -> 5
        attrs = tcp_entry["attributes"]
        assert attrs["app_name"] == "tcpapp" and attrs["msgid"] == "M42"
        assert attrs["facility"] == "local3"
        assert attrs["sd.origin@32473.ip"] == "10.0.0.1"
        assert attrs["hostname"]
        udp_entry = got["via udp"]
        assert udp_entry["level"] == 8 and udp_entry["attributes"]["app_name"] == "udpapp"
        for entry in (unix, tcp_entry, udp_entry):
            assert entry["ts"].endswith("Z") and "parse_error" not in entry["attributes"]
        assert agent.terminate() == 0
        assert not path.exists()
    finally:
        agent.stop()


@needs_logger
def test_logger_over_a_unix_stream_socket_lf_and_octet_counting_arrives_mapped(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    path = tmp_path / "log.stream"
    agent = syslog_agent(tmp_path, ref_ingestor, unix_stream=str(path))
    agent.start()
    try:
        agent.wait_for_event("syslog.listening", timeout=60)
        # --tcp on a Unix socket: SOCK_STREAM; --socket-errors=on: a failure is an exit code.
        stream = ("--socket", str(path), "--socket-errors=on", "--tcp")
        logger(*stream, "-t", "lfapp", "-p", "mail.notice", "stream lf framed")
        logger(
            *stream, "--octet-count", "--rfc5424", "-t", "countapp", "-p", "local1.crit",
            "--msgid", "M7", "stream octet counted",
        )  # fmt: skip
        got = by_message(ref_ingestor.wait_for_entries(2, timeout=60))
        lf = got["stream lf framed"]
        assert lf["level"] == 6 and lf["source"] == "syslog:sys"  # notice = 5 -> 6
        assert lf["attributes"]["app_name"] == "lfapp"
        assert lf["attributes"]["facility"] == "mail"
        counted = got["stream octet counted"]
        assert counted["level"] == 3  # crit = 2 -> 3
        attrs = counted["attributes"]
        assert attrs["app_name"] == "countapp" and attrs["msgid"] == "M7"
        assert attrs["facility"] == "local1"
        for entry in (lf, counted):
            assert "parse_error" not in entry["attributes"]
            # No SDK id in syslog: input, agent run, connection number, position.
            assert re.fullmatch(r"sys:[0-9a-f]{8}-[01]:0", entry["meta"]["record_id"])
        assert lf["meta"]["record_id"] != counted["meta"]["record_id"]
        connections = metric(
            agent, "logflux_agent_socket_connections_total", input="sys", transport="unix"
        )
        assert connections == 2
        assert agent.terminate() == 0
        assert not path.exists()
    finally:
        agent.stop()


def test_lf_framing_and_malformed_messages_are_shipped_as_text_and_counted(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    tcp = free_port()
    agent = syslog_agent(tmp_path, ref_ingestor, tcp=f"127.0.0.1:{tcp}")
    agent.start()
    try:
        agent.wait_for_event("syslog.listening", timeout=60)
        with socket.create_connection(("127.0.0.1", tcp)) as sock:
            sock.sendall(
                b"<34>1 2026-11-30T10:00:00.5Z web-1 su 77 ID47 - lf framed 5424\n"
                b"<13>Nov 30 10:00:01 web-2 cron[9]: lf framed 3164\n"
                b"no pri at all\n"
                b"<13>1 2026-11-30T10:00:02Z h a - - [bad sd broken sd\n"
            )
        entries = ref_ingestor.wait_for_entries(4, timeout=60)
        got = by_message(entries)
        first = got["lf framed 5424"]
        assert first["ts"] == "2026-11-30T10:00:00.500000Z" and first["level"] == 3
        assert first["attributes"]["hostname"] == "web-1"
        assert first["attributes"]["procid"] == "77"
        third = got["lf framed 3164"]
        assert third["attributes"]["procid"] == "9" and third["attributes"]["hostname"] == "web-2"
        raw = got["no pri at all"]
        assert raw["attributes"]["parse_error"]
        assert any("parse_error" in p["attributes"] for m, p in got.items() if "broken" in m)
        wait_until(
            lambda: metric(agent, "logflux_agent_syslog_malformed_total", input="sys") == 2, 30
        )
    finally:
        agent.stop()
