"""The supervisor in-process: drain timeout, second signal, input restart with backoff, reload.

Real parts throughout: the config is a YAML file read by the real loader, the input is the
real socket input on a Unix socket in the test's directory, the client is the real ingest
client talking HTTP over loopback to the in-process reference ingestor, and the signals are
real signals sent to this process. Only time is virtual where it matters (``GatedClock``:
short sleeps pass at once, long ones wait for ``release``), so nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.load import load_config
from logflux_agent.config.model import AgentConfig, InputConfig
from logflux_agent.input_runner import build_input
from logflux_agent.inputs.base import Emit, Input
from logflux_agent.observe import metrics
from logflux_agent.supervisor import EXIT_FORCED, Supervisor
from tests.support.scripted import API_KEY, GatedClock, ScriptedIngestor
from tests.support.wait import async_wait_until

SHUTDOWN_TIMEOUT = 7.0
# Long enough that the checkpoint flusher's sleep (1000 s) is gated, short enough that the
# drain (7 s), flush (0.05 s) and restart backoff (1, 2, 4 s) pass virtually at once.
GATE_AT = 100.0


def write_config(tmp_path: Path, ing: ScriptedIngestor, inputs: list[dict[str, Any]]) -> Path:
    path = tmp_path / "agent.yaml"
    doc = {
        "api_key": API_KEY,
        "endpoint": ing.url,
        "state_dir": str(tmp_path / "state"),
        "inputs": inputs,
        "sender": {
            "flush_interval": 0.05,
            "retry_initial_delay": 0.01,
            "retry_max_delay": 0.05,
            "shutdown_timeout": SHUTDOWN_TIMEOUT,
            "encode_workers": 0,
        },
        "metrics": {"enabled": False},
        "checkpoint_interval": 1000,
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def socket_input(tmp_path: Path, input_id: str) -> dict[str, Any]:
    return {"type": "socket", "id": input_id, "unix": str(tmp_path / f"{input_id}.sock")}


def entry(text: str) -> bytes:
    return b'{"message":"%s","level":6,"timestamp":1796000000}\n' % text.encode()


async def send_lines(path: Path, texts: list[str]) -> None:
    """Connect to the input's socket (once it listens) and write one entry per text."""
    await async_wait_until(path.exists, 30, message=f"{path.name} listening")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(path))
        client.sendall(b"".join(entry(t) for t in texts))


def messages(ing: ScriptedIngestor) -> list[str]:
    return [str(e["payload"]["message"]) for e in ing.entries()]


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("event") == name]


class Run:
    """The supervisor's ``run`` as a task, and its exit code once it ends."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.task = asyncio.create_task(sup.run(), name="test-supervisor")

    async def exit_code(self, timeout: float = 30.0) -> int:
        return await asyncio.wait_for(self.task, timeout)


@pytest.fixture
async def ing() -> AsyncIterator[ScriptedIngestor]:
    async with ScriptedIngestor() as server:
        yield server


def held_request() -> tuple[asyncio.Event, asyncio.Event, Any]:
    """A script step that holds the ingest request it is run for until ``release`` is set."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        arrived.set()
        await release.wait()

    return arrived, release, hold


def supervisor(config_path: Path, clock: Clock, **kwargs: Any) -> Supervisor:
    config = load_config(str(config_path))
    return Supervisor(
        config, config_path=str(config_path), clock=clock, reload_loader=load_config, **kwargs
    )


async def test_drain_timeout_ends_the_drain_after_shutdown_timeout_and_keeps_the_entries_unsent(
    tmp_path: Path, ing: ScriptedIngestor
) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    arrived, release, hold = held_request()
    ing.script.append(hold)
    clock = GatedClock(gate_at=GATE_AT)
    path = write_config(tmp_path, ing, [socket_input(tmp_path, "app")])
    with capture_logs() as logs:
        run = Run(supervisor(path, clock))
        await send_lines(tmp_path / "app.sock", ["one", "two", "three"])
        await asyncio.wait_for(arrived.wait(), 30)  # the batch is in flight, held
        os.kill(os.getpid(), signal.SIGTERM)
        code = await run.exit_code()
    release.set()
    assert code == 0
    (timeout,) = events(logs, "agent.drain_timeout")
    assert timeout["timeout"] == SHUTDOWN_TIMEOUT and timeout["pending_batches"] == 1
    assert SHUTDOWN_TIMEOUT in clock.sleeps  # the drain waited, in virtual time, exactly that
    (unsent,) = events(logs, "input.undelivered")
    assert unsent["entries"] == {"app": 3}
    assert messages(ing) == []
    # The handlers the run installed are gone again.
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before


async def test_a_drain_that_completes_in_time_delivers_the_in_flight_batch_and_exits_0(
    tmp_path: Path, ing: ScriptedIngestor
) -> None:
    arrived, release, hold = held_request()
    ing.script.append(hold)
    # Here the drain's wait is gated: only the sender finishing can end it.
    clock = GatedClock(gate_at=SHUTDOWN_TIMEOUT)
    path = write_config(tmp_path, ing, [socket_input(tmp_path, "app")])
    with capture_logs() as logs:
        run = Run(supervisor(path, clock))
        await send_lines(tmp_path / "app.sock", ["one", "two"])
        await asyncio.wait_for(arrived.wait(), 30)
        os.kill(os.getpid(), signal.SIGTERM)
        await async_wait_until(lambda: clock.waiting >= 2, 30, message="the drain waiting")
        release.set()
        code = await run.exit_code()
    assert code == 0
    assert messages(ing) == ["one", "two"]
    assert events(logs, "agent.drain_timeout") == []
    assert events(logs, "agent.stopping")[0]["signal"] == "SIGTERM"


