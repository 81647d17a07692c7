"""The in-process reference ingestor with test controls around it, for the ingest client tests.

``ScriptedIngestor`` is ``InProcessIngestor``: the real devserver does discovery, the
handshake, strict multipart parsing, AES-GCM, limits and faults. Around its HTTP app it adds:

- ``requests``: every request as it arrived (path, headers, raw body), to check what was sent;
- ``script``: steps for the next ingest requests, in order. A step is a fault spec (applied to
  that one request through the devserver's own fault API) or a callable, sync or async, run when
  the request arrives — to hold it, look at the client mid-delivery, or move a fake clock — that
  may return a fault spec;
- ``rewrite``: path → function over a JSON answer, for answer shapes the devserver does not
  produce itself (a blank flat ``public_key`` beside a wrapped one, a padded key id, a key that
  is not RSA or not PEM): the devserver still does the real work underneath;
- ``keys``: key id → the AES key the devserver unwrapped at each handshake, to prove no
  secret leaks anywhere.

The whole body is read before the devserver sees it (then handed over unchanged), so the
``slow_read`` fault does not slow anything down here.

``GatedClock`` is a ``FakeClock`` whose long sleeps block until the test releases them, so a
test can look at the client while it waits (readiness, the shared pause gate).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import streams, web

from logflux_agent.clock import FakeClock
from tests.support.refingestor import InProcessIngestor

API_KEY = "eu-lf_scriptedtestkey0123456789"

Spec = dict[str, Any]
Step = Spec | Callable[[], Spec | Awaitable[Spec | None] | None]

_NONCE = re.compile(rb"\r\nX-LF-Key-ID: ([^\r]+)\r\nX-LF-Nonce: ([^\r]+)\r\n", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the ingestor received it."""

    path: str
    headers: dict[str, str]
    body: bytes

    def __getitem__(self, name: str) -> Any:  # the older dict-style access of these tests
        return getattr(self, name)


class ScriptedIngestor(InProcessIngestor):
    """The devserver in the test's loop, plus ``requests``, ``script``, ``rewrite``, ``keys``."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        ssl_context: ssl.SSLContext | None = None,
        clock: Any = None,
        **options: Any,
    ) -> None:
        options.setdefault("api_keys", (api_key,))
        super().__init__(clock=clock, ssl_context=ssl_context, **options)
        self.requests: list[Seen] = []
        self.script: list[Step] = []
        self.rewrite: dict[str, Callable[[Any], Any]] = {}
        self.keys: dict[str, bytes] = {}

    async def __aenter__(self) -> ScriptedIngestor:
        from logflux_agent.devserver.app import DevServer

        self.server = DevServer(self.options, clock=self.clock)
        store = self.server.sessions
        create = store.create

        def remember(aes_key: bytes, api_key: str, fingerprint: str) -> Any:
            session = create(aes_key, api_key, fingerprint)
            self.keys[session.key_id] = bytes(aes_key)
            return session

        store.create = remember  # type: ignore[method-assign]
        app = self.server.build_app()
        app.middlewares.append(self._observe)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        scheme = "https" if self.ssl_context is not None else "http"
        self.url = self.server.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self.fingerprint = self.server.keys.primary.fingerprint
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
        self.server.close()

    @web.middleware
    async def _observe(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.content.read()
        self.requests.append(Seen(request.path, dict(request.headers), body))
        replay = streams.StreamReader(request.protocol, 1 << 16, loop=asyncio.get_running_loop())
        replay.feed_data(body)
        replay.feed_eof()
        request = request.clone()  # a fresh ``content``: the devserver reads the body as sent
        request._payload = replay
        if request.path == "/v1/ingest" and self.script:
            step = self.script.pop(0)
            spec = step() if callable(step) else step
            if inspect.isawaitable(spec):
                spec = await spec
            if spec:
                self.server.apply_faults({**spec, "count": 1})
        resp = await handler(request)
        change = self.rewrite.get(request.path)
        if change is not None and isinstance(resp, web.Response) and resp.body is not None:
            assert isinstance(resp.body, bytes)
            return web.json_response(change(json.loads(resp.body)), status=resp.status)
        return resp

    # -- what arrived ------------------------------------------------------------------------

    def messages(self) -> list[str]:
        return [e["payload"]["message"] for e in self.entries()]

    @property
    def handshakes(self) -> int:
        return int(self.stats()["handshakes"])

    def ingest_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path == "/v1/ingest"]

    def nonces(self) -> list[tuple[str, str]]:
        """(key id, nonce) of every part of every ingest request, accepted or not."""
        return [
            (kid.decode(), nonce.decode())
            for r in self.ingest_requests()
            for kid, nonce in _NONCE.findall(r.body)
        ]

    def parts_per_request(self) -> list[int]:
        return [len(_NONCE.findall(r.body)) for r in self.ingest_requests()]


def batch_failures(indexes: list[int], error: str) -> Spec:
    """A 2xx whose ``failures`` list ``indexes`` with ``error`` (the others are accepted)."""
    return {"fail_indexes": indexes, "fail_error": error}


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
