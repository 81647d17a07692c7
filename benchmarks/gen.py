"""Access-log files for the benchmarks, cached by (lines, seed).

The lines come from ``logflux_agent.samplelog`` (deterministic for a seed, ~131 bytes).

    python benchmarks/gen.py --lines 1000000 -o /tmp/access.log
    python benchmarks/gen.py --lines 100000 --stats          # print size and average length
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from logflux_agent.samplelog import DEFAULT_SEED, AccessLogGenerator

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "logflux-bench-cache"


def write_file(path: Path, lines: int, seed: int = DEFAULT_SEED) -> int:
    """Write ``lines`` lines to ``path`` (atomically); returns the byte size."""
    gen = AccessLogGenerator(seed)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    size = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for chunk in gen.iter_chunks(lines):
            text = "\n".join(chunk) + "\n"
            out.write(text)
            size += len(text)
    os.replace(tmp, path)
    return size


def cached_file(lines: int, seed: int = DEFAULT_SEED, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """A generated file for (lines, seed), made once and reused; callers copy it if they write."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"access-{lines}-{seed}.log"
    if not path.exists():
        write_file(path, lines, seed)
    return path


def container_file(lines: int, seed: int = DEFAULT_SEED, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The same access lines as a containerised app writes them: a JSON object per line
    (level, ts, msg, two fields) in a CRI record, under a kubelet-style pods path."""
    import json

    path = cache_dir / "pods" / f"bench_web-{seed}_0f1e2d3c" / "app" / f"{lines}.log"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = cached_file(lines, seed, cache_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(plain, encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as out:
        for n, line in enumerate(src):
            ms = 1_796_104_800_000 + n
            sec, frac = divmod(ms, 1000)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:03d}456789Z"
            app = {"level": "info", "ts": ms, "msg": line.rstrip("\n"), "req": n, "svc": "web"}
            out.write(f"{stamp} stdout F {json.dumps(app, separators=(',', ':'))}\n")
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", "-n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", "-o", type=Path, help="output file (default: print --stats only)")
    parser.add_argument("--stats", action="store_true", help="print line count and sizes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.out:
        size = write_file(args.out, args.lines, args.seed)
    else:
        size = sum(
            len(line) + 1
            for chunk in AccessLogGenerator(args.seed).iter_chunks(args.lines)
            for line in chunk
        )
    took = time.perf_counter() - started
    if args.stats or not args.out:
        print(
            f"lines={args.lines} bytes={size} avg_line_bytes={size / max(args.lines, 1):.1f} "
            f"(incl. newline) generated_in={took:.2f}s",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
