"""A counting HTTP sink for the syslog-ng comparison: accepts any POST, counts lines and bytes.

Runs in its own process so its CPU is never charged to the shipper under test. A request body
is newline-delimited messages (syslog-ng's http() batch); the sink only counts, it never parses
or stores, so it stays far from being the bottleneck (check with ``direct.py sink``).

    python benchmarks/sink.py --port 0 --ready-file /tmp/sink.json
    GET /stats -> {"requests", "lines", "bytes", "first_at", "last_at"}   (wall-clock seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

from aiohttp import web

STATS_KEY = web.AppKey("stats", dict)


async def _ingest(request: web.Request) -> web.Response:
    body = await request.read()
    lines = body.count(b"\n")
    if body and not body.endswith(b"\n"):
        lines += 1
    stats = request.app[STATS_KEY]
    now = time.time()
    if stats["first_at"] is None:
        stats["first_at"] = now
    stats["last_at"] = now
    stats["requests"] += 1
    stats["lines"] += lines
    stats["bytes"] += len(body)
    return web.Response(status=200, text="ok")


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATS_KEY])


async def _reset(request: web.Request) -> web.Response:
    request.app[STATS_KEY].update(requests=0, lines=0, bytes=0, first_at=None, last_at=None)
    return web.json_response({"ok": True})


def build_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATS_KEY] = {"requests": 0, "lines": 0, "bytes": 0, "first_at": None, "last_at": None}
    app.router.add_get("/stats", _stats)
    app.router.add_post("/reset", _reset)
    app.router.add_post("/{tail:.*}", _ingest)
    app.router.add_put("/{tail:.*}", _ingest)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="counting HTTP sink (benchmarks)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    sock.listen(1024)  # connections made right after the ready file queue instead of failing
    if args.ready_file:
        tmp = args.ready_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"url": f"http://{args.host}:{port}", "port": port, "pid": os.getpid()})
        )
        os.replace(tmp, args.ready_file)
    web.run_app(build_app(), sock=sock, print=None, access_log=None, handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
