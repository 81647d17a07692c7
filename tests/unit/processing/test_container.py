"""cri and docker: unwrapping, joining partial lines, the size cap, the timeout, and ack tokens."""

from __future__ import annotations

import asyncio
import json

import pytest

from logflux_agent.clock import FakeClock
from logflux_agent.config.model import FileInputConfig
from logflux_agent.config.processors import CriProcessor, DockerProcessor, JsonProcessor
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.container import parse_cri, parse_docker
from logflux_agent.processing.stage import ProcessingEmit, wrap
from logflux_agent.record import AckToken, Record, records_for
from tests.support.wait import async_wait_until

SOURCE = "/var/log/pods/ns_pod_uid/app/0.log"
T0 = "2026-12-01T06:00:00.123456789Z"
EPOCH0 = 1_796_104_800.123456789


class Stream:
    key = "s"

    def commit(self, position: int | str) -> None:
        del position


STREAM = Stream()


def chunk(lines: list[str], end: int, source: str = SOURCE) -> list[Record]:
    """What the file input emits for one read: the last record carries the end offset."""
    records = records_for(lines, 1.0, 7, source, {})
    records[-1] = records[-1].with_ack(AckToken(STREAM, end))
    return records


def cri_chain(**options: object) -> Chain:
    return Chain("pods", (CriProcessor(**options),))  # type: ignore[arg-type]


def tokens(records: list[Record]) -> list[int | str | None]:
    return [r.ack.position if r.ack else None for r in records]


def test_parse_cri_reads_the_runtime_fields() -> None:
    assert parse_cri(f"{T0} stdout F GET /health 200") == (
        "GET /health 200",
        pytest.approx(EPOCH0),
        "stdout",
        False,
    )
    assert parse_cri(f"{T0} stderr P ") == ("", pytest.approx(EPOCH0), "stderr", True)
    assert parse_cri(f"{T0} stdout F") == ("", pytest.approx(EPOCH0), "stdout", False)
    assert parse_cri("plain text line") == "not_cri"
    assert parse_cri(f"{T0} stdin F x") == "not_cri"
    assert parse_cri("2026-13-01T06:00:00Z stdout F x") == "bad_timestamp"


def test_complete_lines_are_unwrapped_with_the_runtime_time_and_the_stream() -> None:
    out = cri_chain().process(chunk([f"{T0} stdout F hello", f"{T0} stderr F oops"], 99), 0.0)
    assert [r.message for r in out] == ["hello", "oops"]
    assert [r.attributes["stream"] for r in out] == ["stdout", "stderr"]
    assert out[0].timestamp == pytest.approx(EPOCH0)
    assert tokens(out) == [None, 99]


def test_partials_join_across_chunks_and_the_joined_line_carries_the_held_token() -> None:
    chain = cri_chain()
    first = chain.process(chunk([f"{T0} stdout F a", f"{T0} stdout P long "], 50), 0.0)
    # The position after the P line must not travel before the line is complete.
    assert [r.message for r in first] == ["a"] and tokens(first) == [None]
    middle = chain.process(chunk([f"{T0} stdout P line "], 80), 1.0)
    assert middle == []
    last = chain.process(chunk([f"{T0} stdout F end", f"{T0} stdout F b"], 120), 2.0)
    assert [r.message for r in last] == ["long line end", "b"]
    assert tokens(last) == [80, 120]
    assert chain.deadline() is None


def test_the_f_lines_own_token_goes_on_the_joined_line() -> None:
    chain = cri_chain()
    chain.process(chunk([f"{T0} stdout P x"], 10), 0.0)
    out = chain.process(chunk([f"{T0} stdout F y"], 20), 0.0)
    assert [(r.message, r.ack.position if r.ack else None) for r in out] == [("xy", 20)]


def test_streams_join_separately_and_the_token_waits_for_both() -> None:
    chain = cri_chain()
    out = chain.process(
        chunk([f"{T0} stdout P o1 ", f"{T0} stderr P e1 ", f"{T0} stdout F o2"], 30), 0.0
    )
    assert [r.message for r in out] == ["o1 o2"] and tokens(out) == [None]
    out = chain.process(chunk([f"{T0} stderr F e2"], 40), 0.0)
    assert [r.message for r in out] == ["e1 e2"] and tokens(out) == [40]


