"""The issue's outage, automated: a socket producer at a fixed rate into a spooled input while the
ingestor is down, then up again — nothing is lost and the spool stays within ``max_bytes``.

Marked ``soak``. The long form is 20,000 entries/s for 60 s (``LOGFLUX_SOAK_SCALE=1``); without
it (CI) the outage is scaled down: ``LOGFLUX_SOAK_SCALE`` (default 0.05) multiplies the 60 s,
the rate stays. ``LOGFLUX_SPOOL_SOAK_RATE`` / ``LOGFLUX_SPOOL_SOAK_SECONDS`` set them directly.
``max_bytes`` is three quarters of what the outage produces: the spool takes the first three
quarters at the producer's pace, then fills, the producer feels backpressure until the ingestor
is back, and the disk bound is exercised.

Nothing here asserts a time or a rate: the producer's achieved rate is printed (``-s``), since a
busy machine may not reach it; what is asserted is no loss, order, and the disk bound.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
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
