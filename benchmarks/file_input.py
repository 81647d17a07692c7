"""Micro-benchmark of the file input alone: 1M lines read with a no-op emit.

Run: .venv/bin/python benchmarks/file_input.py   (prints lines/s and CPU ns per line)
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time

import structlog

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.config.model import FileInputConfig
from logflux_agent.inputs.file import FileInput
from logflux_agent.pipeline.checkpointer import Checkpointer
from logflux_agent.record import Record

N = 1_000_000
LINE = (
    "2026-11-28T10:00:00.123Z INFO  [worker-3] request handled path=/api/v1/items "
    "status=200 dur=12ms user=abcdef id="
)


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    workdir = tempfile.mkdtemp()
    path = os.path.join(workdir, "big.log")
    with open(path, "w") as fh:
        fh.write("".join(f"{LINE}{i:08d}\n" for i in range(N)))
    store = CheckpointStore(os.path.join(workdir, "state"))
    store.load()
    config = FileInputConfig(id="bench", paths=(path,), start_at="beginning")
    inp = FileInput(config, Checkpointer(store))
    seen = 0
    done = asyncio.Event()

    async def emit(records: list[Record]) -> None:
        nonlocal seen
        seen += len(records)
        if seen >= N:
            done.set()

    t0, c0 = time.perf_counter(), time.process_time()
    task = asyncio.create_task(inp.run(emit))
    await done.wait()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    print(f"file input: {N / wall:,.0f} lines/s, {cpu / N * 1e9:.0f} ns CPU/line")


if __name__ == "__main__":
    asyncio.run(main())
