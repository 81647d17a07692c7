"""Encode-path micro-benchmark: payload JSON + gzip + AES-256-GCM + multipart, per entry.

Prints entries/s and µs/entry for 200-byte and 1 KiB lines, in-process with each gzip mode
(``stored``: every entry under ``sender.compress_min_bytes``, the default for short lines;
``zlib``/``isal``: every entry deflated, ``compress_min_bytes: 0``); then the default mode
offloaded to encode worker processes (``ingest/encode_pool.py``, as the agent does with
``sender.encode_workers``), with the CPU the *parent* spends per entry — what the event loop
pays — next to the wall-clock rate.

    .venv/bin/python benchmarks/encode.py                  # defaults: 20,000 entries, batch 1000
    .venv/bin/python benchmarks/encode.py --entries 100000 --json

``--steps`` instead prints where the CPU of one in-process encode goes (``encode_with_aead``
on a batch of realistic access-log lines, every entry stored, as with the default
``compress_min_bytes``): CPU µs per entry of the whole encode and of each step run on its
own (process time; median and best of ``--repeat`` rounds, each round ``--rounds`` encodes):

    .venv/bin/python benchmarks/encode.py --steps --repeat 15

``--attributes container`` gives each entry its own attributes dict, shaped as the
``cri`` + ``kubernetes`` + ``json`` chain leaves it (stream, pod fields, the app's JSON fields,
one of them a per-line counter), instead of one dict shared by the whole batch:

    .venv/bin/python benchmarks/encode.py --steps --attributes container --repeat 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gen import AccessLogGenerator
from logflux_agent import USER_AGENT
from logflux_agent.config.model import DEFAULT_COMPRESS_MIN_BYTES
from logflux_agent.ingest import encode as encode_module
from logflux_agent.ingest import nonces, plaintext
from logflux_agent.ingest.encode import (
    COMPRESSORS,
    DEFAULT_COMPRESSOR,
    EncodeJob,
    EntryTuple,
    PayloadStatics,
    encode_with_aead,
    new_boundary,
)
from logflux_agent.ingest.encode_pool import EncodePool

STATICS = PayloadStatics.build(
    node="web-01", environment="production", agent=USER_AGENT, labels={"team": "payments"}
)
ATTRS = {"service": "nginx"}
ATTRIBUTES = ("shared", "container")


def attributes_of(kind: str, n: int) -> dict[str, str]:
    """The attributes of the ``n``-th entry: the shared dict, or a container entry's own."""
    if kind == "shared":
        return ATTRS
    return {
        "env": "bench",
        "stream": "stdout",
        "k8s.namespace": "bench",
        "k8s.pod": "web-1",
        "k8s.pod_uid": "0f1e2d3c",
        "k8s.container": "app",
        "k8s.restart_count": "0",
        "level": "info",
        "ts": str(1_796_104_800_000 + n),
        "req": str(n),
        "svc": "web",
    }


def make_lines(n: int, size: int) -> list[str]:
    gen = AccessLogGenerator()
    out: list[str] = []
    while len(out) < n:
        text = ""
        while len(text) < size:
            text += (" | " if text else "") + gen.lines(1)[0]
        out.append(text[:size])
    return out


def batches(lines: list[str], batch: int, kind: str = "shared") -> list[list[EntryTuple]]:
    t0 = 1_795_000_000.0
    entries: list[EntryTuple] = [
        (line, t0 + i * 0.0005, 7, "/var/log/nginx/access.log", attributes_of(kind, i))
        for i, line in enumerate(lines)
    ]
    return [entries[i : i + batch] for i in range(0, len(entries), batch)]


