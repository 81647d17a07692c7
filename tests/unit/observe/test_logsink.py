"""The log sink over real pipes: writes in order, never blocks its caller, counts what it drops."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import time
from collections.abc import Iterator

import pytest

from logflux_agent.observe import metrics
from logflux_agent.observe.logsink import FdSink, FileSink, TolerantStream


def dropped(reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "logflux_agent_log_lines_dropped_total", {"reason": reason}
    )
    return value or 0.0


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    fds = {read_end, write_end}
    yield read_end, write_end
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def fill(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(fd, b"x" * 4096)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags)


def test_lines_reach_a_reading_pipe_in_order(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    sink = FdSink(write_end)
    for i in range(1000):
        sink.write(f"line-{i}")
    assert sink.flush(10)
    got = b""
    while got.count(b"\n") < 1000:
        got += os.read(read_end, 1 << 16)
    assert got.decode().splitlines() == [f"line-{i}" for i in range(1000)]
    sink.stop()


def test_a_closed_pipe_drops_and_counts_and_the_caller_never_sees_an_error(
    pipe: tuple[int, int],
) -> None:
    read_end, write_end = pipe
    os.close(read_end)
    before = dropped("closed")
    sink = FdSink(write_end)
    sink.write("first")  # its write meets EPIPE
    assert sink.flush(10)
    assert sink.closed
    for i in range(100):
        sink.write(f"later-{i}")
    assert dropped("closed") - before == 101


def test_a_stalled_reader_never_blocks_the_caller_and_memory_stays_bounded(
    pipe: tuple[int, int],
) -> None:
    _, write_end = pipe
    fill(write_end)  # the reader has stalled: the pipe is full before the sink writes
    before = dropped("full")
    sink = FdSink(write_end, max_pending_bytes=64 * 1024)
    line = "x" * 999  # 1000 bytes with the newline
    started = time.monotonic()
    for _ in range(5000):  # 5 MB against a 64 KiB pipe and a 64 KiB buffer
        sink.write(line)
    elapsed = time.monotonic() - started
    # A blocked caller would never return at all; the bound only absorbs a loaded machine.
    assert elapsed < 10.0, f"5000 writes took {elapsed:.2f}s: the caller blocked"
    # Accepted at most: the chunk the blocked writer holds (≤ 64 KiB + a line) and the
    # buffer (≤ 64 KiB): about 130 of the 5000 lines; the rest is dropped and counted.
    lost = dropped("full") - before
    assert lost >= 5000 - 2 * 66, f"only {lost} of 5000 lines dropped"
    assert not sink.flush(0.2)  # nothing drains while nobody reads


def test_flush_waits_for_the_writer_then_returns_true(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    sink = FdSink(write_end)
    sink.write("a")
    assert sink.flush(5)
    assert os.read(read_end, 10) == b"a\n"


def test_a_file_sink_over_a_closed_stream_drops_and_counts() -> None:
    stream = io.StringIO()
    sink = FileSink(stream)
    sink.write("kept")
    assert stream.getvalue() == "kept\n"
    stream.close()
    before = dropped("closed")
    sink.write("lost")
    sink.write("lost too")
    assert sink.dropped == 2
    # The metric is the whole process's: other sinks (earlier tests' closed pipes) may add too.
    assert dropped("closed") - before >= 2


def test_a_tolerant_stream_over_a_closed_pipe_swallows_the_error(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(read_end)
    raw = os.fdopen(write_end, "w", closefd=False)
    out = TolerantStream(raw)
    print("one", file=out)
    print("two", file=out)
    assert out.broken
    raw.close()  # its buffer now points at /dev/null: no error at close
