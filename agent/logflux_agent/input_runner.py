"""One input's lifetime under the supervisor: build it, run it, restart it with backoff when it
crashes.

Each attempt runs the input's reads in a task group of its own (a crash ends that attempt
only, and no task it starts can outlive it); the next attempt waits ``1 s`` doubling up to
``60 s`` on the supervisor's clock, with a fresh instance of the input, which starts from the
positions the checkpoint store holds. An input that ends by itself (stdin at EOF) first lets
its processor chain hand over what it held back, then reports itself finished. A reload that
restarts an input first waits (``wait_settled``) for what the old instance read to settle.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from logflux_agent.clock import Clock
from logflux_agent.config.model import (
    FileInputConfig,
    InputConfig,
    JournaldInputConfig,
    SocketInputConfig,
    StdinInputConfig,
    SyslogInputConfig,
)
from logflux_agent.errors import AgentError
from logflux_agent.inputs.base import Emit, Input
from logflux_agent.observe import metrics
from logflux_agent.observe.freshness import InputView
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.pipeline.checkpointer import Checkpointer

log = structlog.get_logger(__name__)

RESTART_MIN, RESTART_MAX = 1.0, 60.0


def build_input(cfg: InputConfig, checkpointer: Checkpointer, clock: Clock) -> Input:
    """Instantiate the input for one config entry (imports kept local: each kind is optional).

    Inputs get the checkpointer as ``Positions``: they read their start positions once, here,
    and never write the store.
    """
    if isinstance(cfg, FileInputConfig):
        from logflux_agent.inputs.file.input import FileInput

        # A rebuilt input (restart, reload) declares its streams afresh; the old instance's
        # streams are not retired, so its records still in flight commit as before.
        checkpointer.detach(f"file:{cfg.id}:")
        file_input: Input = FileInput(cfg, checkpointer, clock=clock)
        return file_input
    if isinstance(cfg, JournaldInputConfig):
        from logflux_agent.inputs.journald.input import JournaldInput, checkpoint_key

        checkpointer.detach(checkpoint_key(cfg.id))
        return JournaldInput(cfg, checkpointer, clock=clock)
    if isinstance(cfg, StdinInputConfig):
        from logflux_agent.inputs.stdin import StdinInput

        return StdinInput(cfg, checkpointer, clock=clock)
    # Socket and syslog resume nothing; they take (and drop) the store itself.
    if isinstance(cfg, SocketInputConfig):
        from logflux_agent.inputs.socket.input import SocketInput

        return SocketInput(cfg, checkpointer.store, clock=clock)
    if isinstance(cfg, SyslogInputConfig):
        from logflux_agent.inputs.syslog.input import SyslogInput

        return SyslogInput(cfg, checkpointer.store, clock=clock)
    raise AgentError(f"unknown input type {type(cfg).__name__}")


class RunningInput:
    """An input's task plus what is needed to stop it and know its records are settled."""

    def __init__(self, cfg: InputConfig, inp: Input) -> None:
        self.cfg = cfg
        self.task: asyncio.Task[None] | None = None
        self.finished = False
        self.view = InputView(cfg.id, cfg.type, inp)


async def run_input(
    running: RunningInput,
    inp: Input,
    emit: Emit,
    *,
    rebuild: Callable[[], Input],
    clock: Clock,
    on_finished: Callable[[], None],
) -> None:
    """Run ``running``'s input until it ends by itself, restarting it after each crash."""
    from logflux_agent.processing import stage

    cfg = running.cfg
    delay = RESTART_MIN
    while (exc := await _attempt(cfg, inp, emit)) is not None:
        stage.reset(emit)
        metrics.INPUT_RESTARTS.labels(input=cfg.id).inc()
        running.view.restarts += 1
        running.view.last_error = f"crashed: {exc}"[:300]
        log.error(
            "input.crashed",
            input=cfg.id,
            type=cfg.type,
            error=str(exc),
            restart_in=round(delay, 1),
            exc_info=exc,
        )
        await clock.sleep(delay)
        delay = min(delay * 2, RESTART_MAX)
        inp = rebuild()
        running.view.instance = inp
    running.finished = True
    log.info("input.finished", input=cfg.id, type=cfg.type)
    on_finished()


async def _attempt(cfg: InputConfig, inp: Input, emit: Emit) -> Exception | None:
    """One run of ``inp`` in a task group of its own; the error it crashed with, if any."""
    from logflux_agent.processing import stage

    async def read_all() -> None:
        await stage.run(emit, inp.run(emit))  # with the chain's flush timer, if it has one
        await stage.drain(emit)  # ended by itself (stdin EOF): held pieces go out

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(read_all(), name=f"input-{cfg.id}-read")
    except ExceptionGroup as crashed:
        return crashed.exceptions[0]  # one task in the group: its error
    return None


async def wait_settled(tracker: AckTracker, clock: Clock, input_id: str, timeout: float) -> None:
    """Wait up to ``timeout`` s for every entry ``input_id`` read to be accepted or dropped."""
    deadline = clock.monotonic() + timeout
    while tracker.unresolved(input_id) > 0:
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            break
        tracker.progress.clear()
        with contextlib.suppress(TimeoutError):
            await clock.wait_for(tracker.progress.wait(), remaining)
    if tracker.unresolved(input_id) > 0:
        log.warning(
            "reload.unsettled",
            input=input_id,
            entries=tracker.unresolved(input_id),
            note="they may be delivered twice (at-least-once)",
        )
