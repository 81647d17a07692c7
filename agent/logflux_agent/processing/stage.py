"""The processing stage: an input's ``emit`` wrapped with its processor chain.

``wrap`` returns the input's own emit, untouched, when it has no processors: the default path
costs nothing. Otherwise every emitted list goes through the chain before the queue, under one
lock per input, and a chain that holds lines across reads (cri/docker pieces, multiline
entries) has a timer that flushes them at their deadline. The lock keeps lists in the order
their tokens were handed out: without it a flush could enter the queue before an earlier list
of the same file and its position would be committed first (chain.py, container.py). This is
the only module of ``processing`` that touches the event loop. The timer is a task of the task
group that ``run`` opens around the input's reading (input_runner, tap), so it lives exactly as
long as the reading does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import InputConfig
from logflux_agent.processing.chain import Chain, build_chain
from logflux_agent.record import Record

log = structlog.get_logger(__name__)

EmitFn = Callable[[Sequence[Record]], Awaitable[None]]


class ProcessingEmit:
    """Callable like an Emit: records → chain → the wrapped emit."""

    def __init__(self, chain: Chain, emit: EmitFn, clock: Clock = SYSTEM_CLOCK) -> None:
        self.chain = chain
        self._emit = emit
        self._clock = clock
        self._lock = asyncio.Lock()
        self._armed = asyncio.Event()  # something is held: the timer has a deadline to wait for

    async def __call__(self, records: Sequence[Record]) -> None:
        # A packed ``Lines`` (packed.py) goes in as it is: a chain of only line-keeping
        # processors gives one back (chain.py), any other makes its rows column-wise.
        async with self._lock:
            out = self.chain.process(records, self._clock.monotonic())
            if out:
                await self._emit(out)
        if self.chain.stateful and self.chain.deadline() is not None:
            self._armed.set()

    async def run(self, reading: Awaitable[None]) -> None:
        """Await the input's ``reading`` with this chain's flush timer beside it.

        The timer is a task of a group opened here, so it lives exactly as long as the reading:
        it ends when the reading ends, fails or is cancelled. The reading's own error leaves
        as itself (not wrapped in a group), as if the timer were not there.
        """
        if not self.chain.stateful:
            await reading
            return
        error: Exception | None = None
        async with asyncio.TaskGroup() as group:
            timer = group.create_task(self._flush_when_due(), name="processing-timer")
            try:
                await reading
            except Exception as exc:
                error = exc
            finally:
                timer.cancel()
        if error is not None:
            raise error

    async def _flush_when_due(self) -> None:
        while True:
            await self._armed.wait()
            self._armed.clear()
            while (due := self.chain.deadline()) is not None:
                await self._clock.sleep(max(0.0, due - self._clock.monotonic()))
                async with self._lock:
                    out = self.chain.flush(self._clock.monotonic())
                    if out:
                        try:
                            await self._emit(out)
                        except RuntimeError:  # the queue closed (shutdown): read again later
                            return

    async def drain(self) -> None:
        """The input ended by itself (stdin at EOF): emit every held piece now."""
        async with self._lock:
            out = self.chain.flush(self._clock.monotonic(), force=True)
            if out:
                await self._emit(out)

    def reset(self) -> None:
        """The input is rebuilt and re-reads from its committed positions: forget held pieces."""
        self.chain.reset()


def wrap(
    cfg: InputConfig,
    emit: EmitFn,
    global_labels: dict[str, str] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    state_dir: str | None = None,
) -> EmitFn:
    """``emit`` itself when the input has no processors, else a ``ProcessingEmit`` around it."""
    # getattr: an input type without a processors option (yet) simply has none.
    chain = build_chain(cfg.id, getattr(cfg, "processors", ()), global_labels, state_dir)
    if chain is None:
        return emit
    log.info("processing.chain", input=cfg.id, processors=chain.describe())
    return ProcessingEmit(chain, emit, clock)


async def run(emit: EmitFn, reading: Awaitable[None]) -> None:
    """Await an input's ``reading`` (``inp.run(emit)``), with ``emit``'s flush timer if its
    chain holds lines across reads."""
    if isinstance(emit, ProcessingEmit):
        await emit.run(reading)
    else:
        await reading


async def drain(emit: EmitFn) -> None:
    """Emit what ``emit``'s chain holds, if it has one (the input reached its end)."""
    if isinstance(emit, ProcessingEmit):
        await emit.drain()


def reset(emit: EmitFn) -> None:
    """Forget what ``emit``'s chain holds, if it has one (the input is being rebuilt)."""
    if isinstance(emit, ProcessingEmit):
        emit.reset()