def job(entries: list[EntryTuple], counter: int, compressor: str) -> EncodeJob:
    """``compressor`` "stored" keeps every entry below compress_min_bytes; else all deflate."""
    return EncodeJob(
        entries=entries,
        key_id="0b7c1f4e-2d1a-4f7e-9a51-3c2b1d0e9f8a",
        nonce_prefix=b"\x01\x02\x03\x04",
        counter_start=counter,
        statics=STATICS,
        boundary=new_boundary(),
        max_payload=1 << 20,
        max_request=1 << 30,
        compressor=DEFAULT_COMPRESSOR if compressor == "stored" else compressor,
        compress_min_bytes=1 << 20 if compressor == "stored" else 0,
    )


def in_process(
    work: list[list[EntryTuple]], compressor: str, key: bytes, repeat: int
) -> dict[str, Any]:
    aead = AESGCM(key)
    encode_with_aead(job(work[0], 0, compressor), aead)  # warm-up
    n = sum(len(b) for b in work)
    wall = cpu = float("inf")
    for _ in range(repeat):  # best of N: this is a shared, noisy machine
        wire = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        counter = 0
        for entries in work:
            enc = encode_with_aead(job(entries, counter, compressor), aead)
            counter += len(entries)
            wire += len(enc.body)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - cpu0)
    return {
        "mode": "in-process",
        "compressor": compressor,
        "entries": n,
        "us_per_entry": wall / n * 1e6,
        "entries_per_s": n / wall,
        "parent_cpu_us_per_entry": cpu / n * 1e6,
        "wire_bytes_per_entry": wire / n,
    }


def offloaded(
    work: list[list[EntryTuple]], compressor: str, key: bytes, workers: int, repeat: int
) -> dict[str, Any]:
    return asyncio.run(_offloaded(work, compressor, key, workers, repeat))


async def _offloaded(
    work: list[list[EntryTuple]], compressor: str, key: bytes, workers: int, repeat: int
) -> dict[str, Any]:
    pool = EncodePool(workers)
    n = sum(len(b) for b in work)
    try:
        await asyncio.gather(
            *(pool.encode(job(work[0], 0, compressor), bytearray(key)) for _ in range(workers))
        )  # warm-up: start every worker
        wall = cpu = float("inf")
        for _ in range(repeat):
            cpu0, t0 = time.process_time(), time.perf_counter()
            counter = 0
            jobs = []
            for entries in work:
                jobs.append(job(entries, counter, compressor))
                counter += len(entries)
            done = await asyncio.gather(*(pool.encode(j, bytearray(key)) for j in jobs))
            wire = sum(len(enc.body) for enc in done if enc is not None)
            wall = min(wall, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - cpu0)
    finally:
        await pool.close()
    return {
        "mode": f"process x{workers}",
        "compressor": compressor,
        "entries": n,
        "us_per_entry": wall / n * 1e6,
        "entries_per_s": n / wall,
        "parent_cpu_us_per_entry": cpu / n * 1e6,
        "wire_bytes_per_entry": wire / n,
    }


