"""Processing-chain micro-benchmark: CPU µs per line of a processor chain, in-process.

The lines are the container benchmark's (``gen.container_file``: an access line as a JSON
object in a CRI record, under a kubelet pods path), emitted in lists of 8,192 records as the
file input does (one shared attributes dict, the ack token on the last record), the last
20,000 entries kept alive as the agent's queue keeps them. For each chain it reports the
chain's CPU time per line, the pickling of its output entries to an encode worker and back
(what the pipe costs per entry), both with ``time.process_time``, and how many full garbage
collections ran during the chain (their cost is part of the chain's time); best of
``--repeat``. The garbage collector is set up as the agent's ``run`` sets it (gctune.py:
start-up objects frozen, young threshold 50,000) unless ``--gc default``; ``--input lines``
emits each list as one packed ``Lines`` (packed.py) instead of records.

    python benchmarks/processing.py --lines 100000 --repeat 5
    python benchmarks/processing.py --chain cri,kubernetes,json --profile   # cProfile top 25
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from logflux_agent import gctune
from logflux_agent.config.processors import (
    CriProcessor,
    JsonProcessor,
    KubernetesProcessor,
    MultilineProcessor,
)
from logflux_agent.packed import Lines
from logflux_agent.processing.chain import Chain
from logflux_agent.record import ENTRY_FIELDS, AckToken, Record, records_for
from logflux_agent.samplelog import DEFAULT_SEED, AccessLogGenerator

SOURCE = "/var/log/pods/bench_web-1_0f1e2d3c/app/0.log"
CHUNK = 8192
QUEUE_ENTRIES = 20_000  # the benchmark agent's queue.max_entries (benchmarks/agentrun.py)
PROCESSORS: dict[str, Any] = {
    "cri": CriProcessor(),
    "kubernetes": KubernetesProcessor(),
    "json": JsonProcessor(message_key="msg"),
    "multiline": MultilineProcessor(continue_pattern=r"^\s+at "),
}
CHAINS = ("", "cri", "cri,kubernetes", "cri,kubernetes,json", "cri,multiline")


class _Stream:
    key = "bench"


def container_lines(count: int) -> list[str]:
    gen = AccessLogGenerator(DEFAULT_SEED)
    out: list[str] = []
    for chunk in gen.iter_chunks(count):
        for line in chunk:
            n = len(out)
            ms = 1_796_104_800_000 + n
            sec, frac = divmod(ms, 1000)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:03d}456789Z"
            app = {"level": "info", "ts": ms, "msg": line, "req": n, "svc": "web"}
            out.append(f"{stamp} stdout F {json.dumps(app, separators=(',', ':'))}")
    return out


def chunks(lines: list[str], packed: bool = False) -> list[list[Record]] | list[Lines]:
    labels = {"env": "bench"}
    stream = _Stream()
    if packed:
        token = AckToken(stream, 0)  # type: ignore[arg-type]
        return [
            Lines(lines[at : at + CHUNK], 1_796_104_800.0, 7, SOURCE, labels, token)
            for at in range(0, len(lines), CHUNK)
        ]
    out = []
    for start in range(0, len(lines), CHUNK):
        records = records_for(lines[start : start + CHUNK], 1_796_104_800.0, 7, SOURCE, labels)
        records[-1] = records[-1].with_ack(AckToken(stream, start + CHUNK))  # type: ignore[arg-type]
        out.append(records)
    return out


def measure(
    spec: str, data: list[list[Record]] | list[Lines], lines: int
) -> tuple[float, float, int]:
    """(chain µs/line, pickle round trip µs/entry, full garbage collections during the chain).

    Only the last ``QUEUE_ENTRIES`` entries are kept while the chain runs, as the agent's
    bounded queue keeps them: what stays alive decides what the collector's full passes cost.
    """
    chain = Chain("bench", tuple(PROCESSORS[n] for n in spec.split(",") if n))
    kept: deque[Sequence[Record]] = deque(maxlen=max(1, QUEUE_ENTRIES // CHUNK))
    full_gcs = gc.get_stats()[2]["collections"]
    started = time.process_time()
    for records in data:
        kept.append(chain.process(records, 0.0))
    kept.append(chain.flush(0.0, force=True))
    chain_s = time.process_time() - started
    full_gcs = gc.get_stats()[2]["collections"] - full_gcs
    started = time.process_time()
    for out in kept:
        entries = list(map(ENTRY_FIELDS, out))
        pickle.loads(pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))
    pickle_s = time.process_time() - started
    return chain_s / lines * 1e6, pickle_s / max(1, sum(map(len, kept))) * 1e6, full_gcs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chain", action="append", help="comma-separated processors (repeatable)")
    parser.add_argument("--profile", action="store_true", help="cProfile the first chain")
    parser.add_argument("--gc", choices=("agent", "default"), default="agent")
    parser.add_argument("--input", choices=("records", "lines"), default="records")
    args = parser.parse_args(argv)
    if args.gc == "agent":
        gctune.tune({})
    packed = args.input == "lines"
    lines = container_lines(args.lines)
    specs = args.chain or list(CHAINS)
    if args.profile:
        import cProfile
        import pstats

        data = chunks(lines, packed)
        with cProfile.Profile() as prof:
            measure(specs[0], data, len(lines))
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return 0
    print(
        f"{len(lines):,} lines, ~{sum(map(len, lines)) // len(lines)} B, {args.input}, "
        f"gc {args.gc}; best of {args.repeat}"
    )
    print(f"{'chain':<28} {'chain µs/line':>14} {'pickle µs/entry':>16} {'full GCs':>9}")
    for spec in specs:
        best = min(
            (measure(spec, chunks(lines, packed), len(lines)) for _ in range(args.repeat)),
            key=lambda r: r[0],
        )
        print(f"{spec or '(none: rows only)':<28} {best[0]:>14.2f} {best[1]:>16.2f} {best[2]:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
