"""stdin record ids over a real OS pipe: ``s:<input>:<session>:<n>`` (docs/record-ids.md)."""

from __future__ import annotations

import re

from logflux_agent.config.model import MultilineConfig
from tests.support.collector import Collector
from tests.unit.inputs.test_stdin import pipe_input, run_to_eof


async def run(data: bytes, **kw: object) -> tuple[str, Collector]:
    inp, writer, stream = pipe_input(data, **kw)
    got = Collector()
    writer.start()
    try:
        await run_to_eof(inp, got)
    finally:
        stream.close()
    writer.join(10)
    return inp.name, got


async def test_every_entry_counts_up_within_one_random_session() -> None:
    n = 20_000
    name, got = await run(b"".join(b"line %d\n" % i for i in range(n)), record_ids=True)
    rids = [r.rid or "" for r in got.records]
    sessions = {rid.rsplit(":", 1)[0] for rid in rids}
    assert len(sessions) == 1
    (session,) = sessions
    assert re.fullmatch(rf"s:{re.escape(name)}:[0-9a-f]{{12}}", session)
    assert rids == [f"{session}:{i}" for i in range(1, n + 1)]
    # Each id's number is the entry's position on the ack stream.
    assert [r.ack.position for r in got.records if r.ack is not None][-1] == n


async def test_multiline_entries_are_counted_as_entries_and_sessions_differ_per_start() -> None:
    data = b"E one\n  at a\nE two\n  at b\n"
    multiline = MultilineConfig(start_pattern="^E")
    _, first = await run(data, id="same", record_ids=True, multiline=multiline)
    _, second = await run(data, id="same", record_ids=True, multiline=multiline)
    assert [r.message for r in first.records] == ["E one\n  at a", "E two\n  at b"]
    assert [(r.rid or "").rsplit(":", 1)[1] for r in first.records] == ["1", "2"]
    assert {r.rid for r in first.records}.isdisjoint(r.rid for r in second.records)


async def test_off_by_default() -> None:
    _, got = await run(b"a\nb\n")
    assert [r.rid for r in got.records] == [None, None]
