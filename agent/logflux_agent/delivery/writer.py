"""The sender's way into the spool: which batches are spooled, and waiting while it is full.

A batch is spooled when any of its entries comes from a spooled input (a batch mixing a
spooled input with a file input is spooled whole: the file's checkpoint then advances once the
spool holds the batch, which is as durable as the ingestor holding it). ``write`` returns only
once every request of the batch is in the spool; while the spool is full (``max_bytes`` or a
full filesystem) it waits and retries, so the sender's slots fill, the queue fills and the
inputs feel backpressure (UDP syslog with ``on_full: drop_newest`` drops and counts), exactly
as without a spool. The disk never grows past ``max_bytes``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from logflux_agent.clock import Clock
from logflux_agent.config.model import AgentConfig
from logflux_agent.config.spool import SpoolConfig, effective_spool
from logflux_agent.delivery.replayer import Replayer
from logflux_agent.delivery.segment import SpoolItem
from logflux_agent.delivery.spool import Spool, SpoolBusy, SpoolFull
from logflux_agent.errors import ConfigError
from logflux_agent.observe import metrics
from logflux_agent.record import Record

if TYPE_CHECKING:
    from logflux_agent.ingest.client import IngestClient
    from logflux_agent.ledger.receipts import Receipts

log = structlog.get_logger(__name__)

_FULL_RETRY_FIRST = 0.05
_FULL_RETRY_MAX = 1.0
_SPOOLED_TYPES = ("stdin", "socket", "syslog")


class SpoolSink:
    """The spool as the sender stage sees it, with the replayer that drains it."""

    def __init__(self, spool: Spool, owners: frozenset[str], client: IngestClient, clock: Clock):
        self.spool = spool
        self.owners = owners
        self._client = client
        self._clock = clock
        self.replayer = Replayer(spool, client, clock)
        self.full_since: float | None = None
        self.spooled_entries = 0
        self.wait_delivered = False

    def takes(self, owners: dict[str, int]) -> bool:
        return not self.owners.isdisjoint(owners)

    async def write(self, records: list[Record], owners: dict[str, int]) -> None:
        """Encode and spool one batch; returns once all of it is durably in the spool."""
        await self.append(await self.encode(records, owners))

    async def encode(self, records: Sequence[Record], owners: dict[str, int]) -> list[SpoolItem]:
        """The batch as the requests to spool (encoded under the current session): may run
        while the previous batch of the same input is still being written."""
        items, _dead = await self._client.encode_for_spool(records, owners)
        return items

    async def append(self, items: list[SpoolItem]) -> None:
        """Write encoded requests in order; returns once all are durably in the spool."""
        while items:
            done = await self._append(items)
            self.spooled_entries += sum(item.parts for item in items[:done])
            self.replayer.note_spooled(items[:done])  # the receipt ledger's link (audit.md)
            items = items[done:]

    def waits_at_exit(self) -> bool:
        """``wait_delivered`` and something still spooled: the stop waits for the replay."""
        return self.wait_delivered and self.spool.pending_requests > 0

    async def settle(self) -> None:
        """At the sender's end: with ``wait_delivered``, until the replayer drained the spool."""
        if self.wait_delivered and self.spool.pending_requests:
            log.info("spool.waiting_delivered", requests=self.spool.pending_requests)
            await self.replayer.drained.wait()
        self.spool.sync()  # fsync: interval leaves nothing unsynced at a clean stop

    async def _append(self, items: list[SpoolItem]) -> int:
        delay = _FULL_RETRY_FIRST
        while True:
            try:
                done = await self.spool.append(items)
                if self.full_since is not None:
                    log.info("spool.room_again", waited=self._clock.monotonic() - self.full_since)
                self.full_since = None
                return done
            except SpoolFull as exc:
                if self.full_since is None:
                    self.full_since = self._clock.monotonic()
                    metrics.SPOOL_FULL.labels(reason=exc.reason).inc()
                    log.warning(
                        "spool.full",
                        reason=exc.reason,
                        bytes=self.spool.bytes,
                        max_bytes=self.spool.max_bytes,
                        note="inputs wait (backpressure) until the ingestor takes spooled data",
                    )
                await self._clock.sleep(delay)
                delay = min(_FULL_RETRY_MAX, delay * 2)

    def readiness_note(self) -> str:
        """A few words for /ready and status while data waits in the spool ('' when none)."""
        pending = self.spool.pending_requests
        if not pending:
            return ""
        full = " (full: inputs wait)" if self.full_since is not None else ""
        return (
            f"spooling: {pending} request(s), {self.spool.bytes} bytes on disk, oldest "
            f"{self.spool.oldest_age():.0f} s{full}"
        )

    def status(self) -> dict[str, object]:
        return {
            "directory": str(self.spool.directory),
            "inputs": sorted(self.owners),
            "bytes": self.spool.bytes,
            "max_bytes": self.spool.max_bytes,
            "segments": self.spool.segments,
            "pending_requests": self.spool.pending_requests,
            "oldest_age_seconds": round(self.spool.oldest_age(), 1),
            "full": self.full_since is not None,
            "spooled_entries": self.spooled_entries,
            "replayed_entries": self.replayer.replayed_entries,
            "dead_lettered_entries": self.replayer.dead_entries,
            "corrupt_tails_cut": self.spool.cut_records,
            "set_aside": self.spool.aside,
        }


def spool_choice(config: AgentConfig) -> tuple[SpoolConfig, str, frozenset[str]] | None:
    """The agent's spool settings, directory and spooled input ids; None when nothing spools.
    One directory per agent: the first spooled input's settings (or the top-level ones)."""
    chosen: SpoolConfig | None = None
    owners: set[str] = set()
    for cfg in config.inputs:
        if cfg.type not in _SPOOLED_TYPES:
            continue
        own = effective_spool(config.spool, getattr(cfg, "spool", None))
        if own is not None:
            owners.add(cfg.id)
            chosen = chosen or own
    if chosen is None:
        return None
    directory = chosen.directory or os.path.join(config.state_dir, "spool")
    return chosen, directory, frozenset(owners)


def build_spool(
    config: AgentConfig, client: IngestClient, clock: Clock, receipts: Receipts | None = None
) -> SpoolSink | None:
    """The agent's spool (``spool_choice``), opened; None when no input spools. ``receipts``:
    the receipt ledger, told what is spooled and what the replayer delivered (docs/audit.md)."""
    found = spool_choice(config)
    if found is None:
        return None
    chosen, directory, owners = found
    spool = Spool(
        Path(directory),
        max_bytes=chosen.max_bytes,
        segment_bytes=chosen.segment_bytes,
        fsync=chosen.fsync,
        fsync_interval=chosen.fsync_interval,
        clock=clock,
    )
    try:
        spool.open()
    except SpoolBusy as exc:
        raise ConfigError(f"spool.directory {directory}: {exc}") from None
    except OSError as exc:  # a directory we cannot create or list: a setup problem, said once
        raise ConfigError(
            f"spool.directory {directory}: cannot create or read it: {exc.strerror or exc}"
        ) from None
    sink = SpoolSink(spool, owners, client, clock)
    sink.wait_delivered = chosen.wait_delivered
    sink.replayer.receipts = receipts
    return sink