def test_a_joined_line_over_max_bytes_is_split_and_counted() -> None:
    chain = cri_chain(max_bytes=1024)
    piece = "x" * 400
    lines = [f"{T0} stdout P {piece}"] * 5 + [f"{T0} stdout F end"]
    out = chain.process(chunk(lines, 70), 0.0)
    assert [len(r.message) for r in out] == [800, 800, 403]
    assert "".join(r.message for r in out) == piece * 5 + "end"
    assert tokens(out) == [None, None, 70]
    assert chain.reporter.counts[("cri", "partial_split")] == 2


def test_a_ten_mib_partial_sequence_never_holds_more_than_max_bytes() -> None:
    chain = cri_chain()
    piece = "y" * 16_384  # what containerd writes per P record
    total = 0
    for n in range(640):  # 10 MiB
        out = chain.process(chunk([f"{T0} stdout P {piece}"], n), 0.0)
        assert all(len(r.message) <= 262_144 for r in out)
        assert tokens(out) == [None] * len(out)
        total += sum(len(r.message) for r in out)
        assert chain.unwrapper is not None
    out = chain.process(chunk([f"{T0} stdout F !"], 641), 0.0)
    total += sum(len(r.message) for r in out)
    assert total == 640 * 16_384 + 1
    assert tokens(out)[-1] == 641


def test_a_partial_that_never_gets_its_end_is_flushed_after_the_timeout() -> None:
    chain = cri_chain(partial_timeout=5.0)
    chain.process(chunk([f"{T0} stdout P dangling"], 9), 100.0)
    assert chain.deadline() == 105.0
    assert chain.flush(104.0) == []
    [entry] = chain.flush(105.0)
    assert entry.message == "dangling" and entry.ack == AckToken(STREAM, 9)
    assert chain.reporter.counts[("cri", "partial_timeout")] == 1
    assert chain.deadline() is None


def test_lines_that_are_not_cri_pass_as_text_without_releasing_a_held_token() -> None:
    chain = cri_chain()
    out = chain.process(chunk([f"{T0} stdout P a", "garbage"], 5), 0.0)
    assert [r.message for r in out] == ["garbage"] and tokens(out) == [None]
    assert chain.reporter.counts[("cri", "not_cri")] == 1


def test_docker_json_file_lines_unwrap_and_join_on_the_missing_newline() -> None:
    def line(log: str, stream: str = "stdout") -> str:
        return json.dumps({"log": log, "stream": stream, "time": T0})

    chain = Chain("d", (DockerProcessor(), JsonProcessor(message_key="msg")))
    out = chain.process(
        chunk([line("GET /health 200\n"), line('{"msg":"pay'), line('ment failed"}\r\n')], 3), 0.0
    )
    assert [r.message for r in out] == ["GET /health 200", "payment failed"]
    assert out[0].attributes == {"stream": "stdout"}
    assert out[0].timestamp == pytest.approx(EPOCH0)
    assert tokens(out) == [None, 3]
    assert parse_docker("not json") == "invalid_json"
    assert parse_docker('{"message":"x"}') == "not_docker"


async def test_the_stage_flushes_held_pieces_at_their_deadline_in_order() -> None:
    clock = FakeClock()
    got: list[list[Record]] = []

    async def emit(records: list[Record]) -> None:
        got.append(records)

    cfg = FileInputConfig(id="pods", paths=("/x",), processors=(CriProcessor(),))
    staged = wrap(cfg, emit, clock=clock)
    assert isinstance(staged, ProcessingEmit)

    async def reading() -> None:  # the input: one read, then it waits (follows the file)
        await staged(chunk([f"{T0} stdout F a", f"{T0} stdout P b"], 7))
        assert [[r.message for r in batch] for batch in got] == [["a"]]
        await async_wait_until(lambda: len(got) == 2, 5, message="the flush")

    await staged.run(reading())
    assert [r.message for r in got[1]] == ["b"] and got[1][-1].ack == AckToken(STREAM, 7)


async def test_the_flush_timer_ends_with_the_reading_and_its_error_leaves_as_itself() -> None:
    cfg = FileInputConfig(id="pods", paths=("/x",), processors=(CriProcessor(),))

    async def emit(records: list[Record]) -> None:
        del records

    staged = wrap(cfg, emit, clock=FakeClock())
    assert isinstance(staged, ProcessingEmit)

    async def failing() -> None:
        await staged(chunk([f"{T0} stdout P held"], 3))
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await staged.run(failing())
    timers = [t for t in asyncio.all_tasks() if t.get_name() == "processing-timer"]
    assert timers == []


def test_no_processors_means_the_plain_emit() -> None:
    async def emit(records: list[Record]) -> None:
        del records

    cfg = FileInputConfig(id="plain", paths=("/x",))
    assert wrap(cfg, emit) is emit
