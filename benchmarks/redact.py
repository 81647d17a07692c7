"""Redaction micro-benchmark: CPU µs per line of the processing chain, in-process.

The lines are the bench's access-log lines (~132 bytes, a client IPv4 on every line, so the
``ipv4`` detector replaces on every line), fed in lists the size of one file read (2,000 lines
is one 256 KiB ``read_chunk_bytes`` of them). Each row is one processor chain (``Chain.process``,
as the agent runs it: packed ``Lines`` in and out for a chain of line-keeping processors, as
the file input emits them then, records in and out for any other); CPU time of this process
(``time.process_time``), the median and the best of ``--repeat`` runs (on a machine shared
with other work the best is the closer to what the code costs):

- ``unprocessed``: 0 — without processors the agent installs no chain at all;
- ``stage only``: a chain with one processor that does nothing (``sample: {every: 1}``): the
  rows in and out that any processor pays;
- ``packed stage only``: the same for a packed read (``set: {}``, which keeps it packed);
- ``redact``: all ten built-in detectors (mask);
- ``redact (hash)``: the same with ``replace: hash``;
- ``redact + regex + search_tokens``: as ``benchmarks/processors-redact-parse-tokens.yaml``;
- ``redact + json + search_tokens``: the same fields as JSON lines (~190 bytes).

    .venv/bin/python benchmarks/redact.py                   # 200,000 lines, 5 runs
    .venv/bin/python benchmarks/redact.py --lines 50000 --repeat 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from logflux_agent.config.privacy import RedactProcessor, SampleProcessor, SearchTokensProcessor
from logflux_agent.config.processors import JsonProcessor, RegexProcessor, SetProcessor
from logflux_agent.packed import Lines
from logflux_agent.processing.chain import Chain, keeps_lines
from logflux_agent.record import Record, records_for
from logflux_agent.samplelog import AccessLogGenerator

ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) ')
TOKENS = SearchTokensProcessor(fields=("method", "status"))


def as_json(line: str) -> str:
    client, _, rest = line.partition(" ")
    m = ACCESS.search(rest)
    assert m is not None
    return json.dumps(
        {"client": client, "method": m["method"], "path": m["path"], "status": m["status"]},
        separators=(",", ":"),
    )


CHAINS: dict[str, tuple[Any, ...]] = {
    "stage only": (SampleProcessor(every=1),),
    "packed stage only": (SetProcessor(),),
    "redact": (RedactProcessor(),),
    "redact (hash)": (RedactProcessor(replace="hash"),),
    "redact + regex + search_tokens": (
        RedactProcessor(),
        RegexProcessor(pattern=ACCESS.pattern),
        TOKENS,
    ),
    "redact + json + search_tokens": (RedactProcessor(), JsonProcessor(), TOKENS),
}


def lists(lines: list[str], chunk: int, packed: bool) -> list[Lines] | list[list[Record]]:
    """The reads as the file input emits them: packed when the chain keeps them packed."""
    source = "/var/log/access.log"
    if packed:
        return [
            Lines(lines[i : i + chunk], 1.8e9, 7, source, {}) for i in range(0, len(lines), chunk)
        ]
    return [
        records_for(lines[i : i + chunk], 1.8e9, 7, source, {}) for i in range(0, len(lines), chunk)
    ]


def cpu_per_line(run: Callable[[], object], lines: int) -> float:
    started = time.process_time()
    run()
    return (time.process_time() - started) / lines * 1e6


def measure(lines: list[str], chunk: int, repeat: int) -> dict[str, tuple[float, float]]:
    json_lines = [as_json(t) for t in lines]
    out: dict[str, tuple[float, float]] = {"unprocessed": (0.0, 0.0)}
    for name, processors in CHAINS.items():
        source = json_lines if "json" in name else lines
        samples = []
        for _ in range(repeat):
            batches = lists(source, chunk, keeps_lines(processors))  # outside the timed part
            chain = Chain("bench", processors)

            def run(chain: Chain = chain, batches: Any = batches) -> None:
                for batch in batches:
                    chain.process(batch, 0.0)

            samples.append(cpu_per_line(run, len(source)))
        out[name] = (statistics.median(samples), min(samples))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=2000, help="lines per emitted list")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    lines = AccessLogGenerator().lines(args.lines)
    load = [round(x, 2) for x in os.getloadavg()]
    figures = measure(lines, args.chunk, args.repeat)
    if args.json:
        rows = {k: {"median": m, "best": b} for k, (m, b) in figures.items()}
        print(json.dumps({"load_avg": load, "lines": args.lines, "cpu_us_per_line": rows}))
        return 0
    print(
        f"{args.lines} lines of {sum(map(len, lines)) / len(lines):.0f} B, lists of "
        f"{args.chunk}, median of {args.repeat} runs, load average {load}"
    )
    print(f"{'CPU µs/line':34} {'median':>8} {'best':>8}")
    for name, (median, best) in figures.items():
        print(f"{name:34} {median:8.2f} {best:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
