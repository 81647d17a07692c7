"""Realistic access-log lines for the benchmarks: fixed seed, ~131 bytes on average.

Lines look like an nginx/Apache access log (client, user, time, request, status, size,
duration, a short user agent) drawn from fixed pools, so the same seed always yields the same
bytes and gzip sees the redundancy real logs have. Generated files are cached by (lines, seed).

    python benchmarks/gen.py --lines 1000000 -o /tmp/access.log
    python benchmarks/gen.py --lines 100000 --stats          # print size and average length
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DEFAULT_SEED = 20261128
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "logflux-bench-cache"

_METHODS = ("GET",) * 16 + ("POST",) * 3 + ("PUT", "DELETE", "HEAD")
_STATUSES = ("200",) * 40 + (
    "201",
    "204",
    "301",
    "302",
    "304",
    "304",
    "400",
    "401",
    "403",
    "404",
    "404",
    "404",
    "429",
    "500",
    "502",
    "503",
)
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64)",
    "Mozilla/5.0 (Windows NT 10.0; Win64)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1)",
    "curl/8.5.0",
    "python-requests/2.31",
    "Go-http-client/2.0",
    "kube-probe/1.29",
    "Googlebot/2.1",
    "okhttp/4.12.0",
    "Prometheus/2.48.1",
    "ELB-HealthChecker/2.0",
    "Wget/1.21.4",
)
_USERS = ("-",) * 12 + ("alice", "bob", "svc-billing", "deploy")
_RESOURCES = (
    "users",
    "orders",
    "items",
    "carts",
    "sessions",
    "invoices",
    "search",
    "static",
    "assets",
    "reports",
    "accounts",
    "products",
    "payments",
    "events",
)
_ACTIONS = ("", "", "", "/detail", "/history", "/export", "/items", "/status", "/refresh")
_STATIC = (
    "/favicon.ico",
    "/robots.txt",
    "/health",
    "/metrics",
    "/index.html",
    "/assets/app.js",
    "/assets/app.css",
    "/login",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AccessLogGenerator:
    """Deterministic stream of access-log lines (without newline) for a given seed."""

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        *,
        start_epoch: float = 1_795_000_000.0,
        lines_per_second: float = 2000.0,
    ) -> None:
        self._rng = random.Random(seed)
        rng = self._rng
        self._ips = [
            f"{rng.choice((10, 172, 192, 81, 93, 203))}.{rng.randrange(256)}."
            f"{rng.randrange(256)}.{rng.randrange(1, 255)}"
            for _ in range(4000)
        ]
        paths = list(_STATIC)
        for _ in range(1500):
            res = rng.choice(_RESOURCES)
            path = (
                f"/api/v{rng.randrange(1, 4)}/{res}/{rng.randrange(1, 10 ** rng.randrange(2, 8))}"
            )
            path += rng.choice(_ACTIONS)
            if rng.random() < 0.3:
                path += f"?page={rng.randrange(1, 50)}&limit={rng.choice((10, 20, 50, 100))}"
            paths.append(path)
        self._paths = paths
        self._t = start_epoch
        self._step = 1.0 / lines_per_second
        self._stamp_second = -1
        self._stamp = ""

    def _timestamp(self) -> str:
        second = int(self._t)
        if second != self._stamp_second:
            tm = time.gmtime(second)
            self._stamp = (
                f"{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:"
                f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} +0000"
            )
            self._stamp_second = second
        return self._stamp

    def lines(self, n: int) -> list[str]:
        """The next ``n`` lines; bulk draws keep generation near 1 µs per line."""
        rng = self._rng
        ips = rng.choices(self._ips, k=n)
        users = rng.choices(_USERS, k=n)
        methods = rng.choices(_METHODS, k=n)
        paths = rng.choices(self._paths, k=n)
        statuses = rng.choices(_STATUSES, k=n)
        agents = rng.choices(_AGENTS, k=n)
        rand = rng.random
        out = []
        for i in range(n):
            self._t += self._step
            size = int(rand() * rand() * 60000) if methods[i] != "HEAD" else 0
            ms = int(rand() * rand() * 900) + 1
            out.append(
                f'{ips[i]} - {users[i]} [{self._timestamp()}] "{methods[i]} {paths[i]} '
                f'HTTP/1.1" {statuses[i]} {size} {ms}ms "{agents[i]}"'
            )
        return out

    def iter_chunks(self, total: int, chunk: int = 10_000) -> Iterator[list[str]]:
        done = 0
        while done < total:
            n = min(chunk, total - done)
            yield self.lines(n)
            done += n


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
