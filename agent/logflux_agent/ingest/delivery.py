"""The delivery loop: send a batch until every record is accepted or dead-lettered.

Each attempt encodes under the current session (so no nonce is ever reused), posts, and hands
the answer to ``outcome.classify``; this module only acts on the outcome it gets back:

- ``Delivered`` / ``Partial``: count the accepted entries; listed failures are resent once, then
  the permanent ones are dead-lettered and the retryable ones retried with backoff;
- ``Backoff`` (5xx, timeouts, connection errors): retry forever with full-jitter backoff;
- ``RetryAfter`` (429) / ``QuotaPaused`` (507): close the shared gate, so every sender waits;
- ``Rehandshake`` (401/403): one new handshake, then a slow retry with readiness false;
- ``Split`` (4xx for several parts): halve the request to isolate the entry at fault;
- ``Rejected`` (4xx for one part): dead-letter it.

A batch is delivered in two steps, ``prepare`` (encode) then ``PreparedBatch.send``, so that the
sender stage can encode the next batch while it holds it back for ordering; a prepared batch
whose session was replaced meanwhile is encoded again under the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import assert_never

import structlog

from logflux_agent.clock import Clock
from logflux_agent.config.model import AgentConfig
from logflux_agent.delivery.segment import SpoolItem
from logflux_agent.ingest import outcome as oc
from logflux_agent.ingest.deadletter import DeadLetters
from logflux_agent.ingest.encode import EncodedBatch
from logflux_agent.ingest.encode_dispatch import EncodeDispatch
from logflux_agent.ingest.health import Health
from logflux_agent.ingest.post import post_ingest
from logflux_agent.ingest.retry import Backoff, PauseGate
from logflux_agent.ingest.session import Session
from logflux_agent.ingest.session_keeper import SessionKeeper
from logflux_agent.observe import metrics
from logflux_agent.packed import Run
from logflux_agent.record import Record

log = structlog.get_logger(__name__)

_E2E_SAMPLES = 8


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    accepted: int
    dead_lettered: int
    # What the receipt ledger records: the answers' request ids, the session's key id.
    request_ids: tuple[str, ...] = ()
    key_id: str | None = None


class _Tally:
    __slots__ = ("accepted", "dead", "key_id", "request_ids")

    def __init__(self) -> None:
        self.accepted = 0
        self.dead = 0
        self.request_ids: list[str] = []
        self.key_id: str | None = None

    def receipt(self, request_id: str | None, key_id: str) -> None:
        if request_id is not None:
            self.request_ids.append(request_id)
        self.key_id = key_id


@dataclass(frozen=True, slots=True)
class _Encoded:
    """Parts ``[lo, hi)`` of ``batch``, encrypted under ``session``."""

    batch: EncodedBatch
    lo: int
    hi: int
    session: Session


@dataclass(eq=False, slots=True)
class _Group:
    """Records on their way to one request, with that request's retry state."""

    records: Sequence[Record]
    resend: bool
    backoff: Backoff
    encoded: _Encoded | None = None
    refusals: int = 0


class PreparedBatch:
    """A batch encoded (its first request's worth) and ready to ``send``."""

    def __init__(
        self, delivery: Delivery, ready: list[_Group], rest: Sequence[Record], tally: _Tally
    ) -> None:
        self._delivery = delivery
        self._ready = ready
        self._rest = rest
        self._tally = tally

    async def send(self) -> DeliveryReport:
        """Return once every record is accepted or dead-lettered; retries forever otherwise."""
        delivery, tally = self._delivery, self._tally
        ready, rest = self._ready, self._rest
        self._ready, self._rest = [], ()
        current = delivery.sessions.current
        if any(g.encoded is not None and g.encoded.session is not current for g in ready):
            # The key changed since encoding (rotation, 401): encode again under the new one.
            rest = Run([*(g.records for g in ready), rest])
            ready = []
        for group in ready:
            await delivery.send_group(group, tally)
        if rest:
            await delivery.deliver_all(rest, tally, resend=False)
        return DeliveryReport(tally.accepted, tally.dead, tuple(tally.request_ids), tally.key_id)


