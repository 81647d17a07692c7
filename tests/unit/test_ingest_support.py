"""Shared helpers for the ingest client tests (and a self-test of them).

``MiniIngestor`` is a small, strict loopback ingestor written from protocol.md alone with the
standard ``email`` parser and ``cryptography``: it serves discovery, the handshake and ingest,
decrypts and records every part, and plays scripted answers. The client tests use it for the
protocol paths where a test must control every byte of an answer; the full reference ingestor
(tests/support/refingestor.py) is used for the outcome classes.

``GatedClock`` is a ``FakeClock`` whose long sleeps block until the test releases them, so a test
can look at the client while it waits (readiness, the shared pause gate).
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import gzip
import inspect
import json
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.clock import FakeClock

API_KEY = "eu-lf_minitestkey0123456789"
_RSA: rsa.RSAPrivateKey | None = None


def server_key() -> rsa.RSAPrivateKey:
    global _RSA
    if _RSA is None:
        _RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _RSA


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


DROP = Answer(-1)  # close the connection without answering

Script = Callable[[web.Request, list[dict[str, Any]]], Answer | Awaitable[Answer | None] | None]


class MiniIngestor:
    """Strict loopback ingestor. ``script`` entries answer the next ingest requests in order."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        key: rsa.RSAPrivateKey | None = None,
        init_body: Callable[[str], dict[str, Any]] | None = None,
        complete_body: Callable[[str], dict[str, Any]] | None = None,
        discovery: dict[str, Any] | None = None,
        auth_discovery: dict[str, Any] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.api_key = api_key
        self.key = key or server_key()
        self.init_body = init_body or (
            lambda pem: {
                "public_key": pem,
                "supports_multipart": True,
                "limits": {
                    "max_batch_size": 1000,
                    "max_payload_size": 1 << 20,
                    "max_request_size": 10 << 20,
                },
            }
        )
        self.complete_body = complete_body or (lambda kid: {"status": "success", "key_id": kid})
        self.discovery = discovery
        self.auth_discovery = auth_discovery
        self.keys: dict[str, bytes] = {}
        self.requests: list[dict[str, Any]] = []  # every request: path, headers, body
        self.entries: list[dict[str, Any]] = []  # accepted parts: payload, key_id, nonce
        self.script: list[Answer | Script] = []
        self.handshakes = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> MiniIngestor:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_get("/", self._static)
        app.router.add_get("/api/discovery", self._auth_discovery)
        app.router.add_post("/v1/handshake/init", self._init)
        app.router.add_post("/v1/handshake/complete", self._complete)
        app.router.add_post("/v1/ingest", self._ingest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        scheme = "https" if self.ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def _record(self, request: web.Request, body: bytes) -> None:
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _static(self, request: web.Request) -> web.Response:
        self._record(request, b"")
        if self.discovery is None:
            return web.json_response(
                {"version": "1", "region": "eu", "endpoints": {"ingestor_url": self.url}}
            )
        return web.json_response(self.discovery)

    async def _auth_discovery(self, request: web.Request) -> web.Response:
        self._record(request, b"")
        if not self._authorized(request):
            return web.json_response({"status": "error"}, status=401)
        return web.json_response(self.auth_discovery or {"ingestor_url": self.url})

    async def _init(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._record(request, body)
        if not self._authorized(request) or json.loads(body).get("api_key") != self.api_key:
            return web.json_response({"status": "error"}, status=401)
        return web.json_response(self.init_body(public_pem(self.key)))

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._record(request, body)
        if not self._authorized(request):
            return web.json_response({"status": "error"}, status=401)
        doc = json.loads(body)
        secret = self.key.decrypt(
            base64.b64decode(doc["encrypted_secret"]),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
        )
        if len(secret) != 32:
            return web.json_response({"status": "error"}, status=400)
        kid = str(uuid.uuid4())
        self.keys[kid] = secret
        self.handshakes += 1
        return web.json_response(self.complete_body(kid))

    def decode(self, request: web.Request, body: bytes) -> list[dict[str, Any]]:
        raw = (f"Content-Type: {request.headers['Content-Type']}\r\n\r\n").encode() + body
        msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
        assert msg.is_multipart() and not msg.defects
        parts = []
        for part in msg.iter_parts():
            kid = part["X-LF-Key-ID"]
            nonce = base64.b64decode(part["X-LF-Nonce"], validate=True)
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            plain = gzip.decompress(AESGCM(self.keys[kid]).decrypt(nonce, data, None))
            parts.append(
                {
                    "payload": json.loads(plain),
                    "key_id": kid,
                    "nonce": nonce,
                    "headers": dict(part.items()),
                }
            )
        return parts

    async def _ingest(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._record(request, body)
        if not self._authorized(request):
            return web.json_response({"status": "error"}, status=401)
        parts = self.decode(request, body)
        answer: Answer | None = None
        if self.script:
            step = self.script.pop(0)
            if callable(step):
                got = step(request, parts)
                answer = await got if inspect.isawaitable(got) else got
            else:
                answer = step
        if answer is DROP:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if answer is None:
            answer = Answer(
                202,
                {
                    "status": "success",
                    "data": {
                        "success": True,
                        "total": len(parts),
                        "succeeded": len(parts),
                        "failed": 0,
                    },
                },
            )
        if 200 <= answer.status < 300:
            failed = {f["index"] for f in (answer.body or {}).get("data", {}).get("failures", [])}
            self.entries.extend(p for i, p in enumerate(parts) if i not in failed)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    def messages(self) -> list[str]:
        return [e["payload"]["message"] for e in self.entries]


class GatedClock(FakeClock):
    """Sleeps shorter than ``gate_at`` return at once; longer ones wait for ``release()``."""

    def __init__(self, gate_at: float = 1e9) -> None:
        super().__init__()
        self.gate_at = gate_at
        self._released = asyncio.Event()
        self.waiting = 0

    def release(self) -> None:
        self._released.set()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds >= self.gate_at:
            self.waiting += 1
            try:
                await self._released.wait()
            finally:
                self.waiting -= 1
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


async def test_gated_clock_blocks_only_long_sleeps() -> None:
    clock = GatedClock(gate_at=5)
    await clock.sleep(1)
    task = asyncio.ensure_future(clock.sleep(10))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done() and clock.waiting == 1
    clock.release()
    await task
    assert clock.sleeps == [1, 10] and clock.monotonic() == 11
