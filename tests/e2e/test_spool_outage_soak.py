"""The issue's outage, automated: a socket producer at a fixed rate into a spooled input while the
ingestor is down, then up again — nothing is lost and the spool stays within ``max_bytes``.

Marked ``soak``. The long form is 20,000 entries/s for 60 s (``LOGFLUX_SOAK_SCALE=1``); without
it (CI) the outage is scaled down: ``LOGFLUX_SOAK_SCALE`` (default 0.05) multiplies the 60 s,
the rate stays. ``LOGFLUX_SPOOL_SOAK_RATE`` / ``LOGFLUX_SPOOL_SOAK_SECONDS`` set them directly.
``max_bytes`` is three quarters of what the outage produces: the spool takes the first three
quarters at the producer's pace, then fills, the producer feels backpressure until the ingestor
is back, and the disk bound is exercised. The second test gives the spool room for all of it
(the producer never meets a full spool) and kills the agent with ``kill -9`` eleven times at
random points during and after the outage (see the comment above it for what it can know).

Nothing here asserts a time or a rate: the producer's achieved rate is printed (``-s``), since a
busy machine may not reach it; what is asserted is no loss, order, and the disk bound.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from logflux_agent.delivery.segment import SpoolItem, scan
from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor, shared_private_key_pem
from tests.support.wait import wait_until

pytestmark = [pytest.mark.soak, pytest.mark.timeout(3600)]

SCALE = float(os.environ.get("LOGFLUX_SOAK_SCALE", "0.05"))
RATE = float(os.environ.get("LOGFLUX_SPOOL_SOAK_RATE", "20000"))
SECONDS = float(os.environ.get("LOGFLUX_SPOOL_SOAK_SECONDS", str(60.0 * SCALE)))
CHUNK = 200
# What one line of this test costs in the spool (ciphertext, part headers, record framing),
# measured: about 600 bytes. Only used to size max_bytes below the outage's volume.
SPOOLED_BYTES_PER_ENTRY = 600
LINE = (
    '{{"message":"soak-{:08d} secret-plaintext-marker","source":"ruby-sdk","level":6,'
    '"labels":{{"service":"soak"}}}}\n'
)


class _Producer(threading.Thread):
    """Writes ``total`` numbered lines at ``rate`` per second (blocking when the agent does
    not read: backpressure), and records how long it took."""

    def __init__(self, path: Path, total: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.path, self.total, self.rate = path, total, rate
        self.sent = 0
        self.seconds = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(self.path))
                start = time.monotonic()
                while self.sent < self.total:
                    ahead = self.sent / self.rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
                    n = min(CHUNK, self.total - self.sent)
                    sock.sendall("".join(LINE.format(self.sent + i) for i in range(n)).encode())
                    self.sent += n
                self.seconds = time.monotonic() - start
        except BaseException as exc:  # the test reports it
            self.error = exc


class _DiskWatch(threading.Thread):
    """Samples the spool directory's segment bytes (and everything in it) until stopped."""

    def __init__(self, directory: Path) -> None:
        super().__init__(daemon=True)
        self.directory = directory
        self.peak_segments = 0
        self.peak_all = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            segs = total = 0
            try:
                for path in self.directory.rglob("*"):
                    try:
                        size = path.stat().st_size if path.is_file() else 0
                    except FileNotFoundError:  # deleted between listing and stat
                        continue
                    total += size
                    if path.suffix == ".seg" and path.parent == self.directory:
                        segs += size
            except FileNotFoundError:
                continue
            self.peak_segments = max(self.peak_segments, segs)
            self.peak_all = max(self.peak_all, total)


