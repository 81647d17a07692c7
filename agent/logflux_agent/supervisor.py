"""The daemon: builds inputs → queue → batcher → sender from the config and runs them.

It owns the lifetimes: start (session with retry, inputs, sender, checkpoint flusher, the
observe server, systemd notify), signals (SIGTERM/SIGINT drain, a second one exits at once;
SIGHUP or, with ``reload: watch``, a config edit reloads), input restarts with backoff, the
final drain, and the start-up banner / stopped summary (observe/banner.py). Only positions the
ingestor accepted are ever written to the checkpoint store, so every exit path leaves a
consistent one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

import structlog

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import (
    AgentConfig,
    FileInputConfig,
    InputConfig,
    JournaldInputConfig,
    SocketInputConfig,
    StdinInputConfig,
    SyslogInputConfig,
)
from logflux_agent.delivery.writer import SpoolSink, build_spool
from logflux_agent.errors import EXIT_OK, EXIT_RUNTIME, AgentError, ConfigError, PinMismatchError
from logflux_agent.inputs.base import Emit, Input
from logflux_agent.observe import banner, metrics
from logflux_agent.observe.freshness import InputView, readiness_of, status_of
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.pipeline.batcher import Batcher
from logflux_agent.pipeline.queue import RecordQueue
from logflux_agent.pipeline.sender import SenderStage
from logflux_agent.record import Record

log = structlog.get_logger(__name__)

EXIT_FORCED = 130
_NO_REREAD = (StdinInputConfig, SocketInputConfig, SyslogInputConfig)  # get the drain time
_RESTART_MIN, _RESTART_MAX = 1.0, 60.0


def build_input(cfg: InputConfig, store: CheckpointStore, clock: Clock) -> Input:
    """Instantiate the input for one config entry (imports kept local: each kind is optional)."""
    if isinstance(cfg, FileInputConfig):
        from logflux_agent.inputs.file.input import FileInput

        file_input: Input = FileInput(cfg, store, clock=clock)
        return file_input
    if isinstance(cfg, JournaldInputConfig):
        from logflux_agent.inputs.journald import JournaldInput

        return JournaldInput(cfg, store, clock=clock)
    if isinstance(cfg, StdinInputConfig):
        from logflux_agent.inputs.stdin import StdinInput

        return StdinInput(cfg, store, clock=clock)
    if isinstance(cfg, SocketInputConfig | SyslogInputConfig):
        from logflux_agent.inputs.socket.input import SocketInput
        from logflux_agent.inputs.syslog.input import SyslogInput

        if isinstance(cfg, SocketInputConfig):
            return SocketInput(cfg, store, clock=clock)
        return SyslogInput(cfg, store, clock=clock)
    raise AgentError(f"unknown input type {type(cfg).__name__}")


class _RunningInput:
    """An input's task plus what is needed to stop it and know its records are settled."""

    def __init__(self, cfg: InputConfig, task: asyncio.Task[None], inp: Input) -> None:
        self.cfg = cfg
        self.task = task
        self.finished = False
        self.view = InputView(cfg.id, cfg.type, inp)


