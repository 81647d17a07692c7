"""What the supervisor needs of its collaborators, as typed interfaces, and the emit it wires.

The supervisor talks to the ingest client, the systemd notifier and the observe server only
through the Protocols here, so each can be replaced in a test by the real thing configured
differently (a client pointed at an in-process ingestor, a notifier with no socket) without
``Any`` anywhere on the path. ``make_emit`` builds the function an input hands its records to:
it counts them with the ack tracker and puts them on the queue, waiting while the queue is
full, or (``on_full: drop_newest``) dropping and counting them instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from logflux_agent.clock import Clock
from logflux_agent.config.model import AgentConfig, InputConfig
from logflux_agent.inputs.base import Emit
from logflux_agent.observe import metrics
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.pipeline.batcher import LimitsSource
from logflux_agent.pipeline.queue import RecordQueue
from logflux_agent.pipeline.sender import Deliverer
from logflux_agent.record import Record

if TYPE_CHECKING:
    from logflux_agent.ingest.session import SessionInfo


class Client(LimitsSource, Deliverer, Protocol):
    """The ingest client: a session, the current limits, delivery, health and its close."""

    async def start(self) -> SessionInfo: ...

    def readiness(self) -> tuple[bool, str]: ...

    def status(self) -> dict[str, Any]: ...

    @property
    def resent_entries(self) -> int: ...

    async def close(self) -> None: ...


class Notifier(Protocol):
    """The service manager's notification socket (observe/sdnotify.py)."""

    def ready(self) -> None: ...

    def reloading(self) -> None: ...

    def stopping(self) -> None: ...

    def status(self, text: str) -> None: ...

    def watchdog_interval(self) -> float | None: ...

    async def watchdog_loop(self) -> None: ...


class ObserveEndpoint(Protocol):
    """The /metrics, /health, /ready and /status server (observe/server.py)."""

    @property
    def url(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ClientFactory = Callable[[AgentConfig, Clock], Client]
NotifierFactory = Callable[[], Notifier]


def ingest_client(config: AgentConfig, clock: Clock) -> Client:
    """The real ingest client (imported here: it pulls in aiohttp and the crypto)."""
    from logflux_agent.ingest.client import IngestClient

    return IngestClient(config, clock=clock)


def system_notifier() -> Notifier:
    from logflux_agent.observe.sdnotify import Notifier as SdNotifier

    return SdNotifier()


def make_emit(
    cfg: InputConfig, queue: RecordQueue, tracker: AckTracker, dropped_counts: dict[str, int]
) -> Emit:
    """The emit of input ``cfg``: blocking ``put``, or ``offer`` and count for drop_newest."""
    owner = cfg.id
    if cfg.on_full == "drop_newest":
        dropped = metrics.DROPPED.labels(reason="queue_full")

        async def emit_or_drop(records: Sequence[Record]) -> None:
            if not records:
                return
            tracker.emitted(owner, len(records))
            if queue.offer(owner, records):
                tracker.queued(owner, records)
            else:
                tracker.discarded(owner, len(records))
                dropped.inc(len(records))
                dropped_counts[owner] = dropped_counts.get(owner, 0) + len(records)
            # offer never waits: yield, so a fast input cannot starve the sender.
            await asyncio.sleep(0)

        return emit_or_drop

    async def emit(records: Sequence[Record]) -> None:
        if not records:
            return
        tracker.emitted(owner, len(records))
        try:
            await queue.put(owner, records)
        except BaseException:
            tracker.discarded(owner, len(records))
            raise
        tracker.queued(owner, records)  # no await since the put: still in queue order

    return emit
