"""The one emit callback input tests hand to an input: keeps what it got, can commit each ack
token at once (an instantly delivering pipeline), and can block to simulate a full queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from logflux_agent.pipeline.checkpointer import Checkpointer
from logflux_agent.record import Record
from tests.support.wait import async_wait_until


class Messages(list[str]):
    """The messages collected so far; called with a source, only that source's messages.

    Both spellings are in use (``got.messages == [...]`` and ``got.messages(path)``)."""

    def __init__(self, records: list[Record]) -> None:
        super().__init__(r.message for r in records)
        self._records = records

    def __call__(self, source: str | Path | None = None) -> list[str]:
        if source is None:
            return list(self)
        return [r.message for r in self._records if r.source == str(source)]


@dataclass
class Collector:
    """An Emit that keeps every record.

    ``commit``: commit each record's ack token as soon as it arrives (through
    ``checkpointer``). ``on_emit``: called with each list. While ``gate`` is set to an unset
    Event, each call blocks on it (backpressure) with ``waiting`` true."""

    commit: bool = False
    on_emit: Callable[[list[Record]], None] | None = None
    records: list[Record] = field(default_factory=list)
    calls: int = 0
    gate: asyncio.Event | None = None
    waiting: bool = False
    # Where ``commit`` sends positions: the store's one writer, as the pipeline's ack path does.
    checkpointer: Checkpointer | None = None

    async def __call__(self, records: list[Record]) -> None:
        self.calls += 1
        self.records.extend(records)
        if self.on_emit is not None:
            self.on_emit(records)
        if self.commit:
            assert self.checkpointer is not None, "commit=True needs the store's checkpointer"
            for record in records:
                if record.ack is not None:
                    self.checkpointer.commit(record.ack.stream, record.ack.position)
        gate = self.gate
        if gate is not None:
            self.waiting = True
            await gate.wait()
            self.waiting = False
        await asyncio.sleep(0)

    @property
    def messages(self) -> Messages:
        return Messages(self.records)

    async def wait_count(
        self,
        n: int,
        timeout: float = 20.0,
        source: str | Path | None = None,
    ) -> None:
        await async_wait_until(
            lambda: len(self.messages(source)) >= n,
            timeout,
            message=lambda: f"{n} records (have {len(self.messages(source))})",
        )