class Supervisor:
    """Runs the agent until stopped; ``run`` returns the process exit code."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        config_path: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        reload_loader: Callable[[str], AgentConfig] | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock = clock
        self._reload_loader = reload_loader
        self.store = CheckpointStore(config.state_dir)
        self.queue = RecordQueue(config.queue.max_entries, config.queue.max_bytes)
        self.tracker = AckTracker(clock)
        self.session_ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._signals = 0
        self._inputs: dict[str, _RunningInput] = {}
        self._client: Any = None
        self._exit_code = EXIT_OK
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._notifier: Any = None
        self._server: Any = None
        self._stage: SenderStage | None = None
        self._started = (clock.monotonic(), clock.wall())
        self._dropped: dict[str, int] = {}

    # ---- wiring -------------------------------------------------------------------------

    def _make_emit(self, cfg: InputConfig) -> Emit:
        owner = cfg.id
        queue = self.queue
        tracker = self.tracker
        if cfg.on_full == "drop_newest":
            dropped = metrics.DROPPED.labels(reason="queue_full")
            counts = self._dropped

            async def emit_or_drop(records: list[Record]) -> None:
                if not records:
                    return
                tracker.emitted(owner, len(records))
                if not queue.offer(owner, records):
                    tracker.discarded(owner, len(records))
                    dropped.inc(len(records))
                    counts[owner] = counts.get(owner, 0) + len(records)
                await asyncio.sleep(0)

            return emit_or_drop

        async def emit(records: list[Record]) -> None:
            if not records:
                return
            tracker.emitted(owner, len(records))
            try:
                await queue.put(owner, records)
            except BaseException:
                tracker.discarded(owner, len(records))
                raise

        return emit

    def readiness(self) -> tuple[bool, str, str]:
        return readiness_of(self)

    def status(self) -> dict[str, Any]:
        return status_of(self)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ---- tasks --------------------------------------------------------------------------

    async def _session(self) -> None:
        delay = _RESTART_MIN
        notified = False
        while True:
            try:
                info = await self._client.start()
            except PinMismatchError as exc:
                log.error("session.pin_mismatch", error=str(exc))
                self._exit_code = EXIT_RUNTIME
                self._stop.set()
                return
            except AgentError as exc:
                log.error("session.start_failed", error=str(exc), retry_in=round(delay, 1))
                if not notified and self._notifier is not None:
                    self._notifier.ready()
                    self._notifier.status(f"retrying session: {exc}")
                    notified = True
                await self.clock.sleep(delay)
                delay = min(delay * 2, _RESTART_MAX)
                continue
            log.info("session.ready", **banner.session_fields(info))
            self.session_ready.set()
            if self._notifier is not None:
                self._notifier.ready()
                self._notifier.status("shipping")
            return

    async def _run_input(self, running: _RunningInput, inp: Input) -> None:
        from logflux_agent.processing import stage

        cfg = running.cfg
        # The input's processor chain between it and the queue; no chain: the plain emit.
        emit = stage.wrap(cfg, self._make_emit(cfg), self.config.labels, self.clock)
        delay = _RESTART_MIN
        while True:
            try:
                await inp.run(emit)
                await stage.drain(emit)  # ended by itself (stdin EOF): held pieces go out
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                stage.reset(emit)
                metrics.INPUT_RESTARTS.labels(input=cfg.id).inc()
                running.view.restarts += 1
                running.view.last_error = f"crashed: {exc}"[:300]
                log.exception(
                    "input.crashed",
                    input=cfg.id,
                    type=cfg.type,
                    error=str(exc),
                    restart_in=round(delay, 1),
                )
                await self.clock.sleep(delay)
                delay = min(delay * 2, _RESTART_MAX)
                inp = running.view.instance = build_input(cfg, self.store, self.clock)
                continue
            running.finished = True
            log.info("input.finished", input=cfg.id, type=cfg.type)
            self._maybe_finish()
            return

    def _maybe_finish(self) -> None:
        """When every input has ended by itself (stdin at EOF), drain and exit."""
        if self._inputs and all(r.finished for r in self._inputs.values()):
            self._stop.set()

    def _start_input(self, cfg: InputConfig) -> None:
        inp = build_input(cfg, self.store, self.clock)
        running = _RunningInput(cfg, asyncio.create_task(asyncio.sleep(0)), inp)
        running.task = asyncio.create_task(self._run_input(running, inp), name=f"input-{cfg.id}")
        self._inputs[cfg.id] = running
        log.info("input.started", input=cfg.id, type=cfg.type)

    async def _stop_input(self, input_id: str) -> None:
        running = self._inputs.pop(input_id)
        running.task.cancel()
        await asyncio.gather(running.task, return_exceptions=True)

    async def _flush_checkpoints_forever(self) -> None:
        while True:
            await self.clock.sleep(self.config.checkpoint_interval)
            self._flush_checkpoints()

    def _flush_checkpoints(self) -> None:
        if not self.store.dirty:
            return
        if self.store.flush():
            metrics.CHECKPOINT_WRITES.inc()
        else:
            metrics.CHECKPOINT_FAILURES.inc()

    # ---- signals and reload ------------------------------------------------------------

    def _on_stop_signal(self, signame: str) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("agent.stopping", signal=signame)
            self._stop.set()
            return
        log.warning("agent.forced_exit", signal=signame)
        self._flush_checkpoints()
        from logflux_agent.observe.logging import flush as flush_log

        flush_log(0.5)  # os._exit skips atexit: give the last lines a moment, bounded
        os._exit(EXIT_FORCED)

    def _on_reload_signal(self) -> None:
        self._spawn(self.reload(), "reload")

    async def reload(self) -> bool:
        """Re-read the config; apply input changes; keep everything else running."""
        if self.config_path is None or self._reload_loader is None:
            log.warning("reload.unavailable", reason="no config file to reload")
            return False
        async with self._reload_lock:
            if self._notifier is not None:
                self._notifier.reloading()
            try:
                new = self._reload_loader(self.config_path)
            except ConfigError as exc:
                log.error("reload.rejected", path=self.config_path, problems=exc.problems)
                if self._notifier is not None:
                    self._notifier.ready()
                return False
            await self._apply(new)
            if self._notifier is not None:
                self._notifier.ready()
            return True

    async def _apply(self, new: AgentConfig) -> None:
        old_inputs = {c.id: c for c in self.config.inputs}
        new_inputs = {c.id: c for c in new.inputs}
        changed = [i for i in old_inputs if i in new_inputs and old_inputs[i] != new_inputs[i]]
        removed = [i for i in old_inputs if i not in new_inputs]
        added = [i for i in new_inputs if i not in old_inputs]
        for input_id in removed + changed:
            if input_id in self._inputs:
                await self._stop_input(input_id)
        # A restarted input starts from the checkpoint store, which holds only accepted
        # positions: let the old instance's records settle first, or they would be read twice.
        for input_id in changed:
            await self._wait_settled(input_id, self.config.sender.shutdown_timeout)
        self._flush_checkpoints()
        restart_needed = _sections_needing_restart(self.config, new)
        self.config = _replace_inputs(self.config, new)
        for input_id in changed + added:
            self._start_input(new_inputs[input_id])
        log.info(
            "reload.applied",
            added=added,
            removed=removed,
            restarted=changed,
            restart_required_for=restart_needed,
        )

    async def _wait_settled(self, input_id: str, timeout: float) -> None:
        deadline = self.clock.monotonic() + timeout
        while self.tracker.unresolved(input_id) > 0:
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                break
            self.tracker.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.tracker.progress.wait(), remaining)
        if self.tracker.unresolved(input_id) > 0:
            log.warning(
                "reload.unsettled",
                input=input_id,
                entries=self.tracker.unresolved(input_id),
                note="they may be delivered twice (at-least-once)",
            )

    # ---- main ---------------------------------------------------------------------------

    async def run(self) -> int:
        from logflux_agent.ingest.client import IngestClient
        from logflux_agent.observe.sdnotify import Notifier

        self.store.load()
        self._notifier = Notifier()
        loop = asyncio.get_running_loop()
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            loop.add_signal_handler(sig, self._on_stop_signal, name)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)

        client = self._client = IngestClient(self.config, clock=self.clock)
        # Inputs first: building one imports its module, a pause /health must not see.
        for cfg in self.config.inputs:
            self._start_input(cfg)
        if self.config.metrics.enabled:
            from logflux_agent.observe.server import ObserveServer

            self._server = ObserveServer(self.config.metrics, self.readiness, self.status)
            await self._server.start()
            log.info("observe.listening", url=self._server.url)
        sender = self.config.sender
        batcher = Batcher(
            self.queue,
            sender.flush_interval,
            max_entries=sender.batch_max_entries,
            max_bytes=sender.batch_max_bytes,
            server=client,
            clock=self.clock,
        )
        self.spool: SpoolSink | None = build_spool(self.config, client, self.clock)
        stage = self._stage = SenderStage(
            batcher, self.tracker, client, sender.max_in_flight, self.session_ready, self.spool
        )
        if self.spool is not None:
            self._spawn(self.spool.replayer.run(self.session_ready), "spool-replay")
        sender_task = asyncio.create_task(stage.run(), name="sender")
        session_task = self._spawn(self._session(), "session")
        self._spawn(self._flush_checkpoints_forever(), "checkpoints")
        if self._notifier.watchdog_interval() is not None:
            self._spawn(self._notifier.watchdog_loop(), "watchdog")
        if self.config.reload == "watch" and self.config_path is not None:
            from logflux_agent.config.watch import watch_config

            self._spawn(watch_config(self.config_path, self.reload), "reload-watch")
        url = self._server.url if self._server is not None else None
        log.info("agent.started", **banner.started_fields(self.config, self.config_path, url))

        stop_wait = asyncio.create_task(self._stop.wait(), name="stop-wait")
        await asyncio.wait({stop_wait, sender_task}, return_when=asyncio.FIRST_COMPLETED)
        if sender_task.done() and not stop_wait.done():
            stop_wait.cancel()
            self._exit_code = EXIT_RUNTIME
            log.error("agent.sender_failed", error=repr(sender_task.exception()))
        return await self._shutdown(sender_task, session_task)

    async def _shutdown(
        self, sender_task: asyncio.Task[None], session_task: asyncio.Task[None]
    ) -> int:
        if self._notifier is not None:
            self._notifier.stopping()
        for input_id in list(self._inputs):
            await self._stop_input(input_id)
        self.queue.close()
        timeout = self.config.sender.shutdown_timeout
        # Without a session, file and journal data can simply be read again after the restart;
        # stdin cannot, so its entries get the drain time even while the session is pending.
        if not sender_task.done() and (self.session_ready.is_set() or self.undelivered_stdin > 0):
            done, _ = await asyncio.wait({sender_task}, timeout=timeout)
            if not done:
                log.warning(
                    "agent.drain_timeout",
                    timeout=timeout,
                    queued=len(self.queue),
                    pending_batches=self.tracker.pending_batches,
                )
        sender_task.cancel()
        session_task.cancel()
        await asyncio.gather(sender_task, session_task, return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
        self._flush_checkpoints()
        undelivered = {
            c.id: self.tracker.unresolved(c.id)
            for c in self.config.inputs
            if isinstance(c, StdinInputConfig)
        }
        listeners = [c.id for c in self.config.inputs if isinstance(c, _NO_REREAD[1:])]
        if unsent := {i: n for i in listeners if (n := self.tracker.unresolved(i)) > 0}:
            log.error("input.undelivered", entries=unsent, note="a socket cannot be read again")
        lost = sum(undelivered.values())
        if lost > 0:
            log.error("stdin.undelivered", entries=lost, note="standard input cannot be read again")
            self._exit_code = EXIT_RUNTIME
        if self._client is not None:
            await self._client.close()
        if self._server is not None:
            await self._server.stop()
        duration = self.clock.monotonic() - self._started[0]
        log.info("agent.stopped", **banner.stopped_fields(self, duration, self._exit_code))
        return self._exit_code

    @property
    def undelivered_stdin(self) -> int:
        return sum(
            self.tracker.unresolved(c.id) for c in self.config.inputs if isinstance(c, _NO_REREAD)
        )


def _sections_needing_restart(old: AgentConfig, new: AgentConfig) -> list[str]:
    names = [n for n in AgentConfig.__dataclass_fields__ if n not in ("inputs", "source")]
    return [n for n in names if getattr(old, n) != getattr(new, n)]


def _replace_inputs(old: AgentConfig, new: AgentConfig) -> AgentConfig:
    from dataclasses import replace

    return replace(old, inputs=new.inputs)
