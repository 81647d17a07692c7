"""The daemon: builds inputs → queue → batcher → sender from the config and runs them.

It owns the lifetimes: start (session with retry, inputs, sender, checkpoint flusher, the
observe server, systemd notify), signals (SIGTERM/SIGINT drain, a second one exits at once;
SIGHUP or, with ``reload: watch``, a config edit reloads), input restarts with backoff, the
final drain, and the start-up banner / stopped summary (observe/banner.py). Only positions the
ingestor accepted are ever written to the checkpoint store, so every exit path leaves a
consistent one.

Structure: one ``asyncio.TaskGroup`` for the agent's run holds every task it starts, each
named (``sender``, ``session``, ``checkpoints``, ``watchdog``, ``reload-watch``, ``reload``,
``input-<id>``); each input runs its reads inside a task group of its own, one per attempt, so
a crash ends that attempt only. A task that fails unexpectedly is logged (``task.failed``),
never lost. Every wait and timer goes through the ``Clock``, so the drain and backoff logic
runs under a fake clock in the unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.collaborators import (
    Client,
    ClientFactory,
    Notifier,
    NotifierFactory,
    ObserveEndpoint,
    ingest_client,
    make_emit,
    system_notifier,
)
from logflux_agent.config.diff import plan_reload
from logflux_agent.config.model import (
    AgentConfig,
    InputConfig,
    SocketInputConfig,
    StdinInputConfig,
    SyslogInputConfig,
)
from logflux_agent.delivery.writer import SpoolSink, build_spool
from logflux_agent.errors import EXIT_OK, EXIT_RUNTIME, AgentError, ConfigError, PinMismatchError
from logflux_agent.input_runner import (
    RESTART_MAX,
    RESTART_MIN,
    RunningInput,
    build_input,
    run_input,
    wait_settled,
)
from logflux_agent.inputs.base import Input
from logflux_agent.ledger import Receipts, open_receipts
from logflux_agent.observe import banner, metrics
from logflux_agent.observe.freshness import readiness_of, status_of
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.pipeline.batcher import Batcher
from logflux_agent.pipeline.checkpointer import Checkpointer
from logflux_agent.pipeline.queue import RecordQueue
from logflux_agent.pipeline.sender import SenderStage

log = structlog.get_logger(__name__)

EXIT_FORCED = 130
_STOP_SIGNALS = ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT"))


InputFactory = Callable[[InputConfig, Checkpointer, Clock], Input]


class Supervisor:
    """Runs the agent until stopped; ``run`` returns the process exit code.

    ``client_factory``, ``notifier_factory``, ``input_factory`` and ``hard_exit`` are the real
    ones by default; the unit tests wrap the real inputs and pass a ``hard_exit`` that records.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        config_path: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        reload_loader: Callable[[str], AgentConfig] | None = None,
        client_factory: ClientFactory = ingest_client,
        notifier_factory: NotifierFactory = system_notifier,
        input_factory: InputFactory = build_input,
        hard_exit: Callable[[int], None] = os._exit,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock = clock
        self._reload_loader = reload_loader
        self._client_factory = client_factory
        self._notifier_factory = notifier_factory
        self._build_input = input_factory
        self._hard_exit = hard_exit
        self.store = CheckpointStore(config.state_dir)
        self.checkpointer = Checkpointer(self.store)
        # The ciphertext spool of inputs that cannot re-read (built at start; None: no spool).
        self.spool: SpoolSink | None = None
        self.queue = RecordQueue(config.queue.max_entries, config.queue.max_bytes, clock=clock)
        self.tracker = AckTracker(clock, self.checkpointer.commit)
        self.session_ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._signals = 0
        self.inputs: dict[str, RunningInput] = {}
        self.client: Client | None = None
        self._exit_code = EXIT_OK
        self._reload_lock = asyncio.Lock()
        self._group: asyncio.TaskGroup | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._notifier: Notifier | None = None
        self.server: ObserveEndpoint | None = None
        self.stage: SenderStage | None = None
        self.started_wall = clock.wall()
        self._started = clock.monotonic()
        self.dropped: dict[str, int] = {}
        self.receipts: Receipts | None = None  # the receipt ledger (docs/audit.md), from run()

    # ---- wiring -------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str, str]:
        return readiness_of(self)

    def status(self) -> dict[str, Any]:
        return status_of(self)

    def _spawn(self, coro: Coroutine[Any, Any, object], name: str, *, fatal: bool) -> None:
        """Start ``coro`` in the run's task group; an error is logged and, if ``fatal``,
        stops the agent (exit 1) rather than tearing the group down mid-drain. Non-fatal
        ones end alone, as before the task group (a failed reload keeps the old config)."""
        if self._group is None:
            coro.close()
            return
        task = self._group.create_task(self._guarded(coro, name, fatal=fatal), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guarded(self, coro: Coroutine[Any, Any, object], name: str, *, fatal: bool) -> None:
        try:
            await coro
        except Exception as exc:
            log.exception("task.failed", task=name, error=str(exc))
            if fatal:
                self._exit_code = EXIT_RUNTIME
                self._stop.set()

    # ---- tasks --------------------------------------------------------------------------

    async def _session(self, client: Client) -> None:
        delay = RESTART_MIN
        notified = False
        while True:
            try:
                info = await client.start()
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
                delay = min(delay * 2, RESTART_MAX)
                continue
            log.info("session.ready", **banner.session_fields(info))
            self.session_ready.set()
            if self._notifier is not None:
                self._notifier.ready()
                self._notifier.status("shipping")
            return

    async def _send(self, stage: SenderStage) -> None:
        """The sender stage; it ending before a stop was asked for is fatal (exit 1)."""
        error: BaseException | None = None
        try:
            await stage.run()
        except Exception as exc:
            error = exc
        if not self._stop.is_set():
            self._exit_code = EXIT_RUNTIME
            log.error("agent.sender_failed", error=repr(error))
            self._stop.set()

    async def _run_input(self, running: RunningInput, inp: Input) -> None:
        from logflux_agent.processing import stage

        cfg = running.cfg
        # The input's processor chain between it and the queue; no chain: the plain emit.
        plain = make_emit(cfg, self.queue, self.tracker, self.dropped)
        emit = stage.wrap(cfg, plain, self.config.labels, self.clock, self.config.state_dir)
        await run_input(
            running,
            inp,
            emit,
            rebuild=lambda: self._build_input(cfg, self.checkpointer, self.clock),
            clock=self.clock,
            on_finished=self._maybe_finish,
        )

    def _maybe_finish(self) -> None:
        """When every input has ended by itself (stdin at EOF), drain and exit."""
        if self.inputs and all(r.finished for r in self.inputs.values()):
            self._stop.set()

    def _start_input(self, cfg: InputConfig) -> None:
        if self._group is None:
            return
        inp = self._build_input(cfg, self.checkpointer, self.clock)
        running = RunningInput(cfg, inp)
        name = f"input-{cfg.id}"
        guarded = self._guarded(self._run_input(running, inp), name, fatal=False)
        running.task = self._group.create_task(guarded, name=name)
        self.inputs[cfg.id] = running
        log.info("input.started", input=cfg.id, type=cfg.type)

    async def _stop_input(self, input_id: str) -> None:
        running = self.inputs.pop(input_id)
        if running.task is not None:
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)

    async def _flush_checkpoints_forever(self) -> None:
        while True:
            await self.clock.sleep(self.config.checkpoint_interval)
            self._flush_checkpoints()

    def _flush_checkpoints(self) -> None:
        if self.receipts is not None:  # first: on disk the ledger is never behind checkpoints
            self.receipts.sync()
        if not self.store.dirty:
            return
        if self.store.flush():
            metrics.CHECKPOINT_WRITES.inc()
        else:
            metrics.CHECKPOINT_FAILURES.inc()

    # ---- signals and reload ------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig, name in _STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_stop_signal, name)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)

    @staticmethod
    def _remove_signals(loop: asyncio.AbstractEventLoop) -> None:
        for sig, _ in (*_STOP_SIGNALS, (signal.SIGHUP, "SIGHUP")):
            loop.remove_signal_handler(sig)

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
        self._hard_exit(EXIT_FORCED)

    def _on_reload_signal(self) -> None:
        if not self._stop.is_set():  # stopping: inputs started now would outlive the drain
            self._spawn(self.reload(), "reload", fatal=False)

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
        plan = plan_reload(self.config, new)
        for input_id in plan.removed + plan.changed:
            if input_id in self.inputs:
                await self._stop_input(input_id)
        # A restarted input starts from the checkpoint store, which holds only accepted
        # positions: let the old instance's records settle first, or they would be read twice.
        for input_id in plan.changed:
            await wait_settled(
                self.tracker, self.clock, input_id, self.config.sender.shutdown_timeout
            )
        self._flush_checkpoints()
        self.config = plan.applied(self.config, new)
        for input_id in plan.changed + plan.added:
            self._start_input(plan.new_inputs[input_id])
        log.info(
            "reload.applied",
            added=plan.added,
            removed=plan.removed,
            restarted=plan.changed,
            restart_required_for=plan.restart_required_for,
        )

    # ---- main ---------------------------------------------------------------------------

    async def run(self) -> int:
        self.store.load()
        self.receipts = open_receipts(self.config, self.clock)
        self.tracker.receipts = self.checkpointer.receipts = self.receipts
        self._notifier = self._notifier_factory()
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                return await self._lifetime()
        except BaseExceptionGroup as group_error:
            # The task group wraps what the body raised: a problem found while starting (an
            # unusable spool directory: exit 2) must reach the command as itself.
            agent_errors = [e for e in group_error.exceptions if isinstance(e, AgentError)]
            if agent_errors:
                raise agent_errors[0] from None
            raise
        finally:
            self._group = None
            self._remove_signals(loop)

    async def _lifetime(self) -> int:
        client = self.client = self._client_factory(self.config, self.clock)
        # Inputs first: building one imports its module, a pause /health must not see.
        for cfg in self.config.inputs:
            self._start_input(cfg)
        if self.config.metrics.enabled:
            from logflux_agent.observe.server import ObserveServer

            server = self.server = ObserveServer(self.config.metrics, self.readiness, self.status)
            await server.start()
            log.info("observe.listening", url=server.url)
        sender = self.config.sender
        batcher = Batcher(
            self.queue,
            sender.flush_interval,
            max_entries=sender.batch_max_entries,
            max_bytes=sender.batch_max_bytes,
            server=client,
            clock=self.clock,
        )
        from logflux_agent.ingest.client import IngestClient

        # The spool speaks the protocol itself (re-registering a session key): only the real
        # client can serve it; a test's stand-in client runs without one.
        if isinstance(client, IngestClient):
            self.spool = build_spool(self.config, client, self.clock, self.receipts)
        stage = self.stage = SenderStage(
            batcher, self.tracker, client, sender.max_in_flight, self.session_ready, self.spool
        )
        assert self._group is not None
        sender_task = self._group.create_task(self._send(stage), name="sender")
        if self.spool is not None:
            self._spawn(self.spool.replayer.run(self.session_ready), "spool-replay", fatal=False)
        self._spawn(self._session(client), "session", fatal=False)
        self._spawn(self._flush_checkpoints_forever(), "checkpoints", fatal=True)
        if self._notifier is not None and self._notifier.watchdog_interval() is not None:
            self._spawn(self._notifier.watchdog_loop(), "watchdog", fatal=False)
        if self.config.reload == "watch" and self.config_path is not None:
            from logflux_agent.config.watch import watch_config

            self._spawn(watch_config(self.config_path, self.reload), "reload-watch", fatal=False)
        url = self.server.url if self.server is not None else None
        log.info("agent.started", **banner.started_fields(self.config, self.config_path, url))
        await self._stop.wait()
        return await self._shutdown(sender_task)

    async def _shutdown(self, sender_task: asyncio.Task[None]) -> int:
        if self._notifier is not None:
            self._notifier.stopping()
        for input_id in list(self.inputs):
            await self._stop_input(input_id)
        self.queue.close()
        timeout = self.config.sender.shutdown_timeout
        # Without a session, file and journal data can simply be read again after the restart;
        # stdin cannot, so its entries get the drain time even while the session is pending;
        # so does a spool told to wait until it is delivered (--wait-delivered).
        spool_waits = self.spool is not None and self.spool.waits_at_exit()
        if not sender_task.done() and (
            self.session_ready.is_set() or self.undelivered_stdin > 0 or spool_waits
        ):
            # Shielded: a timeout ends the wait, not the sender (it is cancelled just below).
            with contextlib.suppress(TimeoutError):
                await self.clock.wait_for(asyncio.shield(sender_task), timeout)
            if not sender_task.done():
                log.warning(
                    "agent.drain_timeout",
                    timeout=timeout,
                    queued=len(self.queue),
                    pending_batches=self.tracker.pending_batches,
                )
        sender_task.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(sender_task, *list(self._background), return_exceptions=True)
        self._flush_checkpoints()
        if self.receipts is not None:
            self.receipts.writer.close()
        self._report_unsent()
        if self.client is not None:
            await self.client.close()
        if self.server is not None:
            await self.server.stop()
        duration = self.clock.monotonic() - self._started
        log.info("agent.stopped", **banner.stopped_fields(self, duration, self._exit_code))
        return self._exit_code

    def _report_unsent(self) -> None:
        """Log what inputs that cannot re-read still hold; stdin's makes the exit code 1."""
        unsent = self._unresolved(SocketInputConfig, SyslogInputConfig)
        if sum(unsent.values()) > 0:
            log.error("input.undelivered", entries=unsent, note="a socket cannot be read again")
        lost = sum(self._unresolved(StdinInputConfig).values())
        if lost > 0:
            log.error("stdin.undelivered", entries=lost, note="standard input cannot be read again")
            self._exit_code = EXIT_RUNTIME

    def _unresolved(self, *kinds: type[InputConfig]) -> dict[str, int]:
        inputs = self.config.inputs
        return {c.id: self.tracker.unresolved(c.id) for c in inputs if isinstance(c, kinds)}

    @property
    def undelivered_stdin(self) -> int:
        """Entries of inputs that cannot re-read (stdin, socket, syslog) not yet accepted."""
        kinds = (StdinInputConfig, SocketInputConfig, SyslogInputConfig)
        return sum(self._unresolved(*kinds).values())
