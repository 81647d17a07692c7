"""Send spooled requests oldest first, one at a time, until each is accepted or kept dead.

One request at a time keeps every input's order (the spool holds each input's batches in
order) and makes the rule for deletion simple: a record is marked accepted only once the
ingestor took all of its parts (or the ones it never will are kept as dead letters).

Outcomes (``ingest/outcome.py``) act on *parts* of the stored ciphertext, never on plaintext:

- ``Delivered`` / ``Partial``: listed failures are resent once (identical bytes, which the
  ingestor accepts as a resend), then permanent ones are kept dead, retryable ones retried;
- ``Backoff``, ``RetryAfter``, ``QuotaPaused``: as for direct sends (shared pause gate);
- ``Split``: halve the range; ``Rejected``: keep the range as a dead letter;
- ``Rehandshake`` (401/403, typically after an ingestor restart forgot the key id): register
  the stored ``encrypted_secret`` again with handshake/complete (the same AES key, so the
  ciphertext stays valid), relabel the parts' ``X-LF-Key-ID`` with the new id and resend. If
  the ingestor refuses that secret (a 4xx: key rotated, or re-registration not allowed) the
  request is kept as ciphertext in ``spool/dead/`` and counted; a refused *API key* is retried
  slowly, keeping everything.

Receipts (docs/audit.md): with a ledger (``receipts``), the sink reports each request once it
is in the spool (``note_spooled``: its boundary is its id), and every request delivered here is
recorded (``Receipts.replayed``: when, how many parts, the request ids) before the spool
forgets it.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import structlog

from logflux_agent.clock import Clock
from logflux_agent.delivery.segment import SpoolItem
from logflux_agent.delivery.spool import Spool
from logflux_agent.errors import AuthError, HandshakeError
from logflux_agent.ingest import outcome as oc
from logflux_agent.ingest.encode import closing
from logflux_agent.ingest.handshake import complete_with_secret
from logflux_agent.ingest.post import post_ingest
from logflux_agent.ingest.retry import Backoff
from logflux_agent.observe import metrics

if TYPE_CHECKING:
    from logflux_agent.ingest.client import IngestClient
    from logflux_agent.ledger.receipts import Receipts

log = structlog.get_logger(__name__)

_STATUS_RE = re.compile(r"HTTP (\d{3})")


def sub_body(item: SpoolItem, lo: int, hi: int) -> bytes:
    """The multipart body of parts ``[lo, hi)`` of ``item``."""
    if lo == 0 and hi == item.parts:
        return item.body
    end = item.offsets[hi - 1] + item.part_sizes[hi - 1]
    return item.body[item.offsets[lo] : end] + closing(item.boundary)


def slice_item(item: SpoolItem, lo: int, hi: int) -> SpoolItem:
    base = item.offsets[lo]
    return replace(
        item,
        body=sub_body(item, lo, hi),
        offsets=[o - base for o in item.offsets[lo:hi]],
        part_sizes=item.part_sizes[lo:hi],
    )


def relabel(item: SpoolItem, new_key_id: str) -> SpoolItem | None:
    """``item`` with every part's key id header set to ``new_key_id`` (None if the header is
    not found exactly once per part: then the bytes are not what this agent wrote)."""
    old = f"\r\nX-LF-Key-ID: {item.key_id}\r\n".encode("ascii")
    new = f"\r\nX-LF-Key-ID: {new_key_id}\r\n".encode("ascii")
    if item.body.count(old) != item.parts:
        return None
    delta = len(new) - len(old)
    return replace(
        item,
        key_id=new_key_id,
        body=item.body.replace(old, new),
        offsets=[o + i * delta for i, o in enumerate(item.offsets)],
        part_sizes=[s + delta for s in item.part_sizes],
    )


@dataclass(slots=True)
class _Delivery:
    """One spooled request being delivered: the part ranges still to send (and whether each is
    a resend), the parts accepted so far, and whether its key id was just re-registered."""

    item: SpoolItem
    work: deque[tuple[int, int, bool]]
    backoff: Backoff
    accepted: int = 0
    rekeyed: bool = False
    request_ids: list[str] = field(default_factory=list)


class Replayer:
    """Drains one spool into the ingest client's current endpoint."""

    def __init__(self, spool: Spool, client: IngestClient, clock: Clock) -> None:
        self._spool = spool
        self._client = client
        self._clock = clock
        self._config = client.config
        self.replayed_entries = 0
        self.dead_entries = 0
        self.drained = asyncio.Event()
        self.receipts: Receipts | None = None  # the receipt ledger (set by build_spool)

    def note_spooled(self, items: Sequence[SpoolItem]) -> None:
        """``items`` are durably in the spool (called by the sink, in the spooling task)."""
        if self.receipts is not None and items:
            self.receipts.spooling([item.boundary for item in items])

    async def run(self, session_ready: asyncio.Event) -> None:
        interval = self._spool.fsync_interval
        async with asyncio.TaskGroup() as tg:
            if interval is not None:  # fsync: interval also syncs while no batch arrives
                tg.create_task(self._spool.sync_every(interval), name="spool-sync")
            await session_ready.wait()
            await self._replay()

    async def _replay(self) -> None:
        while True:
            if self._spool.peek() is None:
                self.drained.set()
            pending = await self._spool.wait_pending()
            self.drained.clear()
            accepted = await self.deliver(pending.item)
            await self._spool.accepted(pending)
            if self._spool.peek() is None:
                self.drained.set()
            self.replayed_entries += accepted
            metrics.SPOOL_REPLAYED_ENTRIES.inc(accepted)

    def _backoff(self) -> Backoff:
        cfg = self._config.sender
        return Backoff(cfg.retry_initial_delay, cfg.retry_max_delay, cfg.retry_backoff_factor)

    async def deliver(self, item: SpoolItem) -> int:
        """Send ``item`` until every part is accepted or kept dead; the parts accepted."""
        state = _Delivery(item, deque([(0, item.parts, False)]), self._backoff())
        while state.work:
            lo, hi, resend = state.work[0]
            await self._client.gate.wait()
            outcome = await self._post(state.item, lo, hi)
            await self._act(state, outcome, lo, hi, resend)
        if self.receipts is not None:
            self.receipts.replayed(
                item.boundary,
                accepted=state.accepted,
                parts=item.parts,
                request_ids=state.request_ids,
                key_id=state.item.key_id,
            )
        return state.accepted

    async def _act(
        self, state: _Delivery, outcome: oc.Outcome, lo: int, hi: int, resend: bool
    ) -> None:
        """One answer for parts ``[lo, hi)`` (the head of ``state.work``)."""
        gate = self._client.gate
        health = self._client.health
        rid = getattr(outcome, "request_id", None)
        if rid and rid not in state.request_ids:
            state.request_ids.append(rid)
        match outcome:
            case oc.Delivered():
                health.note_success()
                state.accepted += hi - lo
                state.work.popleft()
                state.backoff.reset()
                state.rekeyed = False
            case oc.Partial():
                health.note_success()
                await self._partial(state, outcome, lo, hi, resend)
            case oc.Backoff():
                metrics.SEND_FAILURES.labels(reason=outcome.reason).inc()
                health.note_failure(outcome.error or outcome.reason)
                await self._clock.sleep(state.backoff.next_delay())
            case oc.RetryAfter():
                gate.pause_until(self._clock.monotonic() + outcome.seconds, "rate limited (429)")
            case oc.QuotaPaused():
                delay = health.storage_exhausted()
                gate.pause_until(self._clock.monotonic() + delay, "storage full (507)")
            case oc.Split():
                state.work.popleft()
                mid = (lo + hi) // 2
                if mid == lo:
                    self._dead(slice_item(state.item, lo, hi), "rejected")
                else:
                    state.work.extendleft([(mid, hi, resend), (lo, mid, resend)])
            case oc.Rejected():
                state.work.popleft()
                self._dead(slice_item(state.item, lo, hi), outcome.reason)
            case oc.Rehandshake():
                metrics.SEND_FAILURES.labels(reason="401").inc()
                await self._rehandshake(state)

    async def _partial(
        self, state: _Delivery, outcome: oc.Partial, lo: int, hi: int, resend: bool
    ) -> None:
        """Listed failures are sent once more; then permanent ones are kept dead."""
        state.work.popleft()
        failed = {f.index: f for f in outcome.failures}
        state.accepted += hi - lo - len(failed)
        for index in sorted(failed, reverse=True):
            part = lo + index
            if not resend or failed[index].retryable:
                state.work.appendleft((part, part + 1, True))
            else:
                self._dead(slice_item(state.item, part, part + 1), "entry_failed")
        if resend and state.work:
            await self._clock.sleep(state.backoff.next_delay())

    async def _rehandshake(self, state: _Delivery) -> None:
        """401/403: register the stored secret again, or (refused) keep what is left dead."""
        if state.rekeyed:  # the new key id was refused too: the API key itself
            self._client.health.auth_refused = True
            await self._clock.sleep(self._client.health.next_slow_delay())
            state.rekeyed = False
            return
        relabelled = await self._rekey(state.item)
        if relabelled is None:
            for rlo, rhi, _ in state.work:
                self._dead(slice_item(state.item, rlo, rhi), "key_refused")
            state.work.clear()
        elif relabelled is not state.item:
            state.item, state.rekeyed = relabelled, True

    async def _post(self, item: SpoolItem, lo: int, hi: int) -> oc.Outcome:
        sessions = self._client.sessions
        session = sessions.current
        base = session.base_url if session is not None else None
        if base is None and sessions.discovered is not None:
            base = sessions.discovered.base_url
        assert base is not None, "replay starts after the first session"
        return await post_ingest(
            sessions.http(),
            base,
            api_key=self._config.api_key.value,
            body=sub_body(item, lo, hi),
            content_type=f"multipart/mixed; boundary={item.boundary}",
            parts=hi - lo,
            timeout=self._config.sender.http_timeout,
            clock=self._clock,
        )

    async def _rekey(self, item: SpoolItem) -> SpoolItem | None:
        """Register ``item``'s wrapped secret again: the relabelled item, ``item`` itself to
        retry later (no answer, or the API key is refused), or None if the secret is refused."""
        sessions = self._client.sessions
        base = sessions.current.base_url if sessions.current is not None else None
        if base is None or not item.encrypted_secret:
            return None if not item.encrypted_secret else item
        try:
            key_id = await complete_with_secret(
                sessions.http(),
                base,
                self._config,
                item.encrypted_secret,
                timeout=self._config.sender.http_timeout,
            )
        except AuthError as exc:
            log.error("spool.rekey_key_refused", error=str(exc))
            await self._clock.sleep(self._client.health.next_slow_delay())
            return item
        except HandshakeError as exc:
            found = _STATUS_RE.search(str(exc))
            if found is not None and 400 <= int(found.group(1)) < 500:
                metrics.SPOOL_REKEYED.labels(result="refused").inc()
                log.error(
                    "spool.rekey_refused",
                    key_id=item.key_id,
                    error=str(exc),
                    note="the spooled ciphertext is kept in spool/dead/ (it cannot be re-sent)",
                )
                return None
            log.warning("spool.rekey_failed", error=str(exc))
            await self._clock.sleep(self._backoff().next_delay())
            return item
        relabelled = relabel(item, key_id)
        metrics.SPOOL_REKEYED.labels(result="ok" if relabelled else "unrelabelable").inc()
        log.info("spool.rekeyed", previous_key_id=item.key_id, key_id=key_id, parts=item.parts)
        return relabelled

    def _dead(self, item: SpoolItem, reason: str) -> None:
        self.dead_entries += item.parts
        self._spool.dead_letter(item, reason)
        log.error("spool.dead_lettered", entries=item.parts, reason=reason)