def test_outage_at_rate_into_a_spooled_socket_loses_nothing_and_stays_within_max_bytes(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    total = max(CHUNK, int(RATE * SECONDS) // CHUNK * CHUNK)
    max_bytes = max(4 * 1024 * 1024, total * SPOOLED_BYTES_PER_ENTRY * 3 // 4)
    sock_path = tmp_path / "agent.sock"
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[{"type": "socket", "id": "app", "unix": str(sock_path)}],
        extra={
            "spool": {"max_bytes": max_bytes, "segment_bytes": 1024 * 1024},
            "logging": {"level": "warning", "format": "json"},
        },
    )
    spool_dir = agent.state_dir / "spool"
    agent.start()
    watch = _DiskWatch(spool_dir)
    try:
        wait_until(lambda: spool_dir.is_dir(), timeout=60, message="the spool directory")
        wait_until(sock_path.exists, timeout=60, message="the socket")
        ref_ingestor.faults(status=503, count=10**9)  # the outage
        watch.start()
        producer = _Producer(sock_path, total, RATE)
        producer.start()
        producer.join(timeout=SECONDS)  # the outage lasts as long as the producer's schedule
        ref_ingestor.reset_faults()  # the ingestor is back
        producer.join(timeout=600 + SECONDS * 4)
        assert producer.error is None, producer.error
        assert producer.sent == total
        ref_ingestor.wait_for_entries(total, timeout=600 + SECONDS * 4, distinct=True)
        wait_until(lambda: not list(spool_dir.glob("*.seg")), timeout=120, message="spool drained")
    finally:
        watch.stop.set()
        watch.join(timeout=10)
        agent.stop()
    print(
        f"\nspool soak: {total} entries, target {RATE:.0f}/s for {SECONDS:.0f} s, producer "
        f"{total / max(producer.seconds, 1e-3):.0f}/s; spool peak {watch.peak_segments} of "
        f"max_bytes {max_bytes}"
    )
    expected = [f"soak-{i:08d} secret-plaintext-marker" for i in range(total)]
    report = ref_ingestor.verify({"ruby-sdk": expected}, allow_duplicates=True)
    assert report.missing_count == 0 and not report.out_of_order
    assert watch.peak_segments > 0, "the outage was spooled"
    assert watch.peak_segments <= max_bytes
    # The .acked counts (a byte per request) and the lock file come on top: a few KiB.
    assert watch.peak_all <= max_bytes + 64 * 1024


# -- kill -9 at random points during and after the outage ------------------------------------
#
# ``max_bytes`` is four times the outage's volume: the spool never fills, so the producer never
# feels backpressure from it (the test above covers the full spool). What the test can know of
# "durably spooled before the kill": with ``fsync: every_batch`` the agent counts a batch's
# entries (``/status`` ``spool.spooled_entries``) only after its fsync, so the count sampled
# just before each ``kill -9`` is a lower bound of what was on disk at the kill. Each
# connection's entries are spooled in the order they were read, so what was spooled of a
# connection is a prefix of it. Asserted per connection: what arrived is a prefix (no gap),
# in order, and the prefixes of one agent run's connections add up to at least its sampled
# count. Lines the agent had not spooled (in a socket buffer or its queue) when it died were
# never acknowledged, and may be lost.

KILLS_DURING = 6
KILLS_AFTER = 5
BATCH_MAX_ENTRIES = 1000  # the sender's default: the doc's bound is one request per kill
KILL_LINE = (
    '{{"message":"soak-{c}-{i:08d} secret-plaintext-marker","source":"soak-{c}","level":6,'
    '"labels":{{"service":"soak"}}}}\n'
)


class _Reconnecting(threading.Thread):
    """Writes numbered lines at ``rate`` per second to the agent's socket until stopped; when
    the agent dies it reconnects. Each connection is named after the agent run it met
    (``run``, set by the test before each start) and numbers its lines from 0."""

    def __init__(self, path: Path, rate: float) -> None:
        super().__init__(daemon=True)
        self.path, self.rate = path, rate
        self.run_no = 0
        self.written: dict[str, int] = {}  # connection -> lines handed to sendall and returned
        self.longest_send = 0.0  # the longest single sendall: how long the producer was blocked
        self.stalls: list[tuple[str, float]] = []  # (connection, seconds) of sendalls over 0.5 s
        self.connected_seconds = 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.path))
            except OSError:  # the agent is down (or not listening yet): try again shortly
                sock.close()
                self.stopping.wait(0.01)
                continue
            run = f"r{self.run_no:02d}-"
            name = run + str(sum(k.startswith(run) for k in self.written))
            self.written[name] = 0
            start = time.monotonic()
            try:
                self._write(sock, name, start)
            except OSError:  # the agent was killed: reconnect
                pass
            finally:
                sock.close()
                self.connected_seconds += time.monotonic() - start

    def _write(self, sock: socket.socket, name: str, start: float) -> None:
        sent = 0
        while not self.stopping.is_set():
            ahead = sent / self.rate - (time.monotonic() - start)
            if ahead > 0:
                self.stopping.wait(ahead)
            chunk = "".join(KILL_LINE.format(c=name, i=sent + i) for i in range(CHUNK))
            began = time.monotonic()
            sock.sendall(chunk.encode())
            took = time.monotonic() - began
            self.longest_send = max(self.longest_send, took)
            if took > 0.5:
                self.stalls.append((name, round(took, 2)))
            sent += CHUNK
            self.written[name] = sent


