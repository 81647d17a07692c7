"""What stable record ids and the receipt ledger add per line on the file input's hot path,
measured in-process.

Each step is timed with and without on the same data (access-log lines, one 256 KiB read
chunk, batches of 1,000 as the agent sends them), the way the file input's packed hot path
does it (packed.py): framing (end offsets tracked), the chunk's ``Lines`` (with ids: their
columns, the prefix and the start offsets), pickling a batch's ``PackedJob`` for the encode
worker, and encoding it there (unpack, payload JSON + stored gzip + AES-GCM + multipart) with
ids and without; and the ack path (``AckTracker``:
the chunk queued, batches opened and completed) with a receipt ledger writing to a real
directory and without one. Time is this thread's CPU time (not wall time, which other
processes stretch on a busy machine), the best of ``--repeat`` runs for each, the two sides
alternated. On a busy machine the encode step needs many
rounds (``--repeat 60``) before its best on and off settle.

    .venv/bin/python benchmarks/record_ids.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gen import AccessLogGenerator
from logflux_agent import USER_AGENT
from logflux_agent.config.model import DEFAULT_COMPRESS_MIN_BYTES
from logflux_agent.ingest.encode import EncodeJob, PayloadStatics, encode_with_aead, new_boundary
from logflux_agent.ingest.encode_dispatch import job_pieces
from logflux_agent.ingest.packed_job import PackedJob
from logflux_agent.inputs.file.identity import FileStream
from logflux_agent.inputs.file.record_ids import format_ids, line_starts
from logflux_agent.inputs.framing import LineFramer
from logflux_agent.inputs.levels import LEVEL_INFO, make_records
from logflux_agent.ledger.receipts import Receipts
from logflux_agent.ledger.writer import LedgerWriter
from logflux_agent.packed import Lines, Run
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.record import AckToken, Record

STATICS = PayloadStatics.build(node="web-01", environment=None, agent=USER_AGENT)
ATTRS = {"service": "nginx"}
CHUNK = 262_144
PREFIX = "f:3b9c0e51a2d47f08:"


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.thread_time()
        fn()
        times.append(time.thread_time() - start)
    return min(times)


def job(batch: Run) -> PackedJob:
    """The batch's job as the agent hands it to an encode worker (encode_dispatch.py)."""
    return PackedJob(
        EncodeJob(
            entries=[],
            key_id="k",
            nonce_prefix=b"\0\0\0\1",
            counter_start=0,
            statics=STATICS,
            boundary=new_boundary(),
            max_payload=1 << 20,
            max_request=1 << 26,
            compress_min_bytes=DEFAULT_COMPRESS_MIN_BYTES,
        ),
        job_pieces(batch),
    )


class Report:
    """What a delivery reports to the ledger (ingest/delivery.py ``DeliveryReport``)."""

    request_ids = ("5f0c2d1e-8a41-4c53-9d0e-1b2a3c4d5e6f",)
    key_id = "0b6f3a52-6f1d-4a86-b2f6-3d5e7c9a1b20"
    dead_lettered = 0


def ack_path(records: list[Record], receipts: Receipts | None, chunks: int) -> Callable[[], int]:
    """The tracker's work for ``chunks`` read chunks of ``records``, in batches of 1,000."""
    stream = FileStream("app", "/var/log/app.log", 2049, 131, b"head\n", committed=0)
    n = len(records)
    lists = []
    for k in range(chunks):
        chunk = list(records)
        chunk[-1] = chunk[-1].with_ack(AckToken(stream, (k + 1) * CHUNK))
        lists.append(chunk)
    report = Report()

    def run() -> int:
        tracker = AckTracker(receipts=receipts)
        for chunk in lists:
            tracker.emitted("app", n)
            tracker.queued("app", chunk)
        left = n * chunks
        while left:
            take = min(1000, left)
            tracker.complete(tracker.open([], {"app": take}), report)
            left -= take
        return n * chunks

    return run


def measure(repeat: int) -> dict[str, Any]:
    data = b""
    gen = AccessLogGenerator()
    while len(data) < CHUNK:
        data += "".join(f"{line}\n" for line in gen.lines(500)).encode()
    data = data[: data.rfind(b"\n", 0, CHUNK) + 1]
    n = data.count(b"\n")
    aead = AESGCM(os.urandom(32))
    out: dict[str, Any] = {"lines": n}

    def frame(track: bool) -> Any:
        return LineFramer(track_offsets=track).feed(data)

    frames_on = frame(True)

    def lines(on: bool) -> Lines:
        # As reading.py with ids on: FileIds.lines gives the columns.
        rids = (PREFIX, line_starts(frames_on), -1) if on else None
        return Lines(frames_on.lines, 1.0, LEVEL_INFO, "/var/log/app.log", ATTRS, None, rids)

    def records(on: bool) -> list[Record]:
        rids = format_ids(PREFIX, line_starts(frames_on)) if on else None
        return make_records(frames_on.lines, 1.0, "/var/log/app.log", ATTRS, rids=rids)

    batch_on, batch_off = Run([lines(True)[:1000]]), Run([lines(False)[:1000]])
    tmp = tempfile.TemporaryDirectory(prefix="ledger-bench-")
    writer = LedgerWriter(tmp.name, max_bytes=256 << 20, max_age=86_400.0, run="bench")
    writer.open()
    receipts = Receipts(writer)
    chunks = 8
    pickled_on = pickle.dumps(job(batch_on), protocol=pickle.HIGHEST_PROTOCOL)
    pickled_off = pickle.dumps(job(batch_off), protocol=pickle.HIGHEST_PROTOCOL)
    steps: dict[str, tuple[Callable[[], object], Callable[[], object], int]] = {
        "framing": (lambda: frame(True), lambda: frame(False), n),
        "ids": (lambda: lines(True), lambda: lines(False), n),
        "pickle_job": (
            lambda: pickle.dumps(job(batch_on), protocol=pickle.HIGHEST_PROTOCOL),
            lambda: pickle.dumps(job(batch_off), protocol=pickle.HIGHEST_PROTOCOL),
            1000,
        ),
        "encode": (
            lambda: encode_with_aead(pickle.loads(pickled_on).unpack(), aead),
            lambda: encode_with_aead(pickle.loads(pickled_off).unpack(), aead),
            1000,
        ),
        "ledger": (
            ack_path(records(True), receipts, chunks),
            ack_path(records(True), None, chunks),
            n * chunks,
        ),
    }
    total = 0.0
    for name, (on, off, count) in steps.items():
        # Alternate: each side gets the same share of the machine's other load.
        t_on = t_off = float("inf")
        for _ in range(repeat):
            t_on = min(t_on, best(on, 1))
            t_off = min(t_off, best(off, 1))
        added = (t_on - t_off) / count * 1e6
        total += added
        out[name] = {
            "on_us": round(t_on / count * 1e6, 3),
            "off_us": round(t_off / count * 1e6, 3),
            "added_us": round(added, 3),
        }
    out["added_us_per_line"] = round(total, 3)
    writer.close()
    tmp.cleanup()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    result = measure(args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['lines']} lines per chunk; µs per line, best of {args.repeat}:")
    for name, row in result.items():
        if isinstance(row, dict):
            print(
                f"  {name:<11} on {row['on_us']:7.3f}  off {row['off_us']:7.3f}"
                f"  added {row['added_us']:+.3f}"
            )
    print(f"  total added {result['added_us_per_line']:+.3f} µs/line")


if __name__ == "__main__":
    main()
