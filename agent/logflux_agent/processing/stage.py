"""The processing stage: an input's ``emit`` wrapped with its processor chain.

``wrap`` returns the input's own emit, untouched, when it has no processors: the default path
costs nothing. Otherwise every emitted list goes through the chain before the queue, under one
lock per input, and a chain holding pieces of a line (cri, docker) gets a timer task that
flushes them at their deadline. The lock keeps lists in the order their tokens were handed out:
without it a flush could enter the queue before an earlier list of the same file and its
position would be committed first (chain.py, container.py). This is the only module of
``processing`` that touches the event loop; the timer ends with the input task that created it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import InputConfig
from logflux_agent.processing.chain import Chain, build_chain
from logflux_agent.record import Record

log = structlog.get_logger(__name__)

EmitFn = Callable[[list[Record]], Awaitable[None]]


class ProcessingEmit:
    """Callable like an Emit: records → chain → the wrapped emit."""

    def __init__(self, chain: Chain, emit: EmitFn, clock: Clock = SYSTEM_CLOCK) -> None:
        self.chain = chain
        self._emit = emit
        self._clock = clock
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._parent: asyncio.Task[object] | None = None

    async def __call__(self, records: list[Record]) -> None:
        async with self._lock:
            out = self.chain.process(records, self._clock.monotonic())
            if out:
                await self._emit(out)
        if self.chain.stateful:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None or self.chain.deadline() is None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.create_task(self._flush_when_due(), name="processing-timer")
        parent = asyncio.current_task()
        if parent is not None and parent is not self._parent:
            # Once per input task (not per timer): the timer ends when the input does.
            self._parent = parent
            parent.add_done_callback(self._cancel_timer)

    def _cancel_timer(self, _: object = None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _flush_when_due(self) -> None:
        try:
            while True:
                due = self.chain.deadline()
                if due is None:
                    return
                await self._clock.sleep(due - self._clock.monotonic())
                async with self._lock:
                    out = self.chain.flush(self._clock.monotonic())
                    if out:
                        await self._emit(out)
        except RuntimeError:  # the queue closed (shutdown): held pieces are read again
            return
        finally:
            if self._timer is asyncio.current_task():
                self._timer = None

    async def drain(self) -> None:
        """The input ended by itself (stdin at EOF): emit every held piece now."""
        async with self._lock:
            out = self.chain.flush(self._clock.monotonic(), force=True)
            if out:
                await self._emit(out)

    def reset(self) -> None:
        """The input is rebuilt and re-reads from its committed positions: forget held pieces."""
        self.chain.reset()
        self._cancel_timer()


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


async def drain(emit: EmitFn) -> None:
    """Emit what ``emit``'s chain holds, if it has one (the input reached its end)."""
    if isinstance(emit, ProcessingEmit):
        await emit.drain()


def reset(emit: EmitFn) -> None:
    """Forget what ``emit``'s chain holds, if it has one (the input is being rebuilt)."""
    if isinstance(emit, ProcessingEmit):
        emit.reset()
