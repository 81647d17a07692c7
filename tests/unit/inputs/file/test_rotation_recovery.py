"""Rotation recovery (inputs/file/rotation.py): siblings, parked copies, moved identities."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

from structlog.testing import capture_logs

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.config.model import FileInputConfig
from logflux_agent.inputs.file.rotation import MAX_SIBLINGS, siblings
from logflux_agent.observe.metrics import INPUT_ERRORS
from logflux_agent.record import Record
from tests.support.collector import Collector
from tests.support.fileinput import (
    counter,
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


# ---- rename rotations while the input is down, after a crash (no commit survives the run) ----


def _rotate(log: Path, to: str, mtime: int) -> None:
    """Rename ``log`` away; its mtime is set explicitly so "newer" never depends on the
    filesystem's timestamp granularity (files written within one tick share an mtime)."""
    os.utime(log, ns=(mtime, mtime))
    log.rename(log.with_name(to))


async def _crashed_run(config: FileInputConfig, store: CheckpointStore, n: int) -> None:
    """A run that reads ``n`` lines and dies before any of them is committed."""
    async with running(config, store, collector=Collector(commit=False)) as (_, got):
        await got.wait_count(n)


async def test_a_recovered_generation_rotated_again_while_down_is_still_finished(
    tmp_path: Path,
) -> None:
    # Before: a recovered file's checkpoint named its rotated name (app.log.1); when the next
    # rotation shifted it to app.log.2, no sibling search looked for it, and the generation
    # read in the crashed run after it (never committed) was lost too: 170 of 230 lines here.
    log = tmp_path / "app.log"
    gen1 = [f"gen1 line {i:03d}" for i in range(100)]
    gen2 = [f"gen2 line {i:03d}" for i in range(100)]
    gen3 = [f"gen3 line {i:03d}" for i in range(30)]
    store = make_store(tmp_path)
    config = make_config(tmp_path, "app.log")
    write_lines(log, gen1[:30])
    async with running(config, store) as (_, got):
        await got.wait_count(30)  # committed: the checkpoint of gen1 is at line 30
    write_lines(log, gen1[30:])
    _rotate(log, "app.log.1", 10**18)
    write_lines(log, gen2)
    await _crashed_run(config, store, 70 + 100)  # recovers gen1, reads gen2: nothing commits
    os.utime(log, ns=(2 * 10**18, 2 * 10**18))
    (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
    log.rename(tmp_path / "app.log.1")
    write_lines(log, gen3)
    async with running(config, store) as (_, got):
        await got.wait_count(70 + 100 + 30)
    assert got.messages() == gen1[30:] + gen2 + gen3
    assert {r.source for r in got.records} == {str(log)}


async def test_a_file_never_committed_and_rotated_twice_while_down_is_read(
    tmp_path: Path,
) -> None:
    # Before: a file read for less than a checkpoint interval had no checkpoint, so after two
    # rotations while the agent was down nothing named it: it and the generation after it
    # were never read (all 80 lines of gen1 and gen2 here).
    log = tmp_path / "app.log"
    gen1 = [f"gen1 line {i:03d}" for i in range(50)]
    gen2 = [f"gen2 line {i:03d}" for i in range(30)]
    gen3 = [f"gen3 line {i:03d}" for i in range(20)]
    store = make_store(tmp_path)
    config = make_config(tmp_path, "app.log")
    write_lines(log, gen1)
    await _crashed_run(config, store, 50)
    st = log.stat()
    # Known from its first open, before any commit: a crash cannot leave it unnamed.
    assert store.get(f"file:{config.id}:{st.st_dev}:{st.st_ino}") is not None
    _rotate(log, "app.log.1", 10**18)
    write_lines(log, gen2)
    (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
    _rotate(log, "app.log.1", 2 * 10**18)
    write_lines(log, gen3)
    async with running(config, store) as (_, got):
        await got.wait_count(100)
    assert got.messages() == gen1 + gen2 + gen3


async def test_generations_left_when_every_checkpointed_one_was_deleted_are_read(
    tmp_path: Path,
) -> None:
    # Before: logrotate `rotate 2` ran four times while the agent was down, deleting the only
    # checkpointed generation (gen0); the siblings were looked at only relative to a
    # checkpointed file found again, so gen2 and gen3 (on disk as app.log.2, app.log.1) were
    # never read and nothing was logged: only gen4 (app.log) arrived.
    log = tmp_path / "app.log"
    gens = [[f"gen{g} line {i:03d}" for i in range(40)] for g in range(5)]
    store = make_store(tmp_path)
    config = make_config(tmp_path, "app.log")
    write_lines(log, gens[0])
    async with running(config, store) as (_, got):
        await got.wait_count(40)  # committed: the checkpoint knows gen0 at its end
    # Later than the checkpoint's saved_at, beyond any timestamp granularity.
    tick = time.time_ns() + 10 * 10**9
    for g in range(1, 5):  # `rotate 2`: the oldest kept is deleted, the rest shift
        (tmp_path / "app.log.2").unlink(missing_ok=True)
        if (tmp_path / "app.log.1").exists():
            (tmp_path / "app.log.1").rename(tmp_path / "app.log.2")
        _rotate(log, "app.log.1", tick + g * 10**9)
        write_lines(log, gens[g])
    gone_before = counter(INPUT_ERRORS, input=config.id, reason="rotated_away")
    with capture_logs() as logs:
        async with running(config, store) as (_, got):
            await got.wait_count(120)
    assert got.messages() == gens[2] + gens[3] + gens[4]
    assert {r.source for r in got.records} == {str(log)}
    events = {e["event"]: e for e in logs}
    assert events["file.rotated_unseen_read"]["files"] == [
        str(tmp_path / "app.log.2"),
        str(tmp_path / "app.log.1"),
    ]
    assert events["file.checkpointed_gone"]["log_level"] == "warning"
    assert counter(INPUT_ERRORS, input=config.id, reason="rotated_away") == gone_before + 1
    # Now known (finished from their checkpoints): a further restart reads nothing again.
    async with running(config, store) as (inp, got):
        await started(inp)
    assert got.messages() == []


async def test_a_sibling_older_than_the_checkpoint_is_not_read_when_the_checkpointed_is_gone(
    tmp_path: Path,
) -> None:
    # A rotated file last written before the checkpoint (read and forgotten earlier) is not
    # a generation the agent missed: it is never read again.
    log = tmp_path / "app.log"
    old = [f"old line {i:03d}" for i in range(20)]
    gen0 = [f"gen0 line {i:03d}" for i in range(20)]
    new = [f"new line {i:03d}" for i in range(20)]
    write_lines(tmp_path / "app.log.1", old)
    os.utime(tmp_path / "app.log.1", ns=(10**18, 10**18))
    store = make_store(tmp_path)
    config = make_config(tmp_path, "app.log")
    write_lines(log, gen0)
    async with running(config, store) as (_, got):
        await got.wait_count(20)
    log.unlink()
    write_lines(log, new)
    async with running(config, store) as (inp, got):
        await got.wait_count(20)
        await started(inp)
    assert got.messages() == new
