"""A real file (or stdin) input with line-keeping processors keeps emitting packed reads, and
the stage hands the queue a packed, redacted read with the token of its last line; a chain that
may drop lines (a filter) or parse them gets the packed read too and hands the queue records."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logflux_agent.config.privacy import ExcludeProcessor, RedactProcessor
from logflux_agent.config.processors import ProcessorConfig, SetProcessor
from logflux_agent.packed import Lines
from logflux_agent.processing.chain import build_chain
from logflux_agent.processing.stage import ProcessingEmit
from logflux_agent.record import Record
from tests.support.collector import Collector
from tests.support.fileinput import make_config, make_store, running, write_lines

LINES = [f"GET /a?n={i} from 10.0.{i % 250}.{i % 7} mail u{i}@example.org" for i in range(3000)]


@dataclass
class Staged(Collector):
    """The input's emit: what the input emitted (its types), through a processing stage, then
    collected like any input test's output (``records``, committed tokens)."""

    processors: tuple[ProcessorConfig, ...] = ()
    emitted: list[type] = field(default_factory=list)
    queued: list[Any] = field(default_factory=list)
    _stage: ProcessingEmit | None = None

    async def __call__(self, records: Any) -> None:
        if self._stage is None:
            chain = build_chain("t", self.processors)
            assert chain is not None
            self._stage = ProcessingEmit(chain, self._queue)
        self.emitted.append(type(records))
        await self._stage(records)

    async def _queue(self, records: Any) -> None:
        self.queued.append(records)
        await super().__call__(records)


async def test_a_redacting_file_input_stays_packed_to_the_queue(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, LINES)
    got = Staged(commit=True, processors=(RedactProcessor(), SetProcessor(fields={"team": "a"})))
    config = make_config(
        tmp_path,
        read_chunk_bytes=16384,
        labels={"owner": "ops@example.org"},
        processors=got.processors,
    )
    store = make_store(tmp_path)
    async with running(config, store, collector=got):
        await got.wait_count(len(LINES))
    assert set(got.emitted) == {Lines} and {type(q) for q in got.queued} == {Lines}
    assert len(got.queued) > 3
    expected = [
        f"GET /a?n={i} from [REDACTED:ipv4] mail [REDACTED:email]" for i in range(len(LINES))
    ]
    assert [r.message for r in got.records] == expected
    assert {r.attributes["owner"] for r in got.records} == {"[REDACTED:email]"}
    assert {r.attributes["team"] for r in got.records} == {"a"}
    for q in got.queued:
        acks = [r.ack for r in q]
        assert acks[-1] is not None and not any(acks[:-1])
    [(_, committed)] = [(k, v["offset"]) for k, v in store.items("file:") if "offset" in v]
    assert committed == log.stat().st_size


async def test_a_chain_with_a_filter_gets_the_packed_read_and_queues_records(
    tmp_path: Path,
) -> None:
    write_lines(tmp_path / "app.log", ["keep 10.0.0.1", "drop me", "keep too"])
    got = Staged(commit=True, processors=(RedactProcessor(), ExcludeProcessor(patterns=("^drop",))))
    config = make_config(tmp_path, processors=got.processors)
    async with running(config, make_store(tmp_path), collector=got):
        await got.wait_count(2)
    assert set(got.emitted) == {Lines} and {type(q) for q in got.queued} == {list}
    assert [r.message for r in got.records] == ["keep [REDACTED:ipv4]", "keep too"]
    assert all(type(r) is Record for r in got.records)
    assert got.records[-1].ack is not None  # the read's token, on the last kept line


async def test_a_redacting_stdin_input_stays_packed_to_the_queue() -> None:
    from logflux_agent.config.model import StdinInputConfig
    from logflux_agent.inputs.stdin import StdinInput
    from tests.unit.inputs.test_stdin import PipeWriter, store_for_tests

    processors = (RedactProcessor(),)
    r, w = os.pipe()
    with os.fdopen(r, "rb") as stream:
        config = StdinInputConfig(id="stdin-packed", processors=processors)
        inp = StdinInput(config, store_for_tests(), stream=stream)
        writer = PipeWriter(w, "".join(f"{t}\n" for t in LINES).encode())
        got = Staged(processors=processors)
        writer.start()
        async with asyncio.timeout(30):
            await inp.run(got)
        writer.join()
    assert set(got.emitted) == {Lines} and {type(q) for q in got.queued} == {Lines}
    assert [r.message for r in got.records] == [
        f"GET /a?n={i} from [REDACTED:ipv4] mail [REDACTED:email]" for i in range(len(LINES))
    ]
    assert [r.ack.position for r in got.records if r.ack is not None][-1] == len(LINES)
