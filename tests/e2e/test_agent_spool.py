"""The disk spool end to end: the real agent, the reference ingestor, a socket producer.

During an ingestor outage the socket keeps being read (entries are acknowledged once in the
spool); after ``kill -9`` and a restart, every entry spooled before the kill arrives, and the
spool directory never holds a plaintext line or key material.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

T0 = 1_796_000_000


def _line(n: int, tag: str) -> bytes:
    obj = {
        "id": str(uuid.uuid4()),
        "message": f"spool-{tag}-{n:06d} secret-plaintext-marker",
        "source": "ruby-sdk",
        "entry_type": 1,
        "level": 6,
        "timestamp": T0,
        "labels": {},
    }
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def _agent(tmp_path: Path, ingestor: RefIngestor, **spool: Any) -> AgentProcess:
    cfg = {"type": "socket", "id": "app", "unix": str(tmp_path / "agent.sock")}
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=[cfg],
        extra={"spool": {"max_bytes": 64 * 1024 * 1024, **spool}},
    )


def _status(agent: AgentProcess) -> dict[str, Any]:
    url = f"http://127.0.0.1:{agent.metrics_port}/status"
    with urllib.request.urlopen(url, timeout=10) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def _send(path: Path, lines: list[bytes]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        sock.sendall(b"".join(lines))


def _spooled(agent: AgentProcess) -> int:
    try:
        return int(_status(agent)["spool"]["spooled_entries"])
    except (OSError, KeyError, ValueError):
        return -1


def _spool_bytes(spool_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(spool_dir.rglob("*")) if p.is_file())


def _outage_then_kill(tmp_path: Path, ingestor: RefIngestor, n: int) -> AgentProcess:
    agent = _agent(tmp_path, ingestor)
    agent.start()
    agent.wait_for_event("session.ready", timeout=60)
    agent.wait_for_event("socket.listening", timeout=60)
    ingestor.faults(status=503, count=10**6)
    lines = [_line(i, "a") for i in range(n)]
    _send(tmp_path / "agent.sock", lines)
    wait_until(lambda: _spooled(agent) >= n, timeout=60, message=f"{n} entries spooled")
    status = _status(agent)
    assert status["spool"]["pending_requests"] > 0
    assert "spooling" in status["ready_reason"] and status["ready"] in (True, False)
    assert ingestor.stats()["entries_recorded"] == 0
    agent.kill9()
    return agent


def test_spooled_socket_entries_survive_kill9_and_arrive_after_the_outage(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    n = 3000
    agent = _outage_then_kill(tmp_path, ref_ingestor, n)
    spool_dir = agent.state_dir / "spool"
    raw = _spool_bytes(spool_dir)
    assert raw, "the spool holds the batches"
    assert b"secret-plaintext-marker" not in raw and b"spool-a-000001" not in raw
    assert ref_ingestor.api_key.encode() not in raw
    ref_ingestor.reset_faults()
    agent.start()
    ref_ingestor.wait_for_entries(n, timeout=120)
    expected = [f"spool-a-{i:06d} secret-plaintext-marker" for i in range(n)]
    report = ref_ingestor.verify({"ruby-sdk": expected}, allow_duplicates=True)
    assert report.missing_count == 0 and not report.out_of_order
    assert report.duplicates <= 1000, "at most one request is sent again after the kill"
    wait_until(lambda: not list(spool_dir.glob("*.seg")), timeout=30, message="segments deleted")
    agent.stop()


def test_key_id_refused_after_restart_is_registered_again_from_the_stored_secret(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    n = 500
    agent = _outage_then_kill(tmp_path, ref_ingestor, n)
    ref_ingestor.faults(clear=True, expire_keys=True)  # the spooled key id is now unknown
    agent.start()
    ref_ingestor.wait_for_entries(n, timeout=120)
    expected = [f"spool-a-{i:06d} secret-plaintext-marker" for i in range(n)]
    ref_ingestor.verify({"ruby-sdk": expected}, allow_duplicates=True)
    agent.wait_for_event("spool.rekeyed", timeout=30)
    agent.stop()


def test_no_key_material_in_the_spool(tmp_path: Path, ref_ingestor: RefIngestor) -> None:
    agent = _outage_then_kill(tmp_path, ref_ingestor, 200)
    raw = _spool_bytes(agent.state_dir / "spool")
    # The AES session key never leaves memory: neither raw nor base64 appears on disk. The
    # reference ingestor logs the key ids it issued; the wrapped secret is the only key-related
    # value stored, and it is RSA ciphertext.
    for ev in agent.events():
        for value in ev.values():
            if isinstance(value, str) and len(value) > 40:
                assert base64.b64encode(value.encode()) not in raw
    assert b"BEGIN" not in raw and b"PRIVATE" not in raw


def test_refused_re_registration_keeps_the_ciphertext_as_a_counted_dead_letter(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    n = 300
    agent = _outage_then_kill(tmp_path, ref_ingestor, n)
    ref_ingestor.config(refuse_reused_secret=True)
    ref_ingestor.faults(clear=True, expire_keys=True)
    agent.start()
    event = agent.wait_for_event("spool.rekey_refused", timeout=60)
    assert event["key_id"]
    dead = agent.state_dir / "spool" / "dead" / "dead-letter.seg"
    wait_until(lambda: _dead_entries(agent) == n, timeout=60, message="all entries kept dead")
    raw = dead.read_bytes()
    assert raw.startswith(b"LFSPOOL") and b"secret-plaintext-marker" not in raw
    wait_until(lambda: not list((agent.state_dir / "spool").glob("*.seg")), timeout=30)
    assert ref_ingestor.stats()["entries_recorded"] == 0
    agent.stop()


def _dead_entries(agent: AgentProcess) -> int:
    try:
        return int(_status(agent)["spool"]["dead_lettered_entries"])
    except (OSError, KeyError, ValueError):
        return -1


def test_torn_and_corrupt_segments_are_cut_at_start_and_the_rest_delivered(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    n = 2000
    agent = _outage_then_kill(tmp_path, ref_ingestor, n)
    (seg,) = sorted((agent.state_dir / "spool").glob("*.seg"))
    data = seg.read_bytes()
    seg.write_bytes(data[:-100])  # the last record torn, as by a crash mid-write
    (agent.state_dir / "spool" / "0000000000000099.seg").write_bytes(b"LFSPOOL\x07newer")
    ref_ingestor.reset_faults()
    agent.start()
    cut = agent.wait_for_event("spool.tail_cut", timeout=60)
    assert cut["problem"] == "torn record"
    agent.wait_for_event("spool.segment_set_aside", timeout=10)
    wait_until(
        lambda: not list((agent.state_dir / "spool").glob("*.seg")), timeout=60, message="drained"
    )
    got = {e["payload"]["message"] for e in ref_ingestor.entries() if "payload" in e}
    kept = cut["kept_records"]
    assert kept >= 1 and len(got) >= 1
    # Every delivered entry is one of ours and they form a prefix: nothing intact was lost.
    indexes = sorted(int(m.split("-")[2].split()[0]) for m in got)
    assert indexes == list(range(len(indexes)))
    assert (agent.state_dir / "spool" / "aside" / "0000000000000099.seg").exists()
    assert _status(agent)["spool"]["corrupt_tails_cut"] == 1
    agent.stop()


def _stdin_agent(tmp_path: Path, ingestor: RefIngestor) -> AgentProcess:
    return AgentProcess(
        tmp_path / "stdin-agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=[],
        extra={"spool": {}, "sender": {"shutdown_timeout": 30, "retry_max_delay": 0.5}},
        metrics=False,
    )


def test_stdin_one_shot_exits_0_once_spooled_and_wait_delivered_waits_for_acceptance(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    n = 400
    lines = b"".join(f"stdin-{i:06d} secret-plaintext-marker\n".encode() for i in range(n))
    agent = _stdin_agent(tmp_path, ref_ingestor)
    ref_ingestor.faults(status=503, count=10**6)
    (tmp_path / "in.txt").write_bytes(lines)
    with (tmp_path / "in.txt").open("rb") as stdin:
        agent.start(stdin=stdin, args=["--stdin"])
        assert agent.wait(timeout=60) == 0, agent.logs()[-2000:]
    assert f"spool: {n} entries spooled, 0 of them accepted" in agent.logs()
    assert ref_ingestor.stats()["entries_recorded"] == 0
    ref_ingestor.reset_faults()
    with (tmp_path / "in.txt").open("rb") as stdin:
        agent.start(stdin=stdin, args=["--stdin", "--wait-delivered"])
        assert agent.wait(timeout=60) == 0, agent.logs()[-2000:]
    finals = [x for x in agent.logs().splitlines() if "entries spooled" in x]
    assert len(finals) == 2 and "0 request(s) waiting" in finals[-1], finals
    expected = [f"stdin-{i:06d} secret-plaintext-marker" for i in range(n)]
    # The first run's spooled lines, then the second run's: each line arrives twice, in order.
    report = ref_ingestor.verify({"stdin": expected}, allow_duplicates=True)
    assert report.duplicates == n
    assert not list((agent.state_dir / "spool").glob("*.seg"))


class _Producer:
    """One socket client per agent run, writing numbered lines until the connection breaks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent: list[int] = []

    def run_once(self, run: int, stop: Any) -> None:
        import time

        sent = 0
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(self.path))
                while not stop.is_set():
                    chunk = b"".join(_numbered(run, sent + i) for i in range(100))
                    sock.sendall(chunk)
                    sent += 100
                    time.sleep(0.01)  # about 10k lines/s
        except OSError:
            pass
        self.sent.append(sent)


