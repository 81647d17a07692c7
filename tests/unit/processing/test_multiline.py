"""The ``multiline`` and ``detect_level`` processors: joining after ``cri``, per stream, across
reads, the caps, the timeout, and where each acknowledgement token may travel."""

from __future__ import annotations

from logflux_agent.clock import FakeClock
from logflux_agent.config.model import FileInputConfig
from logflux_agent.config.processors import (
    CriProcessor,
    DetectLevelProcessor,
    JsonProcessor,
    MultilineProcessor,
)
from logflux_agent.inputs.multiline import Multiline
from logflux_agent.observe import metrics
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.stage import ProcessingEmit, wrap
from logflux_agent.record import AckToken, Record, records_for
from tests.support.wait import async_wait_until

SOURCE = "/var/log/pods/shop_pay-1_u1/app/0.log"
T = "2026-12-01T06:00:00.5Z"
TRACE = [
    'Exception in thread "main" java.lang.IllegalStateException: boom',
    "\tat com.shop.Pay.charge(Pay.java:42)",
    "\tat com.shop.Main.main(Main.java:7)",
]
CONT = MultilineProcessor(continue_pattern=r"^\s+at |^Caused by", timeout=2.0)


class Stream:
    key = "s"


STREAM = Stream()


def chunk(lines: list[str], end: int, source: str = SOURCE) -> list[Record]:
    """One read of the file input: the last record carries the end offset."""
    records = records_for(lines, 1.0, 7, source, {})
    records[-1] = records[-1].with_ack(AckToken(STREAM, end))
    return records


def cri(lines: list[str], stream: str = "stderr") -> list[str]:
    return [f"{T} {stream} F {line}" for line in lines]


def shipped(out: list[Record]) -> list[tuple[str, int | str | None]]:
    return [(r.message, r.ack.position if r.ack else None) for r in out]


def test_a_java_stack_trace_inside_cri_lines_is_joined_after_unwrapping() -> None:
    chain = Chain("pods", (CriProcessor(), CONT))
    out = chain.process(chunk(cri(["started", *TRACE, "next"]), 100), 0.0)
    assert shipped(out) == [("started", None), ("\n".join(TRACE), None)]
    assert out[1].timestamp == 1_796_104_800.5 and out[1].attributes == {"stream": "stderr"}
    # "next" is held: it may be the start of another trace. Its read's token waits with it.
    assert chain.deadline() == 2.0
    assert shipped(chain.flush(1.9)) == []
    assert shipped(chain.flush(2.0)) == [("next", 100)]
    assert chain.deadline() is None


def test_a_trace_split_across_reads_is_joined_and_the_token_waits_for_the_whole_entry() -> None:
    chain = Chain("pods", (CriProcessor(), CONT))
    assert shipped(chain.process(chunk(cri(TRACE[:2]), 10), 0.0)) == []
    out = chain.process(chunk(cri([TRACE[2], "after"]), 20), 0.5)
    # The joined trace carries the first read's token (its lines end there); the second read's
    # token waits for "after".
    assert shipped(out) == [("\n".join(TRACE), 10)]
    assert shipped(chain.flush(0.0, force=True)) == [("after", 20)]


def test_streams_are_joined_apart_and_no_token_passes_a_held_line_of_the_other_stream() -> None:
    chain = Chain("pods", (CriProcessor(), CONT))
    lines = [
        f"{T} stderr F {TRACE[0]}",
        f"{T} stdout F GET /a",
        f"{T} stderr F {TRACE[1]}",
        f"{T} stdout F GET /b",
    ]
    out = chain.process(chunk(lines, 10), 0.0)
    assert shipped(out) == [("GET /a", None)]  # the trace is still held, so no token yet
    out = chain.process(chunk(cri(["next error"], "stderr"), 20), 0.1)
    assert shipped(out) == [("\n".join(TRACE[:2]), None)]  # "GET /b" (at 10) is still held
    assert shipped(chain.flush(0.0, force=True)) == [("GET /b", 10), ("next error", 20)]


def test_max_lines_and_max_bytes_start_a_new_entry_without_dropping_anything() -> None:
    chain = Chain("m", (MultilineProcessor(start_pattern="^S", max_lines=2, max_bytes=1024),))
    out = chain.process(chunk(["S1", "a", "b", "S2"], 4), 0.0)
    assert [r.message for r in out] == ["S1\na", "b"]
    chain = Chain("m", (MultilineProcessor(start_pattern="^S", max_bytes=1024),))
    out = chain.process(chunk(["S", "x" * 1000, "y" * 100], 3), 0.0)
    out += chain.flush(0.0, force=True)
    assert [len(r.message) for r in out] == [1002, 100]


def splits(input_id: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "logflux_agent_multiline_splits_total", {"input": input_id, "reason": reason}
    )
    return value or 0.0


