"""The session side of the client: HTTP connection pool, discovery, handshake and rotation.

Owns the one aiohttp session (built lazily, TLS context built once at start-up), the cached
discovery result (run again after repeated connection failures), the current AES ``Session``
and the effective ``Limits`` it brought. ``session_for`` hands out the current session with room
for a batch's nonces, renewing it when it is refused, too old, used up, or a re-discovery is
due; a failed renewal backs off (slowly for a refused key or a pin mismatch) and never gives up.
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import structlog

from logflux_agent import USER_AGENT
from logflux_agent.clock import Clock
from logflux_agent.config.model import AgentConfig
from logflux_agent.errors import AgentError, AuthError, PinMismatchError
from logflux_agent.ingest.discovery import Discovered, discover
from logflux_agent.ingest.handshake import load_pin, perform_handshake
from logflux_agent.ingest.health import Health
from logflux_agent.ingest.http import make_session, make_ssl_context
from logflux_agent.ingest.retry import Backoff
from logflux_agent.ingest.session import Limits, ServerLimits, Session, SessionInfo
from logflux_agent.observe import metrics

log = structlog.get_logger(__name__)


class SessionKeeper:
    """Discovery + handshake + rotation for one agent; the ``current`` session or None."""

    def __init__(self, config: AgentConfig, clock: Clock, health: Health) -> None:
        self._config = config
        self._clock = clock
        self._health = health
        self._pin = load_pin(config)  # ConfigError now, not a retry loop later
        # Built once, here: a bad ca_file fails early, and the event loop never loads certs.
        self._ssl: ssl.SSLContext | bool = make_ssl_context(config.tls_verify, config.ca_file)
        self.limits: Limits = Limits.effective(ServerLimits(), config.sender.batch_max_entries)
        self._http: aiohttp.ClientSession | None = None
        self._discovered: Discovered | None = None
        self.current: Session | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self._rediscover = False

    async def start(self) -> None:
        """Discover and handshake unless a live session exists.

        Raises DiscoveryError, HandshakeError, PinMismatchError or AuthError (errors.py).
        """
        async with self._lock:
            if self.current is None or self.current.destroyed:
                await self._establish(reason=None)

    @property
    def discovered(self) -> Discovered | None:
        """Where discovery found the ingestor (None before the first session)."""
        return self._discovered

    def info(self) -> SessionInfo:
        session = self.current
        discovered = self._discovered
        if session is None or discovered is None:
            raise RuntimeError("no session yet: call start()")
        return SessionInfo(
            base_url=session.base_url,
            region=discovered.region,
            discovered_via=discovered.via,
            key_id=session.key_id,
            fingerprint=session.fingerprint,
            pin=self._pin.fingerprint if self._pin else None,
            pin_source=self._pin.source if self._pin else None,
            limits=self.limits,
            server_limits=session.server_limits,
            supports_multipart=session.supports_multipart,
        )

    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = make_session(
                self._ssl,
                user_agent=USER_AGENT,
                connections=self._config.sender.max_in_flight + 2,
            )
        return self._http

    def request_rediscovery(self) -> None:
        """Run discovery again before the next handshake (the cached ingestor seems gone)."""
        self._rediscover = True

    def refused(self, session: Session) -> None:
        """The ingestor refused ``session``'s key: the next ``session_for`` handshakes again."""
        if self.current is session:
            session.destroy()

    async def session_for(self, entries: int) -> Session:
        """The current session with room for ``entries`` nonces; renews it when due."""
        backoff = Backoff(
            self._config.sender.retry_initial_delay,
            self._config.sender.retry_max_delay,
            self._config.sender.retry_backoff_factor,
        )
        while True:
            session = self.current
            reason = self._renewal_reason(session, entries)
            if reason is None:
                assert session is not None
                return session
            await self._renew(session, reason, backoff)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.current is not None:
            self.current.destroy()

    # ---- internals ----------------------------------------------------------------------

    async def _renew(self, session: Session | None, reason: str, backoff: Backoff) -> None:
        health = self._health
        try:
            async with self._lock:
                if self.current is session:
                    await self._establish(reason=None if reason == "start" else reason)
            health.auth_refused = False
        except asyncio.CancelledError:
            raise
        except PinMismatchError as exc:
            health.pin_error = str(exc)
            log.error("session.pin_mismatch", error=str(exc))
            await self._clock.sleep(health.next_slow_delay())
        except AuthError as exc:
            health.auth_refused = True
            log.error("session.key_refused", error=str(exc))
            await self._clock.sleep(health.next_slow_delay())
        except AgentError as exc:
            health.note_failure(str(exc))
            log.warning("session.renew_failed", reason=reason, error=str(exc))
            await self._clock.sleep(backoff.next_delay())

    def _renewal_reason(self, session: Session | None, entries: int) -> str | None:
        if session is None:
            return "start"
        if session.destroyed:
            return "refused"
        if self._rediscover:
            return "rediscovery"
        if self._clock.monotonic() - session.created >= self._config.encryption.session_max_age:
            return "age"
        if not session.has_room(entries):
            return "entries"
        return None

    async def _establish(self, reason: str | None) -> None:
        """Discovery (cached unless a re-discovery is due) + handshake; caller holds the lock."""
        http = self.http()
        if self._discovered is None or self._rediscover:
            self._discovered = await discover(self._config, http)
            self._rediscover = False
        self._generation += 1
        try:
            session = await perform_handshake(
                http,
                self._discovered.base_url,
                self._config,
                pin=self._pin,
                generation=self._generation,
                now=self._clock.monotonic(),
                timeout=self._config.sender.http_timeout,
            )
        except PinMismatchError:
            metrics.HANDSHAKES.labels(result="pin_mismatch").inc()
            raise
        except AgentError:
            metrics.HANDSHAKES.labels(result="failed").inc()
            raise
        metrics.HANDSHAKES.labels(result="ok").inc()
        old, self.current = self.current, session
        self.limits = Limits.effective(session.server_limits, self._config.sender.batch_max_entries)
        self._health.pin_error = None
        if old is not None:
            # Bodies already encoded under the old key need no key to be sent.
            old.destroy()
            if reason is not None:
                metrics.SESSIONS_ROTATED.labels(reason=reason).inc()
                log.info(
                    "session.rotated",
                    reason=reason,
                    key_id=session.key_id,
                    previous_key_id=old.key_id,
                    previous_entries=old.used,
                )