def _numbered(run: int, i: int) -> bytes:
    obj = {"message": f"k{run:02d}-{i:07d} secret-plaintext-marker", "source": "ruby-sdk"}
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def test_ten_kill9s_during_and_after_an_outage_lose_nothing_that_was_spooled(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    import random
    import threading
    import time

    rng = random.Random(17)
    agent = _agent(tmp_path, ref_ingestor)
    producer = _Producer(tmp_path / "agent.sock")
    spooled: list[int] = []
    ref_ingestor.faults(status=503, count=10**6)
    for run in range(10):
        if run == 5:
            ref_ingestor.reset_faults()  # the outage ends; the later kills hit the replay
        agent.start()
        agent.wait_for_event("socket.listening", timeout=60)
        wait_until(lambda: _spooled(agent) >= 0, timeout=60, message="status answers")
        stop = threading.Event()
        thread = threading.Thread(target=producer.run_once, args=(run, stop))
        thread.start()
        time.sleep(rng.uniform(0.5, 2.0))  # a random point in the stream
        spooled.append(max(0, _spooled(agent)))
        agent.kill9()
        stop.set()
        thread.join(timeout=30)
    raw = _spool_bytes(agent.state_dir / "spool")
    assert b"secret-plaintext-marker" not in raw
    agent.start()
    wait_until(
        lambda: _spooled(agent) >= 0 and _status(agent)["spool"]["pending_requests"] == 0,
        timeout=120,
        message="spool drained after the last restart",
    )
    got: dict[str, int] = {}
    for e in ref_ingestor.entries():
        message = e.get("payload", {}).get("message", "")
        got[message] = got.get(message, 0) + 1
    for run, count in enumerate(spooled):
        missing = [
            i for i in range(count) if f"k{run:02d}-{i:07d} secret-plaintext-marker" not in got
        ]
        assert not missing, f"run {run}: {len(missing)} of {count} spooled lines lost"
    assert sum(spooled) > 0 and sum(spooled[:5]) > 0
    duplicates = sum(n - 1 for n in got.values())
    assert duplicates <= 10 * 1000, "at most one request per kill is sent twice"
    agent.stop()


def test_a_spool_directory_that_cannot_be_created_stops_the_start_naming_it(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    agent = _agent(tmp_path, ref_ingestor, directory=str(tmp_path / "a-file" / "spool"))
    agent.start()
    assert agent.wait(timeout=60) == 2
    assert "spool.directory" in agent.logs() and "a-file" in agent.logs()


def _oneshot(*args: str, stdin: bytes, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    return subprocess.run(
        [sys.executable, "-m", "logflux_agent", "--stdin", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**base, **env},
    )


def test_one_shot_without_a_config_spools_when_asked_and_the_next_run_delivers(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    n = 300
    lines = b"".join(f"cli-{i:06d} secret-plaintext-marker\n".encode() for i in range(n))
    env = {"LOGFLUX_API_KEY": ref_ingestor.api_key, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    ref_ingestor.faults(status=503, count=10**6)
    first = _oneshot("--endpoint", ref_ingestor.url, "--spool", stdin=lines, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    spool_dir = tmp_path / "xdg" / "logflux-agent" / "spool"  # the documented default
    assert f"spool: {n} entries spooled".encode() in first.stderr
    assert list(spool_dir.glob("*.seg")) and b"secret-plaintext-marker" not in _spool_bytes(
        spool_dir
    )
    assert ref_ingestor.stats()["entries_recorded"] == 0
    ref_ingestor.reset_faults()
    second = _oneshot(
        "--endpoint", ref_ingestor.url, "--spool", str(spool_dir), "--wait-delivered",
        stdin=b"", env=env,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-2000:]
    assert b"0 request(s) waiting" in second.stderr
    expected = [f"cli-{i:06d} secret-plaintext-marker" for i in range(n)]
    report = ref_ingestor.verify({"stdin": expected})
    assert report.missing_count == 0
    assert not list(spool_dir.glob("*.seg"))


def test_a_spool_directory_in_use_by_another_agent_is_refused_naming_it(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent = _agent(tmp_path, ref_ingestor, directory=str(tmp_path / "shared"))
    agent.start()
    agent.wait_for_event("socket.listening", timeout=60)
    env = {"LOGFLUX_API_KEY": ref_ingestor.api_key}
    result = _oneshot(
        "--endpoint", ref_ingestor.url, "--spool", str(tmp_path / "shared"), stdin=b"x\n", env=env
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert b"in use by another logflux-agent process" in result.stderr
    agent.stop()