def test_entries_completed_at_max_lines_or_max_bytes_are_counted_by_cap() -> None:
    chain = Chain("split-lines", (MultilineProcessor(start_pattern="^S", max_lines=2),))
    out = chain.process(chunk(["S1", "a", "b", "c", "d", "S2", "e"], 7), 0.0)
    out += chain.flush(0.0, force=True)
    # "b" and "d" would have joined a full entry: two splits; "S2" begins one (not a split).
    assert [r.message for r in out] == ["S1\na", "b\nc", "d", "S2\ne"]
    assert splits("split-lines", "max_lines") == 2
    assert splits("split-lines", "max_bytes") == 0
    assert chain.reporter.counts[("multiline", "max_lines")] == 2

    chain = Chain("split-bytes", (MultilineProcessor(continue_pattern=r"^\s", max_bytes=1024),))
    lines = ["E", " " + "x" * 700, " " + "y" * 700, " z", "F"]
    out = chain.process(chunk(lines, 5), 0.0) + chain.flush(0.0, force=True)
    # The "y" line would pass 1024 characters: it begins an entry of its own, counted once.
    assert [len(r.message) for r in out] == [1 + 1 + 701, 701 + 1 + 2, 1]
    assert splits("split-bytes", "max_bytes") == 1
    assert splits("split-bytes", "max_lines") == 0


def test_entries_that_end_because_the_next_one_begins_are_not_counted_as_splits() -> None:
    chain = Chain("split-none", (CriProcessor(), CONT))
    out = chain.process(chunk(cri([*TRACE, *TRACE, "next"]), 10), 0.0)
    assert [r.message for r in out] == ["\n".join(TRACE)] * 2
    assert splits("split-none", "max_lines") == splits("split-none", "max_bytes") == 0


def test_the_joined_entry_keeps_the_first_rows_fields_and_json_parses_the_whole_entry() -> None:
    chain = Chain("m", (MultilineProcessor(continue_pattern=r"^\s"), JsonProcessor()))
    first = Record('{"a":', 5.0, 3, "/x.log", {"l": "1"})
    rest = records_for([' "b"}', "{}"], 6.0, 7, "/x.log", {"l": "1"})
    rest[-1] = rest[-1].with_ack(AckToken(STREAM, 9))
    out = chain.process([first, *rest], 0.0)
    assert [(r.message, r.timestamp, r.level) for r in out] == [('{"a":\n "b"}', 5.0, 3)]
    assert out[0].attributes == {"l": "1", "a": "b"}


def test_reset_forgets_held_lines_and_the_input_option_still_joins_the_same_way() -> None:
    chain = Chain("m", (CONT,))
    chain.process(chunk(TRACE, 3), 0.0)
    chain.reset()
    assert chain.deadline() is None and chain.flush(0.0, force=True) == []
    # The input option runs the same Rule: same lines, same entries.
    joiner = Multiline(CONT, max_bytes=CONT.max_bytes)
    lines, _ = joiner.push([*TRACE, "next"], None, 0.0)
    chain = Chain("m", (CONT,))
    assert lines == [r.message for r in chain.process(chunk([*TRACE, "next"], 4), 0.0)]


def test_detect_level_reads_the_unwrapped_line_and_keeps_the_level_when_none_is_stated() -> None:
    chain = Chain("pods", (CriProcessor(), DetectLevelProcessor()))
    lines = cri(["ERROR payment failed", "[warn] disk", "GET /health 200", "level=debug x"])
    out = chain.process(chunk(lines, 9), 0.0)
    assert [r.level for r in out] == [4, 5, 7, 8]
    chain = Chain("s", (JsonProcessor(message_key="msg"), DetectLevelProcessor()))
    got = chain.process([Record('{"msg":"FATAL out of memory"}', 1.0, 6, "s", {})], 0.0)
    assert got[0].level == 3
    got = chain.process([Record('{"msg":"nothing stated"}', 1.0, 6, "s", {})], 0.0)
    assert got[0].level == 6


def test_a_joined_entry_takes_the_record_id_of_its_first_line_across_reads() -> None:
    chain = Chain("pods", (CriProcessor(), CONT, JsonProcessor()))
    first = [r._replace(rid=f"r{n}") for n, r in enumerate(chunk(cri(TRACE[:2]), 10))]
    assert chain.process(first, 0.0) == []
    second = [r._replace(rid=f"r{n + 2}") for n, r in enumerate(chunk(cri([TRACE[2], "x"]), 20))]
    out = chain.process(second, 0.1) + chain.flush(0.0, force=True)
    assert [(r.message.count("\n"), r.rid) for r in out] == [(2, "r0"), (0, "r3")]


def test_the_column_wise_fields_keep_each_rows_record_id() -> None:
    lines = ['{"a":"1"}', '{"a":"2"}']
    records = [r._replace(rid=f"id{n}") for n, r in enumerate(records_for(lines, 1.0, 7, "s", {}))]
    out = Chain("j", (JsonProcessor(),)).process(records, 0.0)
    assert [(r.attributes, r.rid) for r in out] == [({"a": "1"}, "id0"), ({"a": "2"}, "id1")]


async def test_the_stage_timer_sends_the_held_entry_after_its_timeout_with_its_token() -> None:
    clock = FakeClock()
    got: list[list[Record]] = []

    async def emit(records: list[Record]) -> None:
        got.append(records)

    cfg = FileInputConfig(id="pods", paths=("/x",), processors=(CriProcessor(), CONT))
    staged = wrap(cfg, emit, clock=clock)
    assert isinstance(staged, ProcessingEmit)

    async def reading() -> None:
        await staged(chunk(cri(TRACE), 30))
        assert got == []  # the whole trace is held: the next entry has not begun
        await async_wait_until(lambda: len(got) == 1, 5, message="the timer's flush")

    await staged.run(reading())
    assert shipped(got[0]) == [("\n".join(TRACE), 30)]
