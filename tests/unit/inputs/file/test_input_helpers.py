"""The file input test helpers (tests/support/fileinput.py) checked themselves."""

from __future__ import annotations

from pathlib import Path

from logflux_agent.observe import metrics
from tests.support.fileinput import (
    counter,
    gauge,
    make_config,
    make_store,
    open_fds_under,
    running,
    write_lines,
)


async def test_collector_commits_tokens_and_filters_by_source(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    write_lines(log, ["x", "y"])
    store = make_store(tmp_path)
    config = make_config(tmp_path)
    async with running(config, store) as (_inp, got):
        await got.wait_count(2)
        assert got.messages(log) == ["x", "y"]
        assert got.messages(tmp_path / "other.log") == []
    entries = [v for k, v in store.items("file:") if "offset" in v]
    assert [e["offset"] for e in entries] == [4]


async def test_running_closes_every_descriptor_on_cancel(tmp_path: Path) -> None:
    for i in range(5):
        write_lines(tmp_path / f"{i}.log", [f"line {i}"])
    store = make_store(tmp_path)
    async with running(make_config(tmp_path), store) as (inp, got):
        await got.wait_count(5)
        assert len(open_fds_under(tmp_path)) >= 5
        assert counter(metrics.FILES_OPEN, input=inp.name) == 5
    assert open_fds_under(tmp_path) == []
    assert gauge(metrics.FILES_OPEN, input=inp.name) == 0
