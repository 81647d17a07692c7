"""The ingest client: what the rest of the agent sees of the ingest side, and its wiring.

``deliver`` (or ``prepare`` then ``send``) never gives up on a record the ingestor might still
take; only entries it can never accept are dead-lettered. The work is split by job:

- ``session_keeper.py``: HTTP pool, discovery, handshake, session rotation, effective limits;
- ``encode_dispatch.py``: encoding in a worker process (``encode_pool.py``) or on a thread;
- ``delivery.py``: the loop over outcomes (``post.py`` sends one request, ``outcome.py``
  says what its answer means);
- ``health.py``: readiness and the slow-probe intervals;
- ``deadletter.py``: the dead-letter file.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from logflux_agent import USER_AGENT
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import AgentConfig
from logflux_agent.delivery.segment import SpoolItem
from logflux_agent.ingest.deadletter import DeadLetters
from logflux_agent.ingest.delivery import Delivery, DeliveryReport, PreparedBatch
from logflux_agent.ingest.encode import PayloadStatics
from logflux_agent.ingest.encode_dispatch import EncodeDispatch
from logflux_agent.ingest.health import Health
from logflux_agent.ingest.retry import PauseGate
from logflux_agent.ingest.session import Limits, SessionInfo
from logflux_agent.ingest.session_keeper import SessionKeeper
from logflux_agent.record import Record

__all__ = ["DeliveryReport", "IngestClient", "Limits", "PreparedBatch", "SessionInfo"]


class IngestClient:
    """Discovery, handshake, session rotation, encoding and delivery for one agent."""

    def __init__(self, config: AgentConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        sender = config.sender
        self.health = Health(
            clock,
            masked_api_key=config.api_key.masked,
            failure_threshold=config.metrics.ready_failure_threshold,
            can_rediscover=not config.endpoint,
        )
        self.sessions = SessionKeeper(config, clock, self.health)
        statics = PayloadStatics.build(
            node=config.node, environment=config.environment, agent=USER_AGENT, labels=config.labels
        )
        self.encoder = EncodeDispatch(
            statics,
            workers=sender.encode_workers,
            threads=sender.max_in_flight,
            compress_min_bytes=sender.compress_min_bytes,
        )
        self._clock = clock
        self._delivery = Delivery(
            config,
            clock,
            sessions=self.sessions,
            encoder=self.encoder,
            health=self.health,
            dead=DeadLetters(config.state_dir, sender.dead_letter_max_bytes, clock),
        )

    async def start(self) -> SessionInfo:
        """Discover and handshake.

        Raises DiscoveryError, HandshakeError, PinMismatchError or AuthError (errors.py).
        """
        await self.sessions.start()
        return self.info()

    def info(self) -> SessionInfo:
        return self.sessions.info()

    @property
    def limits(self) -> Limits:
        """The effective limits of the current session (the configuration's before one)."""
        return self.sessions.limits

    async def prepare(self, records: Sequence[Record]) -> PreparedBatch:
        """Encode ``records`` for sending; ``send()`` the result to deliver them."""
        return await self._delivery.prepare(records)

    async def encode_for_spool(
        self, records: Sequence[Record], owners: dict[str, int]
    ) -> tuple[list[SpoolItem], int]:
        """``records`` encoded as the requests to spool (docs/spool.md), and entries
        dead-lettered as over the limits."""
        return await self._delivery.encode_for_spool(records, owners)

    @property
    def gate(self) -> PauseGate:
        """The pause (429, 507) every sender honours, the spool's replayer too."""
        return self._delivery.gate

    async def deliver(self, records: Sequence[Record]) -> DeliveryReport:
        """Return once every record is accepted or dead-lettered; retries forever otherwise."""
        return await (await self._delivery.prepare(records)).send()

    def readiness(self) -> tuple[bool, str]:
        return self.health.readiness(self.sessions.current is not None)

    @property
    def resent_entries(self) -> int:
        """Entries sent again after a request with no answer: duplicates are possible."""
        return self._delivery.resent_entries

    def status(self) -> dict[str, Any]:
        """The sender's state for ``logflux-agent status``: retry state and why, session age."""
        health = self.health
        now = self._clock.monotonic()
        session = self.sessions.current
        gate = self._delivery.gate
        paused = gate.remaining()
        retry = "ok"
        if health.pin_error:
            retry = health.pin_error
        elif health.auth_refused:
            retry = "401: the ingestor refuses the API key; retrying slowly"
        elif health.storage_full:
            retry = f"507: storage or quota exhausted; next probe in {paused:.0f} s"
        elif paused > 0:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(self._clock.wall() + paused))
            retry = f"{gate.reason}: paused for {paused:.0f} s more (until {until})"
        elif health.failing_since is not None:
            retry = f"retrying for {now - health.failing_since:.0f} s: {health.last_error}"
        discovered = self.sessions.discovered
        return {
            "retry": retry,
            "failing_for_seconds": (
                None if health.failing_since is None else round(now - health.failing_since, 1)
            ),
            "last_error": health.last_error or None,
            "paused_seconds": round(paused, 1),
            "session_age_seconds": (
                None if session is None else round(max(0.0, now - session.created), 1)
            ),
            "key_id": None if session is None else session.key_id,
            "base_url": None if session is None else session.base_url,
            "region": None if discovered is None else discovered.region,
            "resent_entries": self.resent_entries,
        }

    async def close(self) -> None:
        await self.sessions.close()
        await self.encoder.close()
