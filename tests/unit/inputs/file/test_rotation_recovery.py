"""Rotation recovery (inputs/file/rotation.py): siblings, parked copies, moved identities."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from structlog.testing import capture_logs

from logflux_agent.inputs.file.rotation import MAX_SIBLINGS, siblings
from logflux_agent.record import Record
from tests.support.collector import Collector
from tests.support.fileinput import (
    make_config,
    make_store,
    running,
    started,
    write_lines,
)
from tests.support.wait import async_wait_until


def test_siblings_are_same_directory_same_prefix_uncompressed_and_bounded(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    for name in ["app.log.1", "app.log-2026", "app.log.2.gz", "other.log", "xapp.log"]:
        (tmp_path / name).touch()
    (tmp_path / "app.log.d").mkdir()
    assert sorted(os.path.basename(p) for p, _ in siblings(str(log))) == [
        "app.log-2026",
        "app.log.1",
    ]
    for n in range(MAX_SIBLINGS + 5):
        path = tmp_path / f"app.log.{n + 10}"
        path.touch()
        os.utime(path, ns=(n * 10**9, n * 10**9))
    found = siblings(str(log))
    assert len(found) == MAX_SIBLINGS
    times = [st.st_mtime_ns for _, st in found]
    assert times == sorted(times)  # oldest first, the most recently modified kept


async def test_a_copy_of_a_followed_file_is_parked_then_continues_where_reading_stopped(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    first = [f"first generation line {i:04d}" for i in range(200)]
    write_lines(log, first)
    config = make_config(tmp_path, "app.log*", rescan_interval=0.1)
    async with running(config, make_store(tmp_path)) as (inp, got):
        await got.wait_count(200)
        # The copy appears while the original is still whole: it must not be read from 0.
        shutil.copyfile(log, tmp_path / "app.log.1")
        more = [f"more of the first generation {i:04d}" for i in range(50)]
        write_lines(log, more)
        await got.wait_count(250)
        await async_wait_until(
            lambda: len(inp.snapshot()["files"]) == 2, 10, message="the copy to be seen"
        )
        with open(log, "r+") as fh:
            fh.truncate(0)
        second = [f"second generation {i:04d}" for i in range(30)]
        write_lines(log, second)
        await got.wait_count(280)
        await started(inp)
    assert got.messages() == first + more + second


async def test_a_parked_copy_holding_only_what_was_read_is_recorded_at_its_end(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    first = [f"first generation line {i:04d}" for i in range(200)]
    write_lines(log, first)
    store = make_store(tmp_path)
    config = make_config(tmp_path, "app.log*", rescan_interval=0.1)
    copy = tmp_path / "app.log.1"
    async with running(config, store) as (inp, got):
        await got.wait_count(200)
        shutil.copyfile(log, copy)
        await async_wait_until(
            lambda: len(inp.snapshot()["files"]) == 2, 10, message="the copy to be seen"
        )
        with open(log, "r+") as fh:
            fh.truncate(0)
        write_lines(log, ["second generation"])
        await got.wait_count(201)
        st = copy.stat()
        key = f"file:{config.id}:{st.st_dev}:{st.st_ino}"
        await async_wait_until(
            lambda: (store.get(key) or {}).get("offset") == st.st_size,
            10,
            message="the copy to be recorded at its end",
        )
    assert got.messages() == [*first, "second generation"]


class GatedCollector(Collector):
    """Blocks in emit while ``gate`` is clear: the pipeline is full (an ingestor outage)."""

    def __init__(self) -> None:
        super().__init__(commit=True)
        self.gate = asyncio.Event()

    async def __call__(self, records: list[Record]) -> None:
        await super().__call__(records)
        await self.gate.wait()


async def test_two_truncations_while_the_input_waits_in_emit_are_both_noticed(
    tmp_path: Path,
) -> None:
    # Before: the input looked at a file only on its next turn, so two truncations while it
    # waited for the pipeline passed as one. Sizes are now noted on every change event.
    log = tmp_path / "app.log"
    write_lines(log, [f"first generation line {i:04d}" for i in range(200)])
    config = make_config(tmp_path, "app.log")
    got = GatedCollector()
    with capture_logs() as logs:
        async with running(config, make_store(tmp_path), collector=got) as (inp, _):
            await got.wait_count(1)  # the first list went out; the input now waits in emit
            tailer = inp._by_path[str(log)]
            # Each generation is shorter than the last size seen: the drop is visible even
            # when the truncation and the next write arrive as one change.
            for gen, lines in ((2, 5), (3, 3)):
                with open(log, "r+") as fh:
                    fh.truncate(0)
                write_lines(log, [f"generation {gen} line {i}" for i in range(lines)])
                size = log.stat().st_size
                await async_wait_until(
                    lambda s=size: tailer.last_size == s, 10, message="the change to be seen"
                )
            assert tailer.shrinks == 2
            got.gate.set()
            await async_wait_until(
                lambda: "generation 3 line 2" in got.messages(), 10, message="the last line"
            )
    events = [e for e in logs if e["event"] == "file.truncated_repeatedly"]
    assert events and events[0]["truncations"] == 2