def _spooled_count(agent: AgentProcess) -> int:
    """The running agent's ``spool.spooled_entries``; -1 while it does not answer."""
    url = f"http://127.0.0.1:{agent.metrics_port}/status"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(json.loads(resp.read())["spool"]["spooled_entries"])
    except (OSError, KeyError, ValueError):
        return -1


def _pending(agent: AgentProcess) -> int:
    url = f"http://127.0.0.1:{agent.metrics_port}/status"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(json.loads(resp.read())["spool"]["pending_requests"])
    except (OSError, KeyError, ValueError):
        return -1


def _run_then_kill(agent: AgentProcess, uptime: float) -> int:
    """Start the agent, let it run ``uptime`` seconds, sample its spooled count, kill -9."""
    agent.start()
    # The previous process is dead: an answer comes from this one.
    wait_until(lambda: _spooled_count(agent) >= 0, timeout=180, message="status answers")
    time.sleep(uptime)  # a random kill point: a time, not a condition to wait for
    spooled = max(0, _spooled_count(agent))
    agent.kill9()
    return spooled


def _spool_has_no_plaintext_or_keys(spool_dir: Path, api_key: str) -> tuple[int, int]:
    """Grep every file of the spool for the plaintext lines, the API key, PEM text and the
    session AES keys (unwrapped from the stored secrets with the ingestor's RSA key, so the
    test knows them: raw, base64 and hex). Returns (bytes grepped, AES keys looked for)."""
    private = serialization.load_pem_private_key(shared_private_key_pem(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    files = [p for p in sorted(spool_dir.rglob("*")) if p.is_file()]
    secrets = {
        SpoolItem.decode(payload).encrypted_secret
        for p in files
        if p.suffix == ".seg"
        for _, payload in scan(p).records[:1]
    }
    keys = [private.decrypt(base64.b64decode(s), oaep) for s in secrets]
    assert keys and all(len(k) == 32 for k in keys), "the spool's secrets unwrap to AES-256 keys"
    needles = [b"secret-plaintext-marker", b"soak-r0", api_key.encode(), b"PRIVATE KEY"]
    needles += [form for k in keys for form in (k, base64.b64encode(k), k.hex().encode())]
    grepped = 0
    for path in files:
        data = path.read_bytes()
        grepped += len(data)
        found = [n[:12] for n in needles if n in data]
        assert not found, f"{path.name} holds {found!r}"
    return grepped, len(keys)


def _arrivals(output: Path) -> dict[str, list[int]]:
    """Connection -> line numbers in arrival order, read from the ingestor's output file one
    line at a time (the long form is over a million entries)."""
    got: dict[str, list[int]] = {}
    with output.open("rb") as fh:
        for raw in fh:
            message = json.loads(raw).get("payload", {}).get("message", "")
            name, _, number = message.split(" ")[0].removeprefix("soak-").rpartition("-")
            got.setdefault(name, []).append(int(number))
    return got


def _check_connection(name: str, seen: list[int]) -> tuple[int, int]:
    """What arrived of one connection is a prefix, first arrivals in order; (prefix, dups)."""
    firsts: list[int] = []
    unique: set[int] = set()
    for i in seen:
        if i not in unique:
            unique.add(i)
            firsts.append(i)
    assert firsts == list(range(len(firsts))), f"connection {name}: a gap or out of order"
    return len(firsts), len(seen) - len(firsts)


def test_kill9s_during_and_after_an_outage_at_rate_lose_nothing_that_was_spooled(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    rng = random.Random(int(os.environ.get("LOGFLUX_SOAK_SEED", "17")))
    max_bytes = max(256 * 1024 * 1024, int(4 * RATE * SECONDS * SPOOLED_BYTES_PER_ENTRY))
    sock_path = tmp_path / "agent.sock"
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[{"type": "socket", "id": "app", "unix": str(sock_path)}],
        extra={"spool": {"max_bytes": max_bytes, "fsync": "every_batch"}},
    )
    spool_dir = agent.state_dir / "spool"
    producer = _Reconnecting(sock_path, RATE)
    watch = _DiskWatch(spool_dir)
    spooled: list[int] = []
    # Each run lasts a random 0.5 to 1.5 times its share of the outage (at least 1.5 s: a restart
    # shakes hands and replays before it spools anything new).
    mean_uptime = max(1.5, SECONDS / KILLS_DURING)
    try:
        ref_ingestor.faults(status=503, count=10**9)  # the outage, from the first start
        outage_start = time.monotonic()
        producer.start()
        watch.start()
        for run in range(KILLS_DURING + KILLS_AFTER):
            producer.run_no = run
            uptime = rng.uniform(0.5, 1.5) * mean_uptime
            if run == KILLS_DURING - 1:  # the outage lasts at least SECONDS
                uptime = max(uptime, SECONDS - (time.monotonic() - outage_start))
            spooled.append(_run_then_kill(agent, uptime))
            if run == KILLS_DURING - 1:
                outage = time.monotonic() - outage_start
                grepped, keys = _spool_has_no_plaintext_or_keys(spool_dir, agent.api_key)
                ref_ingestor.reset_faults()  # the ingestor is back; the next kills hit replay
        producer.stopping.set()  # nothing is written after the last kill
        producer.join(timeout=30)
        agent.start()
        wait_until(lambda: _pending(agent) == 0, timeout=1800, message="the spool drained")
    finally:
        producer.stopping.set()
        watch.stop.set()
        watch.join(timeout=10)
        agent.stop()
    assert not [e for e in agent.events() if e.get("event") == "spool.full"], "never full"
    assert ref_ingestor.output_path is not None
    got = _arrivals(ref_ingestor.output_path)
    prefix: dict[str, int] = {}
    duplicates = 0
    for name, seen in got.items():
        prefix[name], dups = _check_connection(name, seen)
        duplicates += dups
    for run, count in enumerate(spooled):
        delivered = sum(n for name, n in prefix.items() if name.startswith(f"r{run:02d}-"))
        assert delivered >= count, f"run {run}: {count} spooled before the kill, {delivered} came"
    kills = len(spooled)
    written = sum(producer.written.values())
    print(
        f"\nspool kill soak: {kills} kill -9 ({KILLS_DURING} in a {outage:.0f} s outage, "
        f"{KILLS_AFTER} after); producer {written} lines over {len(producer.written)} "
        f"connections at {written / max(producer.connected_seconds, 1e-3):.0f}/s while "
        f"connected (target {RATE:.0f}/s), longest sendall {producer.longest_send:.3f} s "
        f"(sendalls over 0.5 s: {producer.stalls or 'none'}); spooled before "
        f"kills (sampled) {sum(spooled)}, delivered {sum(prefix.values())}, duplicates "
        f"{duplicates} (bound {kills * BATCH_MAX_ENTRIES}); spool peak {watch.peak_segments} "
        f"bytes, {grepped} grepped at its fullest, {keys} AES key(s) looked for"
    )
    assert sum(spooled[:KILLS_DURING]) > 0 and sum(spooled[KILLS_DURING:]) > 0
    assert duplicates <= kills * BATCH_MAX_ENTRIES, "at most one request per kill is sent twice"
