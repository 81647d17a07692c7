"""`type: socket`: the real agent serving the local-agent protocol (protocol.md §10).

The clients here are written from §10: one connection, NDJSON lines in the SDKs' key order, in
the styles of the Ruby (raw UTF-8), PHP (``\\/`` and ``\\uXXXX`` escapes, ``[]`` and arrays for
labels) and C SDKs (``snprintf``, no escaping, the secret appended over TCP). Every entry is
checked decrypted at the reference ingestor with its mapped level, ts and attributes.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.agentproc import AgentProcess, free_port
from tests.support.e2e import by_message, metric
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

T0 = 1_796_000_000  # a fixed Unix second, so ts is checkable


def ruby_line(message: str, level: int = 6, **extra: Any) -> bytes:
    obj = {
        "id": str(uuid.uuid4()),
        "message": message,
        "source": "ruby-sdk",
        "entry_type": 1,
        "level": level,
        "timestamp": T0,
        "labels": {},
        **extra,
    }
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def php_line(message: str, labels: Any, level: int = 6) -> bytes:
    obj = {
        "id": str(uuid.uuid4()),
        "message": message,
        "source": "php-sdk",
        "entry_type": 1,
        "level": level,
        "timestamp": T0,
        "labels": labels,
    }
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")
    return (text + "\n").encode()


def c_line(
    message: str,
    level: int = 6,
    secret: str | None = None,
    ident: str | None = None,
    entry_type: int = 1,
) -> bytes:
    # snprintf: nothing is escaped.
    text = (
        f'{{"id":"{ident or uuid.uuid4()}","message":"{message}","source":"c-sdk",'
        f'"entry_type":{entry_type},"level":{level},"timestamp":{T0}'
    )
    if secret is not None:
        text += f',"shared_secret":"{secret}"'
    return (text + "}\n").encode()


def socket_agent(tmp_path: Path, ingestor: RefIngestor, **socket_cfg: Any) -> AgentProcess:
    cfg = {"type": "socket", "id": "app", **socket_cfg}
    return AgentProcess(
        tmp_path / "agent", endpoint=ingestor.url, api_key=ingestor.api_key, inputs=[cfg]
    )


def unix_client(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    return sock


def wait_listening(agent: AgentProcess) -> dict[str, Any]:
    return agent.wait_for_event("socket.listening", timeout=60)


@pytest.fixture
def secret_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The agent's §10 secret location points into the test's directory."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime / "logflux" / "agent.secret"


def test_unix_socket_entries_in_every_sdk_style_arrive_mapped(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    path = tmp_path / "agent.sock"
    agent = socket_agent(tmp_path, ref_ingestor, unix=str(path), labels={"team": "web"})
    agent.start()
    try:
        wait_listening(agent)
        assert oct(path.stat().st_mode & 0o777) == "0o660"
        ident = str(uuid.uuid4())
        sock = unix_client(path)
        sock.sendall(
            ruby_line("ruby plain ünïcode", level=3, labels={"payload_type": "application"})
            + php_line("php empty labels", [], level=0)
            + php_line("php/array labels", ["zero", "one"], level=7)
            + c_line('c says "hi" \\ there', level=4, ident=ident)
            + c_line("c metric", entry_type=2)
            + ruby_line("level out of range", level=42)
        )
        # A line split across writes.
        half = ruby_line("split across writes")
        sock.sendall(half[:20])
        sock.sendall(half[20:])
        sock.close()
        # A client that goes away in the middle of a line: what it sent still arrives.
        cut = unix_client(path)
        cut.sendall(c_line("cut off mid-line")[:-10])
        cut.close()
        # Entries without an SDK id get one derived from input, run, connection, position.
        no_id = unix_client(path)
        no_id.sendall(b'{"message":"no id 1","level":6}\n{"message":"no id 2","level":6}\n')
        no_id.close()
        entries = ref_ingestor.wait_for_entries(10, timeout=60)
        got = by_message(entries)
        assert got["ruby plain ünïcode"]["level"] == 4
        assert got["ruby plain ünïcode"]["attributes"]["payload_type"] == "application"
        assert got["ruby plain ünïcode"]["attributes"]["team"] == "web"
        assert got["ruby plain ünïcode"]["source"] == "ruby-sdk"
        assert got["ruby plain ünïcode"]["ts"] == "2026-11-30T00:53:20.000000Z"  # T0
        assert got["php empty labels"]["level"] == 1
        assert got["php/array labels"]["level"] == 8
        assert got["php/array labels"]["attributes"]["0"] == "zero"
        assert got["php/array labels"]["attributes"]["1"] == "one"
        quoted = got['c says "hi" \\ there']
        assert quoted["meta"]["record_id"] == ident and "id" not in quoted["attributes"]
        assert quoted["level"] == 5 and quoted["source"] == "c-sdk"
        assert "parse_error" not in quoted["attributes"]
        assert got["c metric"]["attributes"]["entry_type"] == "metric"
        assert got["level out of range"]["level"] == 8
        assert "split across writes" in got
        cut_entry = next(p for m, p in got.items() if m.startswith("cut off mid-line"))
        assert cut_entry["attributes"]["parse_error"] == "truncated"
        first, second = (got[f"no id {i}"]["meta"]["record_id"] for i in (1, 2))
        run_conn = re.fullmatch(r"app:([0-9a-f]{8}-\d+):0", first)
        assert run_conn is not None and second == f"app:{run_conn.group(1)}:1"
        ids = [e["meta"]["record_id"] for e in got.values()]
        assert len(set(ids)) == len(ids) == 10
        assert metric(agent, "logflux_agent_socket_entry_problems_total", reason="recovered") == 1
        assert metric(agent, "logflux_agent_socket_entry_problems_total", reason="level_clamped")
        wait_until(
            lambda: metric(agent, "logflux_agent_unacked_entries", input="app") == 0,
            30,
            message="unacked_entries back to 0",
        )
        assert agent.terminate() == 0
        assert not path.exists(), "the socket is removed on stop"
    finally:
        agent.stop()


def test_tcp_right_secret_accepted_wrong_and_missing_refused_and_counted(
    tmp_path: Path, ref_ingestor: RefIngestor, secret_env: Path
) -> None:
    port = free_port()
    agent = socket_agent(tmp_path, ref_ingestor, tcp=f"127.0.0.1:{port}")
    agent.start()
    try:
        wait_listening(agent)
        assert oct(secret_env.stat().st_mode & 0o777) == "0o600"
        assert (secret_env.parent / "agent.pid").read_text().strip() == str(agent.pid)
        secret = secret_env.read_text().splitlines()[0]
        assert len(secret) >= 32
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                c_line("right secret", secret=secret)
                + c_line("wrong secret", secret="0" * len(secret))
                + c_line("no secret")
                + ruby_line("ruby without secret")
                + c_line("right again", secret=secret)
            )
        entries = ref_ingestor.wait_for_entries(2, timeout=60)
        wait_until(lambda: metric(agent, "logflux_agent_socket_refused_entries_total") >= 3, 30)
        assert sorted(by_message(ref_ingestor.entries())) == ["right again", "right secret"]
        assert metric(agent, "logflux_agent_socket_refused_entries_total", reason="wrong_secret")
        assert metric(agent, "logflux_agent_socket_refused_entries_total", reason="no_secret") == 2
        for entry in entries:
            assert secret not in json.dumps(entry)
            assert "shared_secret" not in entry["payload"].get("attributes", {})
        assert agent.terminate() == 0
        assert secret not in agent.logs()
        assert ref_ingestor.api_key not in agent.logs()
        assert not (secret_env.parent / "agent.pid").exists()
    finally:
        agent.stop()


def test_tcp_without_secret_is_accepted_only_where_the_operator_opted_out(
    tmp_path: Path, ref_ingestor: RefIngestor, secret_env: Path
) -> None:
    port = free_port()
    agent = socket_agent(tmp_path, ref_ingestor, tcp=f"127.0.0.1:{port}", require_secret=False)
    agent.start()
    try:
        wait_listening(agent)
        secret = secret_env.read_text().strip()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                ruby_line("ruby over tcp")
                + php_line("php over tcp", {"k": "v"})
                + c_line("a wrong secret is still refused", secret="nope")
            )
        ref_ingestor.wait_for_entries(2, timeout=60)
        wait_until(
            lambda: (
                metric(agent, "logflux_agent_socket_refused_entries_total", reason="wrong_secret")
                == 1
            ),
            30,
        )
        assert sorted(by_message(ref_ingestor.entries())) == ["php over tcp", "ruby over tcp"]
        assert secret not in agent.logs()
    finally:
        agent.stop()


def test_a_thousand_clients_and_an_idle_one_all_delivered(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"1,000 connections need RLIMIT_NOFILE >= 1200; the hard limit is {hard}")
    if soft < 1200:
        target = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    path = tmp_path / "agent.sock"
    agent = socket_agent(tmp_path, ref_ingestor, unix=str(path))
    agent.start()
    try:
        wait_listening(agent)
        idle = unix_client(path)  # connects, never writes
        clients = [unix_client(path) for _ in range(1000)]
        wait_until(
            lambda: metric(agent, "logflux_agent_socket_open_connections", input="app") == 1001,
            60,
            message="1001 connections open",
        )
        for i, sock in enumerate(clients):
            sock.sendall(ruby_line(f"client {i:04d}"))
        for sock in clients:
            sock.close()
        ref_ingestor.wait_for_entries(1000, timeout=120)
        got = by_message(ref_ingestor.entries())
        assert sorted(got) == [f"client {i:04d}" for i in range(1000)]
        idle.close()
    finally:
        agent.stop()


def test_sigterm_delivers_every_entry_already_read(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    n = 3000
    path = tmp_path / "agent.sock"
    ref_ingestor.faults(delay=0.2, count=10**6)  # a slow ingestor: the queue holds entries
    agent = socket_agent(tmp_path, ref_ingestor, unix=str(path))
    agent.doc["sender"]["batch_max_entries"] = 100
    agent.doc["sender"]["shutdown_timeout"] = 60
    agent.write_config()
    agent.start()
    try:
        wait_listening(agent)
        with unix_client(path) as sock:
            sock.sendall(b"".join(ruby_line(f"drain {i:05d}") for i in range(n)))
        wait_until(
            lambda: metric(agent, "logflux_agent_input_entries_total", input="app") == n,
            60,
            message="every line read",
        )
        assert metric(agent, "logflux_agent_unacked_entries", input="app") > 0
        agent.signal(signal.SIGTERM)
        assert agent.wait(timeout=120) == 0, agent.logs()[-2000:]
        ref_ingestor.verify({"ruby-sdk": [f"drain {i:05d}" for i in range(n)]})
    finally:
        agent.stop()


def test_a_stale_socket_is_replaced_and_a_live_or_foreign_one_refused(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    path = tmp_path / "agent.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a crash leaves
    agent = socket_agent(tmp_path, ref_ingestor, unix=str(path))
    agent.start()
    try:
        wait_listening(agent)
        with unix_client(path) as sock:
            sock.sendall(ruby_line("after a stale socket"))
        ref_ingestor.wait_for_entries(1, timeout=60)
        # A second agent on the same path finds a live listener and refuses to take over.
        other = AgentProcess(
            tmp_path / "other",
            endpoint=ref_ingestor.url,
            api_key=ref_ingestor.api_key,
            inputs=[{"type": "socket", "id": "app", "unix": str(path)}],
        )
        other.start()
        try:
            crashed = other.wait_for_event("input.crashed", timeout=60)
            assert "another process is listening" in crashed["error"]
        finally:
            other.stop()
        with unix_client(path) as sock:  # the first agent still serves it
            sock.sendall(ruby_line("still served"))
        ref_ingestor.wait_for_entries(2, timeout=60)
    finally:
        agent.stop()


def test_a_socket_path_owned_by_another_user_is_refused(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    path = tmp_path / "agent.sock"
    foreign = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    foreign.bind(str(path))
    foreign.close()
    if os.geteuid() != 0:
        pytest.skip("giving the socket file to another user needs root (chown)")
    os.chown(path, 65534, 65534)
    agent = socket_agent(tmp_path, ref_ingestor, unix=str(path))
    agent.start()
    try:
        crashed = agent.wait_for_event("input.crashed", timeout=60)
        assert "owned by uid 65534" in crashed["error"]
        assert path.exists() and path.stat().st_uid == 65534, "left alone"
    finally:
        agent.stop()


def test_entries_still_undelivered_at_exit_are_reported(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    path = tmp_path / "agent.sock"
    ref_ingestor.faults(status=503, count=10**6)
    agent = socket_agent(tmp_path, ref_ingestor, unix=str(path))
    agent.doc["sender"]["shutdown_timeout"] = 2
    agent.write_config()
    agent.start()
    try:
        wait_listening(agent)
        with unix_client(path) as sock:
            sock.sendall(b"".join(ruby_line(f"never accepted {i}") for i in range(20)))
        wait_until(
            lambda: metric(agent, "logflux_agent_unacked_entries", input="app") == 20,
            60,
            message="20 unacknowledged entries",
        )
        assert agent.terminate() == 0
        undelivered = agent.wait_for_event("input.undelivered", timeout=5)
        assert undelivered["entries"] == {"app": 20}
    finally:
        agent.stop()