def steps(
    entries: int, rounds: int, repeat_: int, kind: str = "shared"
) -> list[tuple[str, float, float]]:
    """(step, median, best) CPU µs per entry: the whole encode, then each step on its own.

    The batch: ``entries`` access-log lines read in chunks of 250 (one timestamp each), one
    source and attributes object (``kind`` "shared"; "container": one per entry), as the file
    input hands them to the encoder."""
    lines = AccessLogGenerator().lines(entries)
    t0 = 1_795_000_000.0
    batch: list[EntryTuple] = [
        (line, t0 + i // 250 * 0.01, 7, "/var/log/nginx/access.log", attributes_of(kind, i))
        for i, line in enumerate(lines)
    ]
    aead = AESGCM(os.urandom(32))
    work = job(batch, 0, "stored")
    starts = plaintext.run_starts(batch)
    stamps = plaintext.stamps_of([batch[i] for i in starts[:-1]])
    texts = plaintext.plaintexts(batch, STATICS, stamps, starts=starts)
    sizes = list(map(len, texts))
    datas, _ = encode_module._gzip_all(texts, sizes, zlib.compress, 1 << 30)
    block = nonces.nonce_block(work.nonce_prefix, 0, len(batch))
    nonce_list = list(nonces.cut(block, nonces.NONCE_BYTES, len(batch)))
    parts: dict[str, Callable[[], object]] = {
        "encode_with_aead (total)": lambda: encode_with_aead(work, aead),
        "run boundaries": lambda: plaintext.run_starts(batch),
        "payload JSON (plaintexts)": lambda: plaintext.plaintexts(
            batch, STATICS, stamps, starts=starts
        ),
        "stored gzip members": lambda: encode_module._gzip_all(
            texts, sizes, zlib.compress, 1 << 30
        ),
        "  of which CRC-32": lambda: list(map(zlib.crc32, texts)),
        "nonces + header values": lambda: (
            nonces.cut(block := nonces.nonce_block(b"\1\2\3\4", 0, len(batch)), 12, len(batch)),
            nonces.cut(nonces.header_values(block, len(batch)), 20, len(batch)),
        ),
        "AES-GCM encrypt": lambda: list(map(aead.encrypt, nonce_list, datas, repeat(None))),
    }
    samples: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(repeat_):  # interleaved, so load on a shared machine hits every step alike
        for name, run in parts.items():
            cpu0 = time.process_time()
            for _ in range(rounds):
                run()
            samples[name].append((time.process_time() - cpu0) / rounds / len(batch) * 1e6)
    return [(name, statistics.median(v), min(v)) for name, v in samples.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--sizes", default="200,1024", help="line sizes in bytes")
    parser.add_argument("--workers", default="1,2", help="process counts to try (0: none)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    parser.add_argument("--steps", action="store_true", help="CPU per step of one encode")
    parser.add_argument("--rounds", type=int, default=30, help="--steps: encodes per round")
    parser.add_argument(
        "--attributes",
        choices=ATTRIBUTES,
        default="shared",
        help="one attributes dict for all entries, or one per entry as the container chain",
    )
    args = parser.parse_args(argv)
    if args.steps:
        results = steps(args.batch, args.rounds, args.repeat, args.attributes)
        if args.json:
            for name, median, best in results:
                print(json.dumps({"step": name, "us_per_entry": median, "best": best}))
            return 0
        print(f"CPU µs per entry, batch of {args.batch}, median / best of {args.repeat} rounds")
        for name, median, best in results:
            print(f"{name:<28} {median:>7.3f} {best:>7.3f}")
        return 0
    key = os.urandom(32)
    rows: list[dict[str, Any]] = []
    for size in (int(s) for s in args.sizes.split(",")):
        work = batches(make_lines(args.entries, size), args.batch, args.attributes)
        for compressor in ["stored", *sorted(COMPRESSORS)]:
            rows.append({"line_bytes": size, **in_process(work, compressor, key, args.repeat)})
        best = "stored" if size < DEFAULT_COMPRESS_MIN_BYTES else DEFAULT_COMPRESSOR
        for workers in (int(w) for w in args.workers.split(",") if int(w) > 0):
            rows.append({"line_bytes": size, **offloaded(work, best, key, workers, args.repeat)})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(
        f"encode benchmark: {args.entries} entries per size, batches of {args.batch}, "
        f"best of {args.repeat}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}"
    )
    print(
        f"{'line':>6} {'mode':<12} {'gzip':<6} {'us/entry':>9} {'entries/s':>10} "
        f"{'parent cpu us/entry':>20} {'wire B/entry':>13}"
    )
    for r in rows:
        print(
            f"{r['line_bytes']:>6} {r['mode']:<12} {r['compressor']:<6} "
            f"{r['us_per_entry']:>9.2f} {r['entries_per_s']:>10.0f} "
            f"{r['parent_cpu_us_per_entry']:>20.2f} {r['wire_bytes_per_entry']:>13.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
