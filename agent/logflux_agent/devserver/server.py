"""Listening: TCP or TLS on a socket we bind ourselves (so port 0 reports the real port), the
ready file, the start-up banner and a clean stop on SIGTERM/SIGINT.

The ready file is written atomically (temporary file + rename, mode 0600: it names the API
keys) once the socket accepts connections: ``{"url","port","fingerprint","fingerprints",
"api_keys","pid","tls","mode"}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import sys
from dataclasses import dataclass
from typing import TextIO

import structlog
from aiohttp import web

from logflux_agent.credentials import mask_key
from logflux_agent.devserver.app import DevServer
from logflux_agent.devserver.options import DEV_API_KEY, DevServerOptions
from logflux_agent.errors import AgentError, ConfigError
from logflux_agent.observe.logsink import TolerantStream

log = structlog.get_logger(__name__)

SHUTDOWN_GRACE_SECONDS = 2.0


@dataclass(slots=True)
class Listening:
    """A started server: its runner, URL and port."""

    runner: web.AppRunner
    url: str
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


def make_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise ConfigError(f"TLS file not found: {exc.filename}") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from None
    return ctx


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve --host {host!r}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(512)
    except OSError as exc:
        sock.close()
        raise AgentError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def _url_host(sock: socket.socket, host: str) -> str:
    addr = sock.getsockname()[0]
    if addr in ("0.0.0.0", ""):
        return "127.0.0.1"
    if addr == "::":
        return "[::1]"
    if sock.family == socket.AF_INET6:
        return f"[{addr}]"
    return host if host == "localhost" else str(addr)


async def start(server: DevServer, *, ssl_context: ssl.SSLContext | None = None) -> Listening:
    """Bind, serve ``server``'s app, and set its ``base_url``; the caller closes it."""
    opts = server.options
    sock = _bind(opts.host, opts.port)
    port = int(sock.getsockname()[1])
    scheme = "https" if ssl_context is not None else "http"
    url = f"{scheme}://{_url_host(sock, opts.host)}:{port}"
    server.base_url = (opts.public_url or url).rstrip("/")
    runner = web.AppRunner(
        server.build_app(),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
    )
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    return Listening(runner, server.base_url, port)


def write_ready_file(path: str, server: DevServer, listening: Listening) -> None:
    keys = server.keys
    info = {
        "url": listening.url,
        "port": listening.port,
        "fingerprint": keys.served(server.switches.serve_key).fingerprint,
        "fingerprints": {"primary": keys.primary.fingerprint},
        "api_keys": list(server.options.api_keys),
        "pid": os.getpid(),
        "tls": listening.url.startswith("https:"),
        "mode": "count" if server.options.no_decrypt else "decrypt",
    }
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
    os.replace(tmp, path)


def banner(server: DevServer, listening: Listening, out: TextIO) -> None:
    opts = server.options
    key = server.keys.primary
    mode = ("counting only (--no-decrypt)" if opts.no_decrypt else "decrypting") + (
        ", lenient JS framing" if opts.lenient_js_framing else ", strict RFC 2046 framing"
    )
    keys = ", ".join(
        mask_key(k) + (" (default dev key)" if k == DEV_API_KEY else "") for k in opts.api_keys
    )
    origin = "loaded from --private-key" if opts.private_key_pem else "generated at start"
    lines = [
        f"logflux dev-ingestor listening on {listening.url}  ({mode})",
        f"  public key   {key.fingerprint}  (RSA-{key.bits}, {origin})",
        f"  api keys     {keys}",
        "  limits       "
        + " ".join(f"{k}={v}" for k, v in server.switches.limits.as_json().items()),
        f"  output       {opts.output or 'none (entries kept in memory only)'}",
        f"  admin        {listening.url}/_ref/stats  /_ref/entries  /_ref/faults",
    ]
    if server.switches.accept_oaep_mgf1_sha1:
        lines.insert(2, "  key wrap     also OAEP SHA-256 / MGF1-SHA-1 (--accept-oaep-mgf1-sha1)")
    # A closed stdout (`dev-ingestor | head -3`) must not stop the server.
    TolerantStream(out).write("\n".join(lines) + "\n")


async def serve(options: DevServerOptions, *, ready_file: str | None = None) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean stop."""
    ssl_context = (
        make_ssl_context(options.tls_cert, options.tls_key)
        if options.tls_cert and options.tls_key
        else None
    )
    server = DevServer(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    listening = await start(server, ssl_context=ssl_context)
    try:
        banner(server, listening, sys.stderr if options.output == "-" else sys.stdout)
        if ready_file:
            write_ready_file(ready_file, server, listening)
        log.info(
            "devserver.started",
            url=listening.url,
            port=listening.port,
            fingerprint=server.keys.primary.fingerprint,
        )
        await stop.wait()
        log.info("devserver.stopping")
    finally:
        await listening.close()
        server.close()
    return 0
