"""inputs/file/watcher.py in the file input's task group: the watch ends with the input's run,
and an error of the run leaves it as itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from logflux_agent.inputs.file import FileInput
from logflux_agent.record import Record
from tests.support.fileinput import checkpointer_for, make_config, make_store, running, started
from tests.support.wait import async_wait_until


def watch_tasks(input_id: str) -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"input-{input_id}-watch"]


async def test_the_watch_task_lives_exactly_as_long_as_the_run(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    (tmp_path / "a.log").write_text("one\n")
    async with running(config, make_store(tmp_path)) as (inp, got):
        await started(inp)
        await got.wait_count(1, timeout=10)
        assert len(watch_tasks(config.id)) == 1
        assert inp.snapshot()["watching"] == [str(tmp_path)]
    await async_wait_until(lambda: not watch_tasks(config.id), 5, message="watch task ended")


async def test_an_emit_error_ends_the_run_as_itself_and_stops_the_watch(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    (tmp_path / "a.log").write_text("one\n")
    inp = FileInput(config, checkpointer_for(make_store(tmp_path)))

    async def broken(records: list[Record]) -> None:
        raise OSError("emit failed")

    with pytest.raises(OSError, match="emit failed"):
        await asyncio.wait_for(inp.run(broken), 10)
    assert watch_tasks(config.id) == [] and inp.snapshot()["open"] == 0