class Delivery:
    """Turns ingest answers into actions; shared by every sender of one client."""

    def __init__(
        self,
        config: AgentConfig,
        clock: Clock,
        *,
        sessions: SessionKeeper,
        encoder: EncodeDispatch,
        health: Health,
        dead: DeadLetters,
    ) -> None:
        self._config = config
        self._clock = clock
        self.sessions = sessions
        self._encoder = encoder
        self._health = health
        self._dead = dead
        self._gate = PauseGate(clock)
        # Entries sent again after a request whose outcome is unknown (timeout, connection
        # lost): the ingestor may hold them twice. The one-shot summary reports it.
        self.resent_entries = 0

    @property
    def gate(self) -> PauseGate:
        """The pause every sender honours (429, 507): ``status`` shows why and until when."""
        return self._gate

    async def prepare(self, records: Sequence[Record]) -> PreparedBatch:
        """Encode the first request's worth of ``records`` (entries over the limits are
        dead-lettered now); the rest is encoded when sent."""
        tally = _Tally()
        if not records:
            return PreparedBatch(self, [], [], tally)
        step = self.sessions.limits.max_batch_entries
        # Slices, not lists: a packed batch (packed.py) stays packed on its way to the encoder.
        head, rest = records[:step], records[step:]
        await self._gate.wait()
        ready = await self._encode(_Group(head, False, self._backoff()), tally)
        return PreparedBatch(self, ready, rest, tally)

    async def encode_for_spool(
        self, records: Sequence[Record], owners: dict[str, int]
    ) -> tuple[list[SpoolItem], int]:
        """The spool's seam (docs/spool.md): ``records`` encoded under the current session as
        the requests that would be POSTed, each with its key id and the session's wrapped
        secret; and how many entries were dead-lettered as over the limits."""
        tally = _Tally()
        items: list[SpoolItem] = []
        step = self.sessions.limits.max_batch_entries
        for i in range(0, len(records), step):
            group = _Group(records[i : i + step], False, self._backoff())
            for ready in await self._encode(group, tally):
                assert ready.encoded is not None
                items.append(spool_item(ready.encoded, owners if not items else {}, self._clock))
        return items, tally.dead

    async def deliver_all(self, records: Sequence[Record], tally: _Tally, *, resend: bool) -> None:
        step = self.sessions.limits.max_batch_entries
        for i in range(0, len(records), step):
            await self.send_group(_Group(records[i : i + step], resend, self._backoff()), tally)

    async def send_group(self, group: _Group, tally: _Tally) -> None:
        while group.records:
            await self._gate.wait()
            if group.encoded is None:
                ready = await self._encode(group, tally)
                if ready != [group]:  # nothing left to send, or pre-split into several
                    for part in ready:
                        await self.send_group(part, tally)
                    return
            encoded = group.encoded
            assert encoded is not None
            group.encoded = None  # every later attempt encodes again (fresh nonces)
            outcome = await self._attempt(encoded, len(group.records))
            if not await self._act(outcome, group, encoded.session, tally):
                return

    # ---- one attempt --------------------------------------------------------------------

    async def _encode(self, group: _Group, tally: _Tally) -> list[_Group]:
        """Encode ``group`` under the current session: [group] ready to post, its pre-split
        pieces when the server limits need several requests, or [] when nothing is left."""
        records = group.records
        session = await self.sessions.session_for(len(records))
        limits = self.sessions.limits
        enc = await self._encoder.encode(records, session, limits)
        if enc.too_large:
            self._dead.write_too_large(
                records,
                enc.too_large,
                max_payload=limits.max_payload_bytes,
                max_request=limits.max_request_bytes,
            )
            tally.dead += len(enc.too_large)
            records = group.records = [records[i] for i in enc.included]
            if not records:
                return []
        plan = self._plan(enc)
        if len(plan) == 1:
            group.encoded = _Encoded(enc, 0, enc.parts, session)
            return [group]
        log.debug("ingest.presplit", entries=len(records), requests=len(plan))
        return [
            _Group(records[lo:hi], group.resend, self._backoff(), _Encoded(enc, lo, hi, session))
            for lo, hi in plan
        ]

    def _plan(self, enc: EncodedBatch) -> list[tuple[int, int]]:
        """Cut the parts into runs that respect max entries and max request bytes."""
        max_entries = self.sessions.limits.max_batch_entries
        max_bytes = self.sessions.limits.max_request_bytes
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

    async def _attempt(self, encoded: _Encoded, parts: int) -> oc.Outcome:
        enc = encoded.batch
        return await post_ingest(
            self.sessions.http(),
            encoded.session.base_url,
            api_key=self._config.api_key.value,
            body=enc.sub_body(encoded.lo, encoded.hi),
            content_type=enc.content_type,
            parts=parts,
            timeout=self._config.sender.http_timeout,
            clock=self._clock,
        )

    # ---- acting on the outcome ----------------------------------------------------------

    async def _act(
        self, outcome: oc.Outcome, group: _Group, session: Session, tally: _Tally
    ) -> bool:
        """Do what ``outcome`` asks; True when ``group.records`` are to be sent again."""
        match outcome:
            case oc.Delivered():
                tally.receipt(outcome.request_id, session.key_id)
                self._delivered(outcome, group.records, tally)
                return False
            case oc.Partial():
                tally.receipt(outcome.request_id, session.key_id)
                return await self._partial(outcome, group, tally)
            case oc.Backoff():
                await self._back_off(outcome, group)
                return True
            case oc.RetryAfter():
                self._rate_limited(outcome)
                return True
            case oc.Rehandshake():
                await self._refused(outcome, group, session)
                return True
            case oc.QuotaPaused():
                self._quota_exhausted(outcome)
                return True
            case oc.Split():
                await self._split(outcome, group, tally)
                return False
            case oc.Rejected():
                self._rejected(outcome, group.records, tally)
                return False
            case _:
                assert_never(outcome)

    def _delivered(self, outcome: oc.Delivered, records: Sequence[Record], tally: _Tally) -> None:
        self._warn_invalid(outcome.invalid_indexes, len(records))
        self._health.note_success()
        self._accepted(records, tally)

    async def _partial(self, outcome: oc.Partial, group: _Group, tally: _Tally) -> bool:
        records = group.records
        self._warn_invalid(outcome.invalid_indexes, len(records))
        if outcome.unlisted:
            log.warning(
                "ingest.partial_failure_unlisted", failed=outcome.unlisted, parts=len(records)
            )
        self._health.note_success()
        failed = set(outcome.indexes)
        accepted = [r for i, r in enumerate(records) if i not in failed]
        self._accepted(accepted, tally)
        metrics.SEND_FAILURES.labels(reason="partial").inc()
        if not group.resend:
            log.warning(
                "ingest.partial_failure",
                failed=len(failed),
                accepted=len(accepted),
                sample=outcome.failures[0].error[:200],
            )
            group.records, group.resend = [records[i] for i in outcome.indexes], True
            return True
        permanent = [f for f in outcome.failures if not f.retryable]
        for failure in permanent:
            self._dead.write(
                [records[failure.index]],
                reason="entry_failed",
                status=outcome.status,
                error=failure.error,
            )
        tally.dead += len(permanent)
        group.records = [records[f.index] for f in outcome.failures if f.retryable]
        if group.records:
            metrics.RETRIES.inc()
            await self._clock.sleep(group.backoff.next_delay())
        return True

    async def _back_off(self, outcome: oc.Backoff, group: _Group) -> None:
        metrics.SEND_FAILURES.labels(reason=outcome.reason).inc()
        if outcome.reason in ("timeout", "connection"):
            # No answer: the ingestor may already hold these entries, and gets them again.
            self.resent_entries += len(group.records)
        if outcome.transport:
            if self._health.note_transport_failure(outcome.kind, outcome.error):
                self.sessions.request_rediscovery()
        else:
            self._health.note_failure(f"HTTP {outcome.status}: {outcome.error}")
            log.warning("ingest.server_error", status=outcome.status, error=outcome.error)
        metrics.RETRIES.inc()
        await self._clock.sleep(group.backoff.next_delay())

    def _rate_limited(self, outcome: oc.RetryAfter) -> None:
        self._health.note_failure(f"HTTP 429: {outcome.error}")
        delay = outcome.seconds
        metrics.SEND_FAILURES.labels(reason="429").inc()
        metrics.RETRY_AFTER_PAUSES.inc()
        metrics.RETRY_AFTER_SECONDS.inc(delay)
        log.warning("ingest.rate_limited", retry_after=delay)
        self._gate.pause_until(self._clock.monotonic() + delay, "rate limited (429)")

    async def _refused(self, outcome: oc.Rehandshake, group: _Group, session: Session) -> None:
        self._health.note_failure(f"HTTP {outcome.status}: {outcome.error}")
        metrics.SEND_FAILURES.labels(reason="401").inc()
        group.refusals += 1
        if group.refusals > 1:
            self._health.auth_refused = True
            log.error(
                "ingest.key_refused",
                status=outcome.status,
                api_key=self._config.api_key.masked,
                error=outcome.error,
                note="the API key is bad or revoked; data is kept, retrying slowly",
            )
            await self._clock.sleep(self._health.next_slow_delay())
        else:
            log.warning(
                "ingest.key_refused_rehandshake", status=outcome.status, key_id=session.key_id
            )
        self.sessions.refused(session)  # forces a re-handshake in session_for

    def _quota_exhausted(self, outcome: oc.QuotaPaused) -> None:
        self._health.note_failure(f"HTTP 507: {outcome.error}")
        metrics.SEND_FAILURES.labels(reason="507").inc()
        delay = self._health.storage_exhausted()
        log.error(
            "ingest.storage_full",
            status=507,
            probe_in=delay,
            error=outcome.error,
            note="LogFlux reports storage/quota exhausted: sending stopped, data is kept",
        )
        self._gate.pause_until(self._clock.monotonic() + delay, "storage full (507)")

    async def _split(self, outcome: oc.Split, group: _Group, tally: _Tally) -> None:
        self._health.note_failure(f"HTTP {outcome.status}: {outcome.error}")
        metrics.SEND_FAILURES.labels(reason=_reason_4xx(outcome.status)).inc()
        metrics.BATCHES_SPLIT.inc()
        records = group.records
        log.warning(
            "ingest.split", status=outcome.status, entries=len(records), error=outcome.error
        )
        half = len(records) // 2
        await self.deliver_all(records[:half], tally, resend=group.resend)
        await self.deliver_all(records[half:], tally, resend=group.resend)

    def _rejected(self, outcome: oc.Rejected, records: Sequence[Record], tally: _Tally) -> None:
        self._health.note_failure(f"HTTP {outcome.status}: {outcome.error}")
        metrics.SEND_FAILURES.labels(reason=_reason_4xx(outcome.status)).inc()
        self._dead.write(records, reason=outcome.reason, status=outcome.status, error=outcome.error)
        tally.dead += len(records)

    # ---- bookkeeping --------------------------------------------------------------------

    def _accepted(self, records: Sequence[Record], tally: _Tally) -> None:
        if not records:
            return
        tally.accepted += len(records)
        metrics.BATCHES_SENT.inc()
        metrics.ENTRIES_SENT.inc(len(records))
        now = self._clock.wall()
        step = max(1, len(records) // _E2E_SAMPLES)
        for i in range(0, len(records), step):  # by index: a packed batch stays unbuilt
            metrics.E2E_LATENCY.observe(max(0.0, now - records[i].timestamp))

    def _warn_invalid(self, indexes: tuple[str, ...], parts: int) -> None:
        for index in indexes:
            log.warning("ingest.failure_index_invalid", index=index, parts=parts)

    def _backoff(self) -> Backoff:
        cfg = self._config.sender
        return Backoff(cfg.retry_initial_delay, cfg.retry_max_delay, cfg.retry_backoff_factor)


def spool_item(encoded: _Encoded, owners: dict[str, int], clock: Clock) -> SpoolItem:
    """Parts ``[lo, hi)`` of an encoded batch as a self-contained spooled request."""
    enc, lo, hi = encoded.batch, encoded.lo, encoded.hi
    base = enc.offsets[lo]
    return SpoolItem(
        key_id=encoded.session.key_id,
        encrypted_secret=encoded.session.encrypted_secret,
        boundary=enc.boundary,
        body=enc.sub_body(lo, hi),
        offsets=[o - base for o in enc.offsets[lo:hi]],
        part_sizes=list(enc.part_sizes[lo:hi]),
        owners=owners,
        created=clock.wall(),
    )


def _reason_4xx(status: int) -> str:
    return "413" if status == 413 else "4xx"
