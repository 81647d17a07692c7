"""The stdin input over real OS pipes: backpressure to the writer, EOF, long lines, multiline,
closed or failing input, and the entry counting the supervisor uses at exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.config.model import MultilineConfig, StdinInputConfig
from logflux_agent.inputs import stdin as stdin_module
from logflux_agent.inputs.stdin import StdinInput
from logflux_agent.observe.metrics import REGISTRY
from logflux_agent.pipeline.checkpointer import Checkpointer
from tests.support.collector import Collector
from tests.support.wait import async_wait_until

pytestmark = pytest.mark.timeout(60)


class PipeWriter(threading.Thread):
    """Writes ``data`` into the write end of a real pipe in blocks, then closes it."""

    def __init__(self, fd: int, data: bytes, block: int = 65_536) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.data = data
        self.block = block
        self.written = 0
        self.tid: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        self.tid = threading.get_native_id()
        view = memoryview(self.data)
        try:
            while self.written < len(view):
                self.written += os.write(self.fd, view[self.written : self.written + self.block])
        except OSError as exc:
            self.error = exc
        finally:
            os.close(self.fd)

    def blocked_in_pipe_write(self) -> bool:
        if self.tid is None:
            return False
        try:
            with open(f"/proc/self/task/{self.tid}/wchan") as f:
                return "pipe_write" in f.read()
        except FileNotFoundError:
            return False


def pipe_input(
    data: bytes, store: CheckpointStore | None = None, **kw: Any
) -> tuple[StdinInput, PipeWriter, BinaryIO]:
    r, w = os.pipe()
    stream = os.fdopen(r, "rb")
    writer = PipeWriter(w, data)
    kw.setdefault("id", f"stdin-{uuid.uuid4().hex[:8]}")
    inp = StdinInput(StdinInputConfig(**kw), store or store_for_tests(), stream=stream)
    return inp, writer, stream


def store_for_tests() -> CheckpointStore:
    # Never loaded nor flushed: stdin has nothing to persist.
    return CheckpointStore("/nonexistent/never-created")


def spawn_producer(script: str) -> tuple[subprocess.Popen[bytes], BinaryIO]:
    producer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert producer.stdout is not None
    return producer, cast(BinaryIO, producer.stdout)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def run_to_eof(inp: StdinInput, emit: Collector, timeout: float = 30) -> None:
    await asyncio.wait_for(inp.run(emit), timeout)


async def test_200k_lines_backpressure_reaches_the_writer_and_nothing_is_lost() -> None:
    n = 200_000
    data = b"".join(b"line %06d some payload for the pipe\n" % i for i in range(n))
    inp, writer, stream = pipe_input(data)
    got = Collector()
    gate = got.gate = asyncio.Event()
    writer.start()
    task = asyncio.create_task(inp.run(got))
    try:
        await async_wait_until(lambda: got.waiting, 20, message="emit blocked")
        # The input stops reading while emit blocks: the pipe fills and the writer blocks.
        await async_wait_until(
            writer.blocked_in_pipe_write, 20, message="writer blocked in write(2)"
        )
        stalled_at = writer.written
        assert stalled_at < len(data)
        # Read-ahead is bounded: the chunk being emitted, at most one more chunk, one partial.
        assert inp.bytes_read <= 2 * stdin_module.READ_CHUNK_BYTES
        assert got.calls == 1
        assert writer.blocked_in_pipe_write() and writer.written == stalled_at

        # A slow consumer from now on: every emit waits for the test to let it through.
        got.gate = None
        gate.set()
        await asyncio.wait_for(task, 60)
    finally:
        task.cancel()
        stream.close()
    writer.join(10)
    assert writer.error is None and writer.written == len(data)
    assert len(got.records) == n
    assert got.records[0].message == "line 000000 some payload for the pipe"
    assert got.messages == [f"line {i:06d} some payload for the pipe" for i in range(n)]
    assert inp.emitted == n and inp.finished
    assert metric("logflux_agent_input_entries_total", input=inp.name) == n
    assert metric("logflux_agent_input_bytes_total", input=inp.name) == len(data)


async def test_eof_emits_the_last_partial_line_and_returns() -> None:
    inp, writer, stream = pipe_input(b"one\r\ntwo\nthree without newline")
    got = Collector()
    writer.start()
    await run_to_eof(inp, got)
    stream.close()
    assert got.messages == ["one", "two", "three without newline"]
    assert all(r.source == "stdin" and r.level == 7 for r in got.records)


async def test_empty_input_returns_at_once() -> None:
    inp, writer, stream = pipe_input(b"")
    got = Collector()
    writer.start()
    await run_to_eof(inp, got)
    stream.close()
    assert got.records == [] and inp.finished


async def test_labels_become_attributes_and_levels_can_be_detected() -> None:
    inp, writer, stream = pipe_input(
        b"ERROR disk full\nall good\nlevel=warn slow\n", labels={"job": "backup"}, detect_level=True
    )
    got = Collector()
    writer.start()
    await run_to_eof(inp, got)
    stream.close()
    assert [r.level for r in got.records] == [4, 7, 5]
    assert all(r.attributes == {"job": "backup"} for r in got.records)


async def test_ack_positions_count_entries_and_nothing_is_persisted() -> None:
    data = b"".join(b"entry %d\n" % i for i in range(1000))
    store = store_for_tests()
    inp, writer, stream = pipe_input(data, store)
    got = Collector()
    writer.start()
    await run_to_eof(inp, got)
    stream.close()
    tokens = [r.ack for r in got.records if r.ack is not None]
    assert tokens and got.records[-1].ack is not None
    assert got.records[-1].ack.position == 1000
    positions = [t.position for t in tokens]
    assert positions == sorted(positions)
    stream_ = tokens[0].stream
    assert stream_.key == f"stdin:{inp.name}"
    assert inp.undelivered == 1000
    checkpointer = Checkpointer(store)  # the ack path's end, as in the agent
    checkpointer.commit(stream_, tokens[0].position)
    assert inp.stream.committed == tokens[0].position
    checkpointer.commit(stream_, 1000)
    checkpointer.commit(stream_, 5)  # never goes back
    assert inp.stream.committed == 1000 and inp.undelivered == 0
    assert not store.dirty and store.items() == []


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("split", ["short", "aaaaaaaaaa", "aaaaaaaaaa", "aaaaa", "after"]),
        ("truncate", ["short", "aaaaaaaaaa", "after"]),
    ],
)
async def test_long_lines(mode: str, expected: list[str]) -> None:
    inp, writer, stream = pipe_input(
        b"short\n" + b"a" * 25 + b"\nafter\n", max_line_bytes=10, long_lines=mode
    )
    got = Collector()
    writer.start()
    await run_to_eof(inp, got)
    stream.close()
    assert got.messages == expected
    assert metric("logflux_agent_long_lines_total", input=inp.name, action=mode) == 1


async def test_invalid_utf8_is_replaced_and_counted() -> None:
    inp, writer, stream = pipe_input(b"ok\nbad \xff\xfe byte\n")
    got = Collector()
    writer.start()
    await run_to_eof(inp, got)
    stream.close()
    assert got.messages == ["ok", "bad \ufffd\ufffd byte"]
    assert metric("logflux_agent_invalid_utf8_total", input=inp.name) == 1


async def test_multiline_joins_stack_traces_and_flushes_the_last_at_eof() -> None:
    text = b"2026-01-01 first\n  at a\n  at b\n2026-01-01 second\n2026-01-01 third\n  at c"
    ml = MultilineConfig(start_pattern=r"^\d{4}-")
    inp, writer, stream = pipe_input(text, multiline=ml)
    got = Collector()
    writer.start()
    await run_to_eof(inp, got)
    stream.close()
    assert got.messages == [
        "2026-01-01 first\n  at a\n  at b",
        "2026-01-01 second",
        "2026-01-01 third\n  at c",
    ]


async def test_multiline_entry_is_flushed_after_its_timeout_while_input_stays_open() -> None:
    r, w = os.pipe()
    stream = os.fdopen(r, "rb")
    ml = MultilineConfig(start_pattern=r"^START", timeout=0.05)
    inp = StdinInput(
        StdinInputConfig(id=f"ml-{uuid.uuid4().hex[:6]}", multiline=ml),
        store_for_tests(),
        stream=stream,
    )
    got = Collector()
    task = asyncio.create_task(inp.run(got))
    try:
        os.write(w, b"START one\n  detail\n")
        # No further line arrives and the pipe stays open: only the timeout can complete it.
        await async_wait_until(
            lambda: got.messages == ["START one\n  detail"], 20, message="timed-out multiline entry"
        )
        assert not task.done()
        os.write(w, b"START two\n")
    finally:
        os.close(w)
    await asyncio.wait_for(task, 20)
    stream.close()
    assert got.messages == ["START one\n  detail", "START two"]


async def test_a_producer_killed_mid_line_still_delivers_what_it_wrote() -> None:
    script = (
        "import os, sys\n"
        "sys.stdout.write('first\\nsecond\\nhalf a li')\n"
        "sys.stdout.flush()\n"
        "os.kill(os.getpid(), 9)\n"
    )
    producer, out = spawn_producer(script)
    inp = StdinInput(
        StdinInputConfig(id=f"kill-{uuid.uuid4().hex[:6]}"), store_for_tests(), stream=out
    )
    got = Collector()
    await run_to_eof(inp, got)
    assert await asyncio.to_thread(producer.wait, 10) == -9
    out.close()
    assert got.messages == ["first", "second", "half a li"]


async def test_a_closed_stdin_is_reported_not_raised() -> None:
    r, w = os.pipe()
    os.close(w)
    stream = os.fdopen(r, "rb")
    stream.close()
    inp = StdinInput(
        StdinInputConfig(id=f"closed-{uuid.uuid4().hex[:6]}"), store_for_tests(), stream=stream
    )
    got = Collector()
    await run_to_eof(inp, got)
    assert got.records == [] and inp.finished
    assert metric("logflux_agent_input_errors_total", input=inp.name, reason="io") == 1


async def test_no_stdin_at_all_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    inp = StdinInput(StdinInputConfig(id=f"none-{uuid.uuid4().hex[:6]}"), store_for_tests())
    got = Collector()
    await run_to_eof(inp, got)
    assert got.records == [] and inp.finished
    assert metric("logflux_agent_input_errors_total", input=inp.name, reason="stdin_closed") == 1


async def test_a_regular_file_as_stdin(tmp_path: Path) -> None:
    path = tmp_path / "input.log"
    path.write_bytes(b"".join(b"file line %d\n" % i for i in range(5000)))
    with path.open("rb") as f:
        inp = StdinInput(
            StdinInputConfig(id=f"file-{uuid.uuid4().hex[:6]}"), store_for_tests(), stream=f
        )
        got = Collector()
        await run_to_eof(inp, got)
    assert got.messages == [f"file line {i}" for i in range(5000)]


async def test_cancelling_while_the_producer_is_silent_does_not_hang() -> None:
    r, w = os.pipe()
    stream = os.fdopen(r, "rb")
    inp = StdinInput(
        StdinInputConfig(id=f"cancel-{uuid.uuid4().hex[:6]}"), store_for_tests(), stream=stream
    )
    got = Collector()
    task = asyncio.create_task(inp.run(got))
    os.write(w, b"one\n")
    await async_wait_until(lambda: got.messages == ["one"], 20, message="first line")
    task.cancel()
    result = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(result[0], asyncio.CancelledError)
    os.close(w)  # lets the reader thread see EOF and end
    stream.close()
