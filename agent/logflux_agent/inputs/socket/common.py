"""What the socket and syslog inputs share: entry counting for acks, connections, quiet logs.

These inputs cannot read anything again, so nothing is persisted; like stdin, a stream's
position is the number of entries it emitted, and the input adds up what was committed, so
``unacked = emitted - committed`` is exact (exported as ``logflux_agent_unacked_entries``).
Each connection (and each datagram socket) is its own stream: positions grow along it in the
order its entries were queued.

``Connections`` tracks the tasks serving stream clients so the input can stop them gracefully:
reading stops, what was already read is framed and queued (a partial last line too), and only
a task still blocked on a full queue after ``STOP_GRACE`` seconds is cancelled, its entries
counted as lost. ``Throttle`` keeps a misbehaving client from flooding the agent's own log: a
reason is logged at most once per interval, with how many occurrences were not logged.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from logflux_agent.inputs.base import Emit
from logflux_agent.observe import metrics
from logflux_agent.record import AckToken, Record

log = structlog.get_logger(__name__)

STOP_GRACE = 5.0
LOG_INTERVAL = 60.0


class EntryCounter:
    """Per input: entries emitted and committed (the difference is unacknowledged)."""

    def __init__(self, input_id: str) -> None:
        self.input_id = input_id
        self.emitted = 0
        self.committed = 0
        self.lost = 0
        self._entries = metrics.INPUT_ENTRIES.labels(input=input_id)
        metrics.UNACKED_ENTRIES.labels(input=input_id).set_function(self.unacked)

    def unacked(self) -> float:
        return float(self.emitted - self.committed)

    def stream(self, name: str) -> CountingStream:
        return CountingStream(f"{self.input_id}:{name}", self)

    async def emit(self, records: list[Record], stream: CountingStream, emit: Emit) -> None:
        """Hand ``records`` to the queue with a counting token on the last one."""
        if not records:
            return
        count = stream.emitted + len(records)
        records[-1] = records[-1].with_ack(AckToken(stream, count))
        await emit(records)
        stream.emitted = count
        self.emitted += len(records)
        self._entries.inc(len(records))


class CountingStream:
    """An ack stream whose position is an entry count; commits add to the input's total."""

    __slots__ = ("_key", "committed", "emitted", "owner")

    def __init__(self, key: str, owner: EntryCounter) -> None:
        self._key = key
        self.owner = owner
        self.emitted = 0
        self.committed = 0

    @property
    def key(self) -> str:
        return self._key

    def commit(self, position: int | str) -> None:
        count = int(position)
        if count > self.committed:
            self.owner.committed += count - self.committed
            self.committed = count


class Throttle:
    """Log each reason at most once per ``interval`` seconds, saying how many were skipped."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warn(self, event: str, reason: str, **fields: Any) -> None:
        now = time.monotonic()
        last = self._last.get(reason)
        if last is not None and now - last < self.interval:
            self._skipped[reason] = self._skipped.get(reason, 0) + 1
            return
        self._last[reason] = now
        skipped = self._skipped.pop(reason, 0)
        log.warning(event, reason=reason, not_logged_since_last=skipped, **fields)


class Connections:
    """The live client connections of one input, and their graceful stop."""

    def __init__(self, input_id: str, transport: str) -> None:
        self.input_id = input_id
        self._live: dict[asyncio.Task[Any], asyncio.StreamReader] = {}
        self._gauge = metrics.SOCKET_CONNECTIONS.labels(input=input_id, transport=transport)
        self.stopping = False

    def __len__(self) -> int:
        return len(self._live)

    def add(self, reader: asyncio.StreamReader) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._live[task] = reader
        self._gauge.inc()

    def remove(self) -> None:
        task = asyncio.current_task()
        if task is not None and self._live.pop(task, None) is not None:
            self._gauge.dec()

    async def stop(self) -> None:
        """Stop reading everywhere, let each connection queue what it read, then cancel."""
        self.stopping = True
        for reader in list(self._live.values()):
            transport = getattr(reader, "_transport", None)
            if transport is not None and not transport.is_closing():
                transport.pause_reading()
            reader.feed_eof()
        tasks = set(self._live)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
            log.error(
                "socket.stop_timeout",
                input=self.input_id,
                connections=len(late),
                note="the queue stayed full; entries these connections had read were lost",
            )
