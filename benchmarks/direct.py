"""Direct sender: measures the ceiling of the receivers the harness uses, without any shipper.

* ``sink``: posts 1000-line plain-text bodies to the counting sink (the syslog-ng side's
  receiver) — shows the sink is not the bottleneck.
* ``ingestor``: handshakes with the reference ingestor, encodes every batch up front (full
  protocol: v2 JSON, gzip, AES-256-GCM per entry, multipart of 1000), then posts them from
  several keep-alive connections — shows the ingestor's ``--no-decrypt`` counting ceiling
  (it must comfortably exceed 300k entries/s so it never limits the agent's figures).

    python benchmarks/direct.py sink --lines 1000000
    python benchmarks/direct.py ingestor --entries 300000 [--decrypt]

The receiver runs in its own process; its CPU is reported per entry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import procstat
from gen import AccessLogGenerator
from procs import Child, HarnessError, Http, python_env, wait_for


def post_all(
    url: str, path: str, bodies: list[tuple[bytes, dict[str, str]]], connections: int
) -> tuple[float, float, list[int]]:
    """POST every body once over ``connections`` keep-alive connections.

    Returns (start, end) monotonic times and the response statuses.
    """
    lock = threading.Lock()
    nxt = iter(range(len(bodies)))
    statuses: list[int] = []

    def worker() -> None:
        http = Http(url, timeout=60)
        try:
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                body, headers = bodies[i]
                status, _ = http.request("POST", path, body, headers)
                with lock:
                    statuses.append(status)
        finally:
            http.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return start, time.monotonic(), statuses


def run_sink(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    gen = AccessLogGenerator()
    batches = [("\n".join(chunk) + "\n").encode() for chunk in gen.iter_chunks(args.lines, 1000)]
    ready = workdir / "sink.ready.json"
    sink = Child(
        "sink",
        [sys.executable, str(Path(__file__).with_name("sink.py")), "--ready-file", str(ready)],
        workdir / "sink.log",
        env=python_env(),
    )
    try:
        info = sink.wait_ready_file(ready)
        cpu0 = procstat.cpu_seconds(sink.pid)
        start, end, statuses = post_all(
            info["url"],
            "/ingest",
            [(b, {"Content-Type": "text/plain"}) for b in batches],
            args.connections,
        )
        cpu = procstat.cpu_seconds(sink.pid) - cpu0
        got = Http(info["url"]).get_json("/stats")
    finally:
        sink.stop()
    bad = [s for s in statuses if s != 200]
    return {
        "target": "sink",
        "lines": got["lines"],
        "requests": len(statuses),
        "non_200": len(bad),
        "seconds": round(end - start, 3),
        "lines_per_s": round(got["lines"] / (end - start)),
        "receiver_cpu_us_per_line": round(cpu / max(got["lines"], 1) * 1e6, 3),
        "receiver_rss_mib": round(procstat.rss_bytes(sink.pid) / 2**20, 1)
        if sink.running()
        else None,
    }


def run_ingestor(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    import wire
    from ingestor import Ingestor

    ing = Ingestor(args.agent_bin, workdir, decrypt=args.decrypt)
    try:
        http = Http(ing.url)
        session = wire.handshake(http, ing.api_key)
        gen = AccessLogGenerator()
        t0 = time.monotonic()
        encoded = wire.encode_all(
            session, gen.iter_chunks(args.entries, args.batch), "/var/log/bench/access.log"
        )
        encode_s = time.monotonic() - t0
        bodies = [
            (
                body,
                {
                    "Content-Type": f"multipart/mixed; boundary={boundary}",
                    "Authorization": f"Bearer {ing.api_key}",
                    "User-Agent": "logflux-bench-direct/1",
                },
            )
            for body, boundary in encoded
        ]
        base = ing.accepted()
        cpu0 = procstat.cpu_seconds(ing.pid)
        start, end, statuses = post_all(ing.url, "/v1/ingest", bodies, args.connections)
        wait_for(lambda: ing.accepted() - base >= args.entries, 30, "all entries counted")
        cpu = procstat.cpu_seconds(ing.pid) - cpu0
        rss = procstat.rss_bytes(ing.pid)
        stats = ing.stats()
    finally:
        ing.stop()
    bad = [s for s in statuses if not 200 <= s < 300]
    wire_bytes = sum(len(b) for b, _ in bodies)
    return {
        "target": "ingestor",
        "mode": "decrypt" if args.decrypt else "no-decrypt",
        "entries": args.entries,
        "requests": len(statuses),
        "non_2xx": len(bad),
        "seconds": round(end - start, 3),
        "entries_per_s": round(args.entries / (end - start)),
        "wire_mib_per_s": round(wire_bytes / (end - start) / 2**20, 1),
        "bytes_per_entry": round(wire_bytes / args.entries, 1),
        "receiver_cpu_us_per_entry": round(cpu / args.entries * 1e6, 3),
        "receiver_rss_mib": round(rss / 2**20, 1),
        "client_encode_us_per_entry": round(encode_s / args.entries * 1e6, 2),
        "ingestor_stats": stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="measure the harness's receivers directly")
    parser.add_argument("target", choices=("sink", "ingestor"))
    parser.add_argument("--lines", type=int, default=1_000_000, help="sink: lines to post")
    parser.add_argument("--entries", type=int, default=300_000, help="ingestor: entries")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--decrypt",
        action="store_true",
        help="ingestor: decrypt and validate every entry (default: counting)",
    )
    parser.add_argument("--agent-bin", default=str(Path(sys.executable).with_name("logflux-agent")))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="logflux-direct-") as tmp:
        try:
            result = (run_sink if args.target == "sink" else run_ingestor)(args, Path(tmp))
        except HarnessError as exc:
            print(f"direct.py: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key != "ingestor_stats":
                print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    os.environ.pop("LOGFLUX_API_KEY", None)
    sys.exit(main())
