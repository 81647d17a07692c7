"""journald record ids against real journal files and the real journalctl: each entry's
``__CURSOR`` (docs/record-ids.md), the same after a restart from a committed cursor."""

from __future__ import annotations

from pathlib import Path

import pytest

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.inputs.journald.input import JournaldInput
from logflux_agent.pipeline.checkpointer import Checkpointer
from tests.support.collector import Collector
from tests.support.journal import JournalWriter, journal_cursors
from tests.support.wait import async_wait_until
from tests.unit.inputs.test_journald import cfg, journal, running, write

__all__ = ["journal"]  # the fixture, imported for pytest
pytestmark = pytest.mark.timeout(60)


def documented(cursor: str) -> str:
    return cursor  # docs/record-ids.md: the cursor as journalctl prints it


async def test_ids_are_the_cursors_and_survive_a_restart(
    journal: JournalWriter, tmp_path: Path
) -> None:
    journal.messages(*(f"m{i}" for i in range(6)))
    cursors = journal_cursors(journal.path)
    c = cfg(journal, record_ids=True)
    store = CheckpointStore(tmp_path / "state")
    store.load()
    checkpointer = Checkpointer(store)
    got = Collector()
    async with running(JournaldInput(c, checkpointer), got):
        await async_wait_until(lambda: len(got.records) == 6, 20, message="6 entries")
    assert [r.rid for r in got.records] == [documented(x) for x in cursors]
    assert len({r.rid for r in got.records}) == 6
    first = {r.message: r.rid for r in got.records}
    token = next(r.ack for r in got.records if r.ack is not None)
    checkpointer.commit(token.stream, cursors[2])
    assert store.flush()

    reloaded = CheckpointStore(tmp_path / "state")
    reloaded.load()
    again = Collector()
    async with running(JournaldInput(c, Checkpointer(reloaded)), again):
        await async_wait_until(lambda: len(again.records) >= 3, 20, message="resumed entries")
        await write(journal, "m6")
        await async_wait_until(lambda: len(again.records) >= 4, 20, message="new entry")
    assert again.messages == ["m3", "m4", "m5", "m6"]
    assert [r.rid for r in again.records[:3]] == [first["m3"], first["m4"], first["m5"]]
    assert again.records[3].rid == documented(journal_cursors(journal.path)[-1])
    assert again.records[3].rid not in first.values()


async def test_record_ids_off_by_default_leaves_the_entries_without_one(
    journal: JournalWriter, tmp_path: Path
) -> None:
    journal.messages("a", "b")
    store = CheckpointStore(tmp_path / "state")
    store.load()
    got = Collector()
    async with running(JournaldInput(cfg(journal), Checkpointer(store)), got):
        await async_wait_until(lambda: len(got.records) == 2, 20, message="2 entries")
    assert [r.rid for r in got.records] == [None, None]
