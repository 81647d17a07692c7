"""Helpers for the file input tests: configs and stores, a running input, fd-leak checks.

Their own tests are in tests/unit/inputs/file/test_input_helpers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import FileInputConfig
from logflux_agent.inputs.file import FileInput
from logflux_agent.pipeline.checkpointer import Checkpointer
from tests.support.collector import Collector
from tests.support.wait import async_wait_until

_ids = iter(range(1_000_000))


def unique_id(prefix: str = "t") -> str:
    """A fresh input id, so Prometheus counters of one test never leak into another."""
    return f"{prefix}{next(_ids)}-{os.getpid()}"


def make_config(tmp_path: Path, pattern: str = "*.log", **overrides: Any) -> FileInputConfig:
    values: dict[str, Any] = {
        "id": unique_id(),
        "paths": (str(tmp_path / pattern),),
        "start_at": "beginning",
        "rescan_interval": 3600.0,
    }
    values.update(overrides)
    return FileInputConfig(**values)


def make_store(tmp_path: Path) -> CheckpointStore:
    store = CheckpointStore(tmp_path / "state")
    store.load()
    return store


_checkpointers: weakref.WeakKeyDictionary[CheckpointStore, Checkpointer] = (
    weakref.WeakKeyDictionary()
)


def checkpointer_for(store: CheckpointStore) -> Checkpointer:
    """The one checkpointer (the store's only writer) of ``store``, as in the agent."""
    found = _checkpointers.get(store)
    if found is None:
        found = _checkpointers[store] = Checkpointer(store)
    return found


def open_fds_under(directory: Path) -> list[str]:
    """Paths under ``directory`` this process currently has open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(directory)):
                found.append(target)
    return found


@contextlib.asynccontextmanager
async def running(
    config: FileInputConfig,
    store: CheckpointStore,
    *,
    collector: Collector | None = None,
    clock: Clock = SYSTEM_CLOCK,
    watch: bool = True,
) -> AsyncIterator[tuple[FileInput, Collector]]:
    """Run a FileInput in a task; on exit cancel it and check it closed every descriptor."""
    checkpointer = checkpointer_for(store)
    checkpointer.detach(f"file:{config.id}:")  # a new input declares its streams anew
    inp = FileInput(config, checkpointer, clock=clock)
    inp.watch_events = watch
    collector = collector if collector is not None else Collector(commit=True)
    collector.checkpointer = checkpointer
    task = asyncio.create_task(inp.run(collector), name="file-input-under-test")
    try:
        yield inp, collector
    finally:
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
    if not isinstance(results[0], asyncio.CancelledError):
        raise AssertionError(f"the input ended with {results[0]!r}")
    assert inp.snapshot()["open"] == 0


async def started(inp: FileInput, timeout: float = 10.0) -> None:
    """Wait until the input did its initial scan (and set up its watch)."""
    await async_wait_until(lambda: inp.snapshot()["scanned"], timeout, message="initial scan")


def counter(metric: Any, **labels: str) -> float:
    return float(metric.labels(**labels)._value.get())


def gauge(metric: Any, **labels: str) -> float:
    return float(metric.labels(**labels)._value.get())


def write_lines(path: Path, lines: list[str], mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as fh:
        fh.write("".join(f"{line}\n" for line in lines))


def append_bytes(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def truncate(path: Path) -> None:
    os.truncate(path, 0)
