"""The ingest client: owns the session and delivers batches until accepted or dead-lettered.

``deliver`` never gives up on a record the ingestor might still take: 5xx, timeouts and
connection errors are retried forever with full-jitter backoff; 429 pauses every sender (shared
gate) for Retry-After; 507 pauses and probes slowly; 401/403 triggers one re-handshake, then a
slow retry loop with readiness false. Only entries the ingestor can never accept are
dead-lettered: too large for the server limits (before sending, or a one-entry 413), a
one-entry 4xx, or an entry that failed again when resent after a partial failure. Every attempt
re-encodes under the current session, so no nonce is ever reused, and a body encoded under a
rotated-out key still completes (the ingestor keeps old key ids).

Encoding (gzip + AES-GCM, the CPU-heavy part) runs in ``sender.encode_workers`` worker processes
(``workers.py``), or on a thread when that is 0 or the workers keep dying.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from logflux_agent import USER_AGENT
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import AgentConfig
from logflux_agent.credentials import mask_secrets
from logflux_agent.errors import AgentError, AuthError, PinMismatchError
from logflux_agent.ingest import crypto
from logflux_agent.ingest.deadletter import DeadLetters
from logflux_agent.ingest.discovery import Discovered, discover
from logflux_agent.ingest.encode import (
    DEFAULT_COMPRESSOR,
    EncodedBatch,
    EncodeJob,
    EntryTuple,
    PayloadStatics,
    encode_with_aead,
    new_boundary,
)
from logflux_agent.ingest.handshake import load_pin, perform_handshake
from logflux_agent.ingest.http import (
    INGEST_BODY_CAP,
    HttpResult,
    TransportError,
    make_session,
    make_ssl_context,
    request,
)
from logflux_agent.ingest.retry import (
    STORAGE_PROBE_MAX,
    STORAGE_PROBE_MIN,
    Backoff,
    PauseGate,
    parse_retry_after,
)
from logflux_agent.ingest.session import Limits, ServerLimits, Session, SessionInfo
from logflux_agent.ingest.workers import EncodeWorkers, WorkerError
from logflux_agent.observe import metrics
from logflux_agent.record import ENTRY_FIELDS, Record

log = structlog.get_logger(__name__)

REDISCOVER_AFTER = 5  # consecutive connection failures before discovery runs again
SLOW_RETRY_MIN = 60.0  # refused key / pin mismatch: probe every 60 s → 5 min
SLOW_RETRY_MAX = 300.0
_E2E_SAMPLES = 8
# Per-entry failure texts that mean "try again later" rather than "this entry is bad".
_TRANSIENT_WORDS = (
    "timeout",
    "timed out",
    "unavailable",
    "temporar",
    "try again",
    "retry",
    "overload",
    "busy",
    "internal",
)

__all__ = ["DeliveryReport", "IngestClient", "Limits", "SessionInfo"]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    accepted: int
    dead_lettered: int


class _Tally:
    __slots__ = ("accepted", "before_send", "dead")

    def __init__(self) -> None:
        self.accepted = 0
        self.dead = 0
        self.before_send: Callable[[], Awaitable[None]] | None = None


class IngestClient:
    """Discovery, handshake, session rotation, encoding and delivery for one agent."""

    def __init__(self, config: AgentConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self._clock = clock
        self._pin = load_pin(config)  # ConfigError now, not a retry loop later
        # Built once, here: a bad ca_file fails early, and the event loop never loads certs.
        self._ssl = make_ssl_context(config.tls_verify, config.ca_file)
        self._statics = PayloadStatics.build(
            node=config.node, environment=config.environment, agent=USER_AGENT, labels=config.labels
        )
        self._gate = PauseGate(clock)
        self._dead = DeadLetters(config.state_dir, config.sender.dead_letter_max_bytes, clock)
        self.limits: Limits = Limits.effective(ServerLimits(), config.sender.batch_max_entries)
        self.compressor = DEFAULT_COMPRESSOR
        self._http: aiohttp.ClientSession | None = None
        self._discovered: Discovered | None = None
        self._session: Session | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self._workers = (
            EncodeWorkers(config.sender.encode_workers)
            if config.sender.encode_workers > 0
            else None
        )
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._closed = False
        # health
        self._failing_since: float | None = None
        self._last_error = ""
        self._conn_failures = 0
        self._rediscover = False
        self._auth_refused = False
        self._pin_error: str | None = None
        self._storage_full = False
        self._storage_probe = STORAGE_PROBE_MIN
        self._slow_delay = SLOW_RETRY_MIN
        # Entries sent again after a request whose outcome is unknown (timeout, connection
        # lost): the ingestor may hold them twice. The one-shot summary reports it.
        self.resent_entries = 0

    # ---- public interface ---------------------------------------------------------------

    async def start(self) -> SessionInfo:
        """Discover and handshake.

        Raises DiscoveryError, HandshakeError, PinMismatchError or AuthError (errors.py).
        """
        async with self._lock:
            if self._session is None or self._session.destroyed:
                await self._establish(reason=None)
        return self.info()

    def info(self) -> SessionInfo:
        session = self._session
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

    async def deliver(
        self, records: Sequence[Record], *, before_send: Callable[[], Awaitable[None]] | None = None
    ) -> DeliveryReport:
        """Return once every record is accepted or dead-lettered; retries forever otherwise.

        ``before_send`` is awaited once, after encoding and before the first request: the
        sender stage uses it to keep each input's batches arriving in order while the next
        batch is already being encoded.
        """
        tally = _Tally()
        tally.before_send = before_send
        if records:
            await self._deliver(list(records), tally, resend=False)
        return DeliveryReport(tally.accepted, tally.dead)

    def readiness(self) -> tuple[bool, str]:
        if self._session is None:
            return False, "no session with the ingestor yet (discovery/handshake pending)"
        if self._pin_error:
            return False, self._pin_error
        if self._auth_refused:
            return False, (
                "the ingestor refuses the API key "
                f"{self.config.api_key.masked} (bad or revoked key); data is kept "
                "and sending is retried slowly"
            )
        if self._storage_full:
            return False, (
                "the ingestor reports storage or quota exhausted (HTTP 507); data "
                "is kept and sending is probed slowly"
            )
        if self._failing_since is not None:
            failing = self._clock.monotonic() - self._failing_since
            if failing > self.config.metrics.ready_failure_threshold:
                return False, f"sends failing for {failing:.0f} s: {self._last_error}"
        return True, "ready"

    def status(self) -> dict[str, Any]:
        """The sender's state for ``logflux-agent status``: retry state and why, session age."""
        now = self._clock.monotonic()
        session = self._session
        paused = self._gate.remaining()
        retry = "ok"
        if self._pin_error:
            retry = self._pin_error
        elif self._auth_refused:
            retry = "401: the ingestor refuses the API key; retrying slowly"
        elif self._storage_full:
            retry = f"507: storage or quota exhausted; next probe in {paused:.0f} s"
        elif paused > 0:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(self._clock.wall() + paused))
            retry = f"{self._gate.reason}: paused for {paused:.0f} s more (until {until})"
        elif self._failing_since is not None:
            retry = f"retrying for {now - self._failing_since:.0f} s: {self._last_error}"
        return {
            "retry": retry,
            "failing_for_seconds": (
                None if self._failing_since is None else round(now - self._failing_since, 1)
            ),
            "last_error": self._last_error or None,
            "paused_seconds": round(paused, 1),
            "session_age_seconds": (
                None if session is None else round(max(0.0, now - session.created), 1)
            ),
            "key_id": None if session is None else session.key_id,
            "base_url": None if session is None else session.base_url,
            "region": None if self._discovered is None else self._discovered.region,
            "resent_entries": self.resent_entries,
        }

    async def close(self) -> None:
        self._closed = True
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._session is not None:
            self._session.destroy()
        if self._workers is not None:
            await self._workers.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        self._threads = None

    # ---- session ------------------------------------------------------------------------

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = make_session(
                self._ssl, user_agent=USER_AGENT, connections=self.config.sender.max_in_flight + 2
            )
        return self._http

    async def _establish(self, reason: str | None) -> None:
        """Discovery (cached unless a re-discovery is due) + handshake; caller holds the lock."""
        http = self._http_session()
        if self._discovered is None or self._rediscover:
            self._discovered = await discover(self.config, http)
            self._rediscover = False
        self._generation += 1
        try:
            session = await perform_handshake(
                http,
                self._discovered.base_url,
                self.config,
                pin=self._pin,
                generation=self._generation,
                now=self._clock.monotonic(),
                timeout=self.config.sender.http_timeout,
            )
        except PinMismatchError:
            metrics.HANDSHAKES.labels(result="pin_mismatch").inc()
            raise
        except AgentError:
            metrics.HANDSHAKES.labels(result="failed").inc()
            raise
        metrics.HANDSHAKES.labels(result="ok").inc()
        old, self._session = self._session, session
        self.limits = Limits.effective(session.server_limits, self.config.sender.batch_max_entries)
        self._pin_error = None
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

    def _renewal_reason(self, session: Session | None, entries: int) -> str | None:
        if session is None:
            return "start"
        if session.destroyed:
            return "refused"
        if self._rediscover:
            return "rediscovery"
        if self._clock.monotonic() - session.created >= self.config.encryption.session_max_age:
            return "age"
        if not session.has_room(entries):
            return "entries"
        return None

    async def _session_for(self, entries: int) -> Session:
        """The current session with room for ``entries`` nonces; renews it when due."""
        backoff = self._backoff()
        while True:
            session = self._session
            reason = self._renewal_reason(session, entries)
            if reason is None:
                assert session is not None
                return session
            try:
                async with self._lock:
                    if self._session is session:
                        await self._establish(reason=None if reason == "start" else reason)
                self._auth_refused = False
            except asyncio.CancelledError:
                raise
            except PinMismatchError as exc:
                self._pin_error = str(exc)
                log.error("session.pin_mismatch", error=str(exc))
                await self._clock.sleep(self._next_slow_delay())
            except AuthError as exc:
                self._auth_refused = True
                log.error("session.key_refused", error=str(exc))
                await self._clock.sleep(self._next_slow_delay())
            except AgentError as exc:
                self._note_failure(str(exc))
                log.warning("session.renew_failed", reason=reason, error=str(exc))
                await self._clock.sleep(backoff.next_delay())

    def _next_slow_delay(self) -> float:
        delay = self._slow_delay
        self._slow_delay = min(delay * 2, SLOW_RETRY_MAX)
        return delay

    def _backoff(self) -> Backoff:
        cfg = self.config.sender
        return Backoff(cfg.retry_initial_delay, cfg.retry_max_delay, cfg.retry_backoff_factor)

    # ---- encoding -----------------------------------------------------------------------

    async def _encode(self, records: Sequence[Record], session: Session) -> EncodedBatch:
        entries: list[EntryTuple] = list(map(ENTRY_FIELDS, records))
        job = EncodeJob(
            entries=entries,
            key_id=session.key_id,
            nonce_prefix=session.nonce_prefix,
            counter_start=session.reserve(len(entries)),
            statics=self._statics,
            boundary=new_boundary(),
            max_payload=self.limits.max_payload_bytes,
            max_request=self.limits.max_request_bytes,
            compressor=self.compressor,
            compress_min_bytes=self.config.sender.compress_min_bytes,
        )
        aead = session.aead
        loop = asyncio.get_running_loop()
        if self._workers is not None:
            key = session.key_copy()
            try:
                enc = await self._workers.encode(job, key)
                if enc is not None:
                    return enc
            except WorkerError as exc:
                log.error(
                    "encode.worker_lost_batch",
                    error=str(exc),
                    note="encoding this batch in the agent process",
                )
            finally:
                crypto.zero(key)
        if self._threads is None:
            self._threads = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, min(2, self.config.sender.max_in_flight)),
                thread_name_prefix="encode",
            )
        return await loop.run_in_executor(self._threads, encode_with_aead, job, aead)

    # ---- delivery -----------------------------------------------------------------------

    async def _deliver(self, records: list[Record], tally: _Tally, *, resend: bool) -> None:
        step = self.limits.max_batch_entries
        if len(records) > step:
            for i in range(0, len(records), step):
                await self._deliver(records[i : i + step], tally, resend=resend)
            return
        await self._send_group(records, tally, resend=resend, first=None)

    def _plan(self, enc: EncodedBatch) -> list[tuple[int, int]]:
        """Cut the parts into runs that respect max entries and max request bytes."""
        max_entries = self.limits.max_batch_entries
        max_bytes = self.limits.max_request_bytes
        if enc.parts <= max_entries and len(enc.body) <= max_bytes:
            return [(0, enc.parts)]
        groups: list[tuple[int, int]] = []
        start = 0
        for i in range(1, enc.parts + 1):
            if i == enc.parts:
                groups.append((start, i))
            elif (i + 1 - start > max_entries) or enc.sub_size(start, i + 1) > max_bytes:
                groups.append((start, i))
                start = i
        return groups

    async def _send_group(
        self,
        records: list[Record],
        tally: _Tally,
        *,
        resend: bool,
        first: tuple[EncodedBatch, int, int, Session] | None,
    ) -> None:
        backoff = self._backoff()
        refusals = 0
        while records:
            await self._gate.wait()
            if first is not None:
                # Already encoded (pre-split): valid whatever happened to its key since.
                enc, lo, hi, session = first
                first = None
            else:
                session = await self._session_for(len(records))
                enc = await self._encode(records, session)
                if enc.too_large:
                    self._dead_letter_too_large(records, enc)
                    tally.dead += len(enc.too_large)
                    records = [records[i] for i in enc.included]
                    if not records:
                        return
                plan = self._plan(enc)
                if len(plan) > 1:
                    log.debug("ingest.presplit", entries=len(records), requests=len(plan))
                    for lo, hi in plan:
                        await self._send_group(
                            records[lo:hi], tally, resend=resend, first=(enc, lo, hi, session)
                        )
                    return
                lo, hi = 0, enc.parts
            if tally.before_send is not None:
                wait, tally.before_send = tally.before_send, None
                await wait()
                if session is not self._session:
                    # The key changed while we waited (rotation, 401): encode again under it.
                    continue
            body = enc.sub_body(lo, hi)
            outcome = await self._post(session, body, enc.content_type)
            if isinstance(outcome, TransportError):
                self._note_transport_failure(outcome)
                if outcome.kind in ("timeout", "connection"):
                    self.resent_entries += hi - lo
                metrics.RETRIES.inc()
                await self._clock.sleep(backoff.next_delay())
                continue
            status = outcome.status
            if 200 <= status < 300:
                failed = self._parse_failures(outcome, len(records))
                self._note_success()
                accepted = [r for i, r in enumerate(records) if i not in failed]
                self._accepted(accepted, tally)
                if not failed:
                    return
                metrics.SEND_FAILURES.labels(reason="partial").inc()
                again = [records[i] for i in sorted(failed)]
                if not resend:
                    log.warning(
                        "ingest.partial_failure",
                        failed=len(again),
                        accepted=len(accepted),
                        sample=_first_error(failed),
                    )
                    records, resend = again, True
                    continue
                transient = [i for i in sorted(failed) if _is_transient(failed[i])]
                permanent = [i for i in sorted(failed) if not _is_transient(failed[i])]
                for i in permanent:
                    self._dead.write(
                        [records[i]], reason="entry_failed", status=status, error=failed[i]
                    )
                tally.dead += len(permanent)
                records = [records[i] for i in transient]
                if records:
                    metrics.RETRIES.inc()
                    await self._clock.sleep(backoff.next_delay())
                continue
            self._note_failure(f"HTTP {status}: {_error_text(outcome)}")
            if status == 429:
                delay = parse_retry_after(
                    outcome.headers.get("Retry-After"), outcome.json(), self._clock.wall()
                )
                metrics.SEND_FAILURES.labels(reason="429").inc()
                metrics.RETRY_AFTER_PAUSES.inc()
                metrics.RETRY_AFTER_SECONDS.inc(delay)
                log.warning("ingest.rate_limited", retry_after=delay)
                self._gate.pause_until(self._clock.monotonic() + delay, "rate limited (429)")
                continue
            if status in (401, 403):
                metrics.SEND_FAILURES.labels(reason="401").inc()
                refusals += 1
                if refusals > 1:
                    self._auth_refused = True
                    log.error(
                        "ingest.key_refused",
                        status=status,
                        api_key=self.config.api_key.masked,
                        error=_error_text(outcome),
                        note="the API key is bad or revoked; data is kept, retrying slowly",
                    )
                    await self._clock.sleep(self._next_slow_delay())
                else:
                    log.warning(
                        "ingest.key_refused_rehandshake", status=status, key_id=session.key_id
                    )
                if self._session is session:
                    session.destroy()  # forces a re-handshake in _session_for
                continue
            if status == 507:
                metrics.SEND_FAILURES.labels(reason="507").inc()
                self._storage_full = True
                delay = self._storage_probe
                self._storage_probe = min(delay * 2, STORAGE_PROBE_MAX)
                log.error(
                    "ingest.storage_full",
                    status=status,
                    probe_in=delay,
                    error=_error_text(outcome),
                    note="LogFlux reports storage/quota exhausted: sending stopped, data is kept",
                )
                self._gate.pause_until(self._clock.monotonic() + delay, "storage full (507)")
                continue
            if 400 <= status < 500:
                reason = "413" if status == 413 else "4xx"
                metrics.SEND_FAILURES.labels(reason=reason).inc()
                if len(records) == 1:
                    dl_reason = (
                        "too_large"
                        if status == 413
                        else "bad_request"
                        if status == 400
                        else "rejected"
                    )
                    self._dead.write(
                        records, reason=dl_reason, status=status, error=_error_text(outcome)
                    )
                    tally.dead += 1
                    return
                metrics.BATCHES_SPLIT.inc()
                log.warning(
                    "ingest.split", status=status, entries=len(records), error=_error_text(outcome)
                )
                half = len(records) // 2
                await self._deliver(records[:half], tally, resend=resend)
                await self._deliver(records[half:], tally, resend=resend)
                return
            metrics.SEND_FAILURES.labels(reason="5xx" if status >= 500 else "other").inc()
            log.warning("ingest.server_error", status=status, error=_error_text(outcome))
            metrics.RETRIES.inc()
            await self._clock.sleep(backoff.next_delay())

    async def _post(
        self, session: Session, body: bytes, content_type: str
    ) -> HttpResult | TransportError:
        headers = {
            "Content-Type": content_type,
            "Authorization": f"Bearer {self.config.api_key.value}",
        }
        url = f"{session.base_url}/v1/ingest"
        metrics.IN_FLIGHT.inc()
        metrics.WIRE_BYTES.inc(len(body))
        started = self._clock.monotonic()
        try:
            return await request(
                self._http_session(),
                "POST",
                url,
                headers=headers,
                data=body,
                timeout=self.config.sender.http_timeout,
                body_cap=INGEST_BODY_CAP,
            )
        except TransportError as exc:
            return exc
        finally:
            metrics.IN_FLIGHT.dec()
            metrics.REQUEST_DURATION.observe(max(0.0, self._clock.monotonic() - started))

    def _parse_failures(self, result: HttpResult, parts: int) -> dict[int, str]:
        """Part index → error text from a 2xx batch envelope (empty when all succeeded)."""
        doc = result.json()
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict):
            return {}
        failed: dict[int, str] = {}
        failures = data.get("failures")
        if isinstance(failures, list):
            for item in failures:
                if not isinstance(item, dict):
                    continue
                index = item.get("index")
                if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < parts:
                    failed[index] = str(item.get("error") or "entry failed")[:500]
                else:
                    log.warning("ingest.failure_index_invalid", index=repr(index)[:40], parts=parts)
        count = data.get("failed")
        if isinstance(count, int) and count > 0 and not failed:
            # The server says some failed but not which: resend all (at-least-once).
            log.warning("ingest.partial_failure_unlisted", failed=count, parts=parts)
            return {i: "failed (index not reported)" for i in range(parts)}
        return failed

    def _accepted(self, records: list[Record], tally: _Tally) -> None:
        if not records:
            return
        tally.accepted += len(records)
        metrics.BATCHES_SENT.inc()
        metrics.ENTRIES_SENT.inc(len(records))
        now = self._clock.wall()
        step = max(1, len(records) // _E2E_SAMPLES)
        for rec in records[::step]:
            metrics.E2E_LATENCY.observe(max(0.0, now - rec.timestamp))

    def _dead_letter_too_large(self, records: list[Record], enc: EncodedBatch) -> None:
        limit = self.limits.max_payload_bytes
        for index, size in enc.too_large:
            self._dead.write(
                [records[index]],
                reason="too_large",
                status=None,
                error=f"entry is {size} bytes: over the server limit "
                f"(max_payload_size {limit}, max_request_size "
                f"{self.limits.max_request_bytes}); not sent",
            )

    # ---- health -------------------------------------------------------------------------

    def _note_success(self) -> None:
        self._failing_since = None
        self._conn_failures = 0
        self._auth_refused = False
        self._slow_delay = SLOW_RETRY_MIN
        if self._storage_full:
            log.info("ingest.storage_recovered")
        self._storage_full = False
        self._storage_probe = STORAGE_PROBE_MIN

    def _note_failure(self, text: str) -> None:
        self._last_error = mask_secrets(text)
        if self._failing_since is None:
            self._failing_since = self._clock.monotonic()

    def _note_transport_failure(self, exc: TransportError) -> None:
        reason = "timeout" if exc.kind == "timeout" else "connection"
        metrics.SEND_FAILURES.labels(reason=reason).inc()
        self._note_failure(str(exc))
        self._conn_failures += 1
        log.warning(
            "ingest.transport_error", kind=exc.kind, error=str(exc), consecutive=self._conn_failures
        )
        if self._conn_failures >= REDISCOVER_AFTER and not self.config.endpoint:
            self._conn_failures = 0
            self._rediscover = True


def _error_text(result: HttpResult) -> str:
    doc = result.json()
    if isinstance(doc, dict):
        err: Any = doc.get("error")
        if isinstance(err, dict):
            parts = [str(err.get(k)) for k in ("code", "message", "details") if err.get(k)]
            if parts:
                return mask_secrets(": ".join(parts))[:500]
        message = doc.get("message")
        if isinstance(message, str) and message:
            return mask_secrets(message)[:500]
    return mask_secrets(result.snippet())


def _is_transient(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _TRANSIENT_WORDS)


def _first_error(failed: dict[int, str]) -> str:
    return next(iter(failed.values()), "")[:200] if failed else ""
