"""A paced log writer in its own process: appends access-log lines at a fixed rate.

With ``--stamp`` each line ends with `` wt=<epoch µs> seq=<n>``: the wall-clock time just
before the write() that carried it, so the latency scenario can compute accept time - write
time. Lines are written in small chunks (every ``--tick`` seconds), each with one write(),
like a busy web server. At the end (duration reached or SIGTERM) a JSON summary goes to
``--done-file``.

    python benchmarks/writer.py --out /tmp/app.log --rate 10000 --duration 60 --stamp
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from gen import DEFAULT_SEED, AccessLogGenerator

_stop = False


def _on_term(signum: int, frame: FrameType | None) -> None:
    global _stop
    _stop = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="paced access-log writer (benchmarks)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rate", type=float, required=True, help="lines per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--tick", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED + 1)
    parser.add_argument("--stamp", action="store_true", help="append wt=<µs> seq=<n>")
    parser.add_argument("--done-file", type=Path)
    parser.add_argument(
        "--progress-file", type=Path, help="rewritten about once a second with {written, at}"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_term)
    gen = AccessLogGenerator(args.seed)
    pool = gen.lines(50_000)  # drawn up front: the writer's own CPU must not limit the rate
    written = 0
    behind_max = 0
    start = time.monotonic()
    last_progress = start
    fd = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        while not _stop:
            now = time.monotonic()
            elapsed = now - start
            if elapsed >= args.duration:
                break
            due = int(elapsed * args.rate) + 1
            n = due - written
            if n > 0:
                behind_max = max(behind_max, n)
                if args.stamp:
                    stamp = time.time_ns() // 1000
                    chunk = "".join(
                        f"{pool[(written + i) % len(pool)]} wt={stamp} seq={written + i}\n"
                        for i in range(n)
                    )
                else:
                    chunk = "".join(f"{pool[(written + i) % len(pool)]}\n" for i in range(n))
                os.write(fd, chunk.encode())
                written += n
            if args.progress_file is not None and now - last_progress >= 1.0:
                last_progress = now
                tmp = args.progress_file.with_suffix(".tmp")
                tmp.write_text(json.dumps({"written": written, "at": time.time()}))
                os.replace(tmp, args.progress_file)
            time.sleep(args.tick)
    finally:
        os.close(fd)
    took = time.monotonic() - start
    summary = {
        "written": written,
        "seconds": round(took, 3),
        "rate": round(written / took if took else 0.0, 1),
        "max_chunk": behind_max,
        "stopped_early": _stop,
    }
    if args.done_file is not None:
        tmp = args.done_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary))
        os.replace(tmp, args.done_file)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