async def test_a_second_signal_during_the_drain_exits_130_at_once(
    tmp_path: Path, ing: ScriptedIngestor
) -> None:
    arrived, release, hold = held_request()
    ing.script.append(hold)
    clock = GatedClock(gate_at=SHUTDOWN_TIMEOUT)  # the drain waits until released
    exits: list[int] = []
    path = write_config(tmp_path, ing, [socket_input(tmp_path, "app")])
    with capture_logs() as logs:
        run = Run(supervisor(path, clock, hard_exit=exits.append))
        await send_lines(tmp_path / "app.sock", ["one"])
        await asyncio.wait_for(arrived.wait(), 30)
        os.kill(os.getpid(), signal.SIGTERM)
        await async_wait_until(lambda: events(logs, "agent.stopping"), 30, message="stopping")
        assert exits == []  # the first signal only starts the drain
        os.kill(os.getpid(), signal.SIGINT)
        await async_wait_until(lambda: exits, 30, message="the forced exit")
        assert exits == [EXIT_FORCED]
        assert events(logs, "agent.forced_exit")[0]["signal"] == "SIGINT"
        assert not run.task.done()  # it exited from the handler, not at the end of the drain
        release.set()
        clock.release()
        await run.exit_code()


class Crashing:
    """A real input whose first ``crashes`` runs fail before reading anything."""

    def __init__(self, inner: Input, counter: list[int], crashes: int) -> None:
        self._inner = inner
        self._counter = counter
        self._crashes = crashes

    async def run(self, emit: Emit) -> None:
        self._counter[0] += 1
        if self._counter[0] <= self._crashes:
            raise OSError(f"simulated crash {self._counter[0]}")
        await self._inner.run(emit)


async def test_a_crashing_input_is_restarted_with_doubling_backoff_and_then_delivers(
    tmp_path: Path, ing: ScriptedIngestor
) -> None:
    runs = [0]

    def factory(cfg: InputConfig, store: CheckpointStore, clock: Clock) -> Input:
        return Crashing(build_input(cfg, store, clock), runs, crashes=3)

    restarts = metrics.INPUT_RESTARTS.labels(input="flaky")
    restarts_before = restarts._value.get()
    clock = GatedClock(gate_at=GATE_AT)
    path = write_config(tmp_path, ing, [socket_input(tmp_path, "flaky")])
    with capture_logs() as logs:
        run = Run(supervisor(path, clock, input_factory=factory))
        await send_lines(tmp_path / "flaky.sock", ["after the crashes"])
        await async_wait_until(lambda: messages(ing), 30, message="the entry delivered")
        crashed = events(logs, "input.crashed")
        assert [c["restart_in"] for c in crashed] == [1.0, 2.0, 4.0]
        assert crashed[0]["error"] == "simulated crash 1"
        # The backoff is waited on the clock, in order (other sleeps are shorter than 1 s).
        assert [s for s in clock.sleeps if s >= 1.0 and s < GATE_AT] == [1.0, 2.0, 4.0]
        view = run.sup.inputs["flaky"].view
        assert view.restarts == 3 and view.last_error == "crashed: simulated crash 3"
        assert restarts._value.get() - restarts_before == 3
        os.kill(os.getpid(), signal.SIGTERM)
        assert await run.exit_code() == 0
    assert messages(ing) == ["after the crashes"]


async def test_reload_applies_a_valid_config_and_rejects_an_invalid_one_keeping_the_old(
    tmp_path: Path, ing: ScriptedIngestor
) -> None:
    path = write_config(tmp_path, ing, [socket_input(tmp_path, "a")])
    with capture_logs() as logs:
        run = Run(supervisor(path, SYSTEM_CLOCK))
        await send_lines(tmp_path / "a.sock", ["a-1"])
        await async_wait_until(lambda: messages(ing) == ["a-1"], 30, message="a-1")

        # Valid: input b added, a unchanged (kept running), a new queue size only reported.
        write_config(tmp_path, ing, [socket_input(tmp_path, "a"), socket_input(tmp_path, "b")])
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["queue"] = {"max_entries": 1234}
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        await async_wait_until(lambda: events(logs, "reload.applied"), 30, message="applied")
        (applied,) = events(logs, "reload.applied")
        assert applied["added"] == ["b"] and applied["removed"] == []
        assert applied["restarted"] == [] and applied["restart_required_for"] == ["queue"]
        await send_lines(tmp_path / "b.sock", ["b-1"])
        await send_lines(tmp_path / "a.sock", ["a-2"])
        await async_wait_until(lambda: len(messages(ing)) == 3, 30, message="a-2 and b-1")

        # Rejected: an unknown key; nothing changes, both inputs keep shipping.
        path.write_text(path.read_text(encoding="utf-8") + "bogus_key: 1\n", encoding="utf-8")
        assert await run.sup.reload() is False
        (rejected,) = events(logs, "reload.rejected")
        assert any("bogus_key" in p for p in map(str, rejected["problems"]))
        assert sorted(run.sup.inputs) == ["a", "b"]
        assert [c.id for c in run.sup.config.inputs] == ["a", "b"]
        await send_lines(tmp_path / "b.sock", ["b-2"])
        await async_wait_until(lambda: len(messages(ing)) == 4, 30, message="b-2")
        os.kill(os.getpid(), signal.SIGTERM)
        assert await run.exit_code() == 0
    assert sorted(messages(ing)) == ["a-1", "a-2", "b-1", "b-2"]
    assert isinstance(run.sup.config, AgentConfig) and run.sup.config.queue.max_entries != 1234
