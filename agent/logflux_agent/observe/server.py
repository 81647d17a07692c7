"""The agent's own HTTP endpoint: ``/metrics``, ``/health`` (liveness), ``/ready``, ``/status``.

``/health`` answers 200 whenever the event loop runs: an answer at all proves the loop is not
stuck, and the body reports how late a small periodic task woke up (loop lag), so a loop that is
alive but starved shows up before it stops answering. ``/ready`` asks the supervisor's
``readiness()`` callable and answers JSON ``{"ready", "stage", "reason"}``, 503 when not ready,
naming the stage that blocks (``session``: discovery/handshake pending; ``sender``: the ingestor
refuses the key, reports 507, or sends keep failing). ``/status`` is the document
``logflux-agent status`` prints (observe/freshness.py); it binds to the same loopback address.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from prometheus_client.exposition import choose_encoder

from logflux_agent.config.model import MetricsConfig
from logflux_agent.config.values import parse_listen as parse_listen  # for status, the tests
from logflux_agent.errors import AgentError
from logflux_agent.observe.metrics import REGISTRY

log = structlog.get_logger(__name__)

# How often the lag probe wakes. Short enough that a stall shows within a second, long enough
# to cost nothing.
LAG_PROBE_INTERVAL = 0.5

# (ready, reason) or (ready, reason, stage).
Readiness = Callable[[], tuple[bool, str] | tuple[bool, str, str]]
StatusSource = Callable[[], dict[str, Any]]


class LoopLagProbe:
    """Measures how late the event loop runs a callback that asked to run at a known time.

    A timer callback, not a task: there is nothing to await, so ``start`` schedules it on the
    loop and ``stop`` cancels it; ``run`` is the same probe for as long as a coroutine runs.
    """

    def __init__(self, interval: float = LAG_PROBE_INTERVAL) -> None:
        self.interval = interval
        self.last_lag = 0.0
        self.max_lag = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_at(loop.time() + self.interval, self._tick, loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    async def run(self) -> None:
        """Probe until cancelled."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            self.stop()

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._handle is not None
        lag = max(0.0, loop.time() - self._handle.when())
        self.last_lag = lag
        self.max_lag = max(self.max_lag, lag)
        self._handle = loop.call_at(loop.time() + self.interval, self._tick, loop)


class ObserveServer:
    """Serves /metrics, /health and /ready on ``config.listen`` until ``stop``."""

    def __init__(
        self,
        config: MetricsConfig,
        readiness: Readiness,
        status: StatusSource | None = None,
    ) -> None:
        self._config = config
        self._readiness = readiness
        self._status = status
        self._runner: web.AppRunner | None = None
        self._probe = LoopLagProbe()
        self._started = time.monotonic()
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` actually bound (the real port when the config asked for 0)."""
        if self._url is None:
            raise RuntimeError("ObserveServer.url read before start()")
        return self._url

    async def start(self) -> None:
        host, port = self._config.address  # parsed by config/values.py, the one parser
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/status", self._status_handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise AgentError(_bind_error(self._config.listen, exc)) from None
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._url = f"http://{shown}:{bound_port}"
        self._started = time.monotonic()
        self._probe.start()

    async def stop(self) -> None:
        self._probe.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- handlers -----------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        del request
        return web.Response(text="logflux-agent: /metrics /health /ready /status\n")

    def _collect_status(self) -> dict[str, Any] | None:
        if self._status is None:
            return None
        try:
            return self._status()
        except Exception as exc:  # a broken status must not take /metrics down
            log.exception("observe.status_failed", error=str(exc))
            return None

    async def _metrics(self, request: web.Request) -> web.Response:
        self._collect_status()  # refreshes the freshness gauges
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body: bytes = encoder(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _health(self, request: web.Request) -> web.Response:
        del request
        return web.json_response(
            {
                "status": "ok",
                "uptime_seconds": round(time.monotonic() - self._started, 3),
                "loop_lag_seconds": round(self._probe.last_lag, 6),
                "loop_lag_max_seconds": round(self._probe.max_lag, 6),
            }
        )

    async def _ready(self, request: web.Request) -> web.Response:
        del request
        stage = ""
        try:
            answer = self._readiness()
            ready, reason = answer[0], answer[1]
            if len(answer) > 2:
                stage = str(answer[2])
        except Exception as exc:  # a broken readiness check must not take the endpoint down
            log.exception("observe.readiness_failed", error=str(exc))
            ready, reason, stage = False, f"readiness check failed: {exc}", "agent"
        body = {
            "ready": bool(ready),
            "stage": stage or ("" if ready else "sender"),
            "reason": reason,
        }
        return web.json_response(body, status=200 if ready else 503)

    async def _status_handler(self, request: web.Request) -> web.Response:
        del request
        doc = self._collect_status()
        if doc is None:
            return web.json_response({"error": "status unavailable"}, status=503)
        return web.json_response(doc)


def _bind_error(listen: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        why = "the address is already in use (another agent or program listens there)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "no network interface has that address"
    elif exc.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges)"
    else:
        why = exc.strerror or str(exc)
    return (
        f"metrics.listen {listen}: cannot listen: {why}; choose another metrics.listen "
        "or set metrics.enabled: false"
    )
