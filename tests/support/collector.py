"""An emit callback for input tests: keeps what it got, and can block to simulate a full queue."""

from __future__ import annotations

import asyncio

from logflux_agent.record import Record


class Collector:
    """While ``gate`` is set to an unset Event, each call blocks on it (backpressure)."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.waiting = False

    async def __call__(self, records: list[Record]) -> None:
        self.calls += 1
        self.records.extend(records)
        gate = self.gate
        if gate is not None:
            self.waiting = True
            await gate.wait()
            self.waiting = False

    @property
    def messages(self) -> list[str]:
        return [r.message for r in self.records]
