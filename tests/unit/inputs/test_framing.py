"""Line framing: splitting, limits, UTF-8, partial lines, multiline, levels, records."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logflux_agent.config.model import MultilineConfig
from logflux_agent.errors import ConfigError
from logflux_agent.inputs.framing import Frames, LineFramer, newline_slices
from logflux_agent.inputs.levels import LEVEL_INFO, detect_level, make_records
from logflux_agent.inputs.multiline import Multiline


def feed_all(framer: LineFramer, chunks: list[bytes]) -> Frames:
    """Feed chunks one by one; gather everything into one Frames."""
    total = Frames([], framer.position, framer.position, [])
    for chunk in chunks:
        out = framer.feed(chunk)
        total.lines += out.lines
        if out.ends is not None:
            assert total.ends is not None
            total.ends += out.ends
        total.long_lines += out.long_lines
        total.invalid_utf8 += out.invalid_utf8
        total.end = out.end
    return total


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# ---- basics ---------------------------------------------------------------------------------


def test_splits_on_newline_and_strips_crlf() -> None:
    framer = LineFramer()
    out = framer.feed(b"one\ntwo\r\nthree\n")
    assert out.lines == ["one", "two", "three"]
    assert (out.start, out.end) == (0, 15)
    assert framer.pending == 0


def test_a_bare_cr_inside_a_line_is_kept() -> None:
    assert LineFramer().feed(b"a\rb\nc\r\r\n").lines == ["a\rb", "c\r"]


def test_partial_line_is_held_until_its_newline() -> None:
    framer = LineFramer()
    assert framer.feed(b"hel").lines == []
    assert framer.pending == 3
    assert framer.position == 0
    out = framer.feed(b"lo\nwor")
    assert out.lines == ["hello"]
    assert out.end == 6
    assert framer.pending == 3


def test_crlf_split_across_chunks() -> None:
    framer = LineFramer()
    assert framer.feed(b"abc\r").lines == []
    assert framer.feed(b"\ndef\n").lines == ["abc", "def"]


def test_empty_lines_are_lines() -> None:
    assert LineFramer().feed(b"\n\na\n").lines == ["", "", "a"]


def test_positions_start_from_the_given_offset() -> None:
    framer = LineFramer(position=1000, track_offsets=True)
    out = framer.feed(b"ab\ncd\r\ne")
    assert out.lines == ["ab", "cd"]
    assert out.ends == [1003, 1007]
    assert (out.start, out.end) == (1000, 1007)
    assert framer.consumed == 1008


def test_flush_emits_the_partial_line_and_drops_an_empty_completion() -> None:
    framer = LineFramer(track_offsets=True)
    framer.feed(b"first\nsecond-part")
    out = framer.flush()
    assert out.lines == ["second-part"]
    assert out.ends == [17]
    # Only the newline follows: the line was already shipped; nothing new to send.
    out = framer.feed(b"\nthird\n")
    assert out.lines == ["third"]
    assert out.ends == [24]


def test_flush_then_completion_emits_the_rest_as_its_own_line() -> None:
    framer = LineFramer()
    framer.feed(b"abc")
    assert framer.flush().lines == ["abc"]
    out = framer.feed(b"def\n")
    assert out.lines == ["def"]
    assert out.end == 7


def test_flush_keeps_a_half_written_utf8_character_until_final() -> None:
    framer = LineFramer()
    framer.feed(b"caf\xc3")
    assert framer.flush().lines == ["caf"]
    assert framer.pending == 1
    assert framer.feed(b"\xa9!\n").lines == ["\u00e9!"]
    framer.feed(b"x\xe2\x82")
    assert framer.flush(final=True).lines == ["x\ufffd"]


def test_flush_strips_a_trailing_cr_and_nothing_held_means_nothing() -> None:
    framer = LineFramer()
    framer.feed(b"x\r")
    assert framer.flush().lines == ["x"]
    assert framer.feed(b"\n").lines == []
    assert framer.flush().lines == []


def test_reset_forgets_everything() -> None:
    framer = LineFramer()
    framer.feed(b"abc\npartial")
    framer.reset(0)
    assert framer.pending == 0
    assert framer.feed(b"new\n").lines == ["new"]
    assert framer.position == 4


# ---- limits ---------------------------------------------------------------------------------


def test_long_line_split_into_pieces_counted_once() -> None:
    framer = LineFramer(max_line_bytes=4, track_offsets=True)
    out = framer.feed(b"abcdefghij\nok\n")
    assert out.lines == ["abcd", "efgh", "ij", "ok"]
    assert out.ends == [4, 8, 11, 14]
    assert out.long_lines == 1


def test_long_partial_line_is_emitted_in_pieces_before_its_newline() -> None:
    framer = LineFramer(max_line_bytes=4)
    out = framer.feed(b"abcdefghij")
    assert out.lines == ["abcd", "efgh"]
    assert out.long_lines == 1
    assert framer.pending == 2
    out = framer.feed(b"klmnop")
    # "mnop" could still be the whole rest of the line (exactly the limit): held.
    assert out.lines == ["ijkl"]
    assert out.long_lines == 0
    assert framer.pending == 4
    out = framer.feed(b"\nnext\n")
    assert out.lines == ["mnop", "next"]
    assert out.long_lines == 0


def test_split_never_cuts_a_utf8_character() -> None:
    text = "aé€😀b" * 3
    framer = LineFramer(max_line_bytes=5)
    out = framer.feed(text.encode() + b"\n")
    assert "".join(out.lines) == text
    assert all(len(line.encode()) <= 5 for line in out.lines)
    assert out.invalid_utf8 == 0


def test_truncate_keeps_the_head_and_discards_the_rest() -> None:
    framer = LineFramer(max_line_bytes=4, long_lines="truncate", track_offsets=True)
    first = framer.feed(b"abcdefgh")
    assert first.lines == []
    assert first.long_lines == 1
    assert framer.pending == 4
    out = framer.feed(b"ijklmnop\nqr\n")
    assert out.lines == ["abcd", "qr"]
    assert out.ends == [17, 20]
    assert out.long_lines == 0


def test_truncated_line_flushed_by_timeout_keeps_discarding_until_newline() -> None:
    framer = LineFramer(max_line_bytes=4, long_lines="truncate")
    framer.feed(b"abcdefgh")
    assert framer.flush().lines == ["abcd"]
    assert framer.feed(b"more tail").lines == []
    assert framer.feed(b"\nnext\n").lines == ["next"]


def test_held_bytes_stay_bounded_whatever_the_line_length() -> None:
    framer = LineFramer(max_line_bytes=1024)
    for _ in range(1000):
        framer.feed(b"x" * 4096)
        assert framer.pending <= 1024
    truncating = LineFramer(max_line_bytes=1024, long_lines="truncate")
    for _ in range(1000):
        truncating.feed(b"x" * 4096)
        assert truncating.pending <= 1024


def test_a_line_of_exactly_max_bytes_is_not_long_even_with_crlf_split() -> None:
    framer = LineFramer(max_line_bytes=4)
    out = feed_all(framer, [b"abcd\r", b"\n"])
    assert out.lines == ["abcd"]
    assert out.long_lines == 0


def test_invalid_utf8_is_replaced_and_counted_per_line() -> None:
    framer = LineFramer()
    out = framer.feed(b"ok\nbad \xff\xfe here\nalso \xc3\n")
    assert out.lines == ["ok", "bad \ufffd\ufffd here", "also \ufffd"]
    assert out.invalid_utf8 == 2


def test_max_line_bytes_must_be_sane() -> None:
    with pytest.raises(ValueError):
        LineFramer(max_line_bytes=0)


# ---- properties -----------------------------------------------------------------------------

_BYTES = st.lists(
    st.sampled_from(
        [
            b"a",
            b"b",
            b"\n",
            b"\r",
            b"\r\n",
            b"\xc3\xa9",
            b"\xe2\x82\xac",
            b"\xf0\x9f\x98\x80",
            b"\xff",
            b"\xc3",
            b"\x00",
            b"xyz",
        ]
    ),
    max_size=200,
).map(b"".join)


def reference_lines(data: bytes) -> list[str]:
    """What the whole stream splits into, the obvious way (no length limit)."""
    parts = data.split(b"\n")[:-1]
    return [(p[:-1] if p.endswith(b"\r") else p).decode("utf-8", "replace") for p in parts]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=_BYTES, cuts=st.lists(st.integers(0, 10_000), max_size=20), track=st.booleans())
def test_any_chunking_gives_the_lines_of_the_whole(
    data: bytes, cuts: list[int], track: bool
) -> None:
    framer = LineFramer(max_line_bytes=1 << 20, track_offsets=track)
    out = feed_all(framer, chunked(data, cuts))
    assert out.lines == reference_lines(data)
    if track:
        newlines = [i + 1 for i, b in enumerate(data) if b == 0x0A]
        assert out.ends == newlines
    assert framer.position == (data.rfind(b"\n") + 1)
    assert framer.pending == len(data) - framer.position


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_BYTES,
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
    limit=st.integers(4, 24),
    mode=st.sampled_from(["split", "truncate"]),
    track=st.booleans(),
)
def test_long_line_handling_does_not_depend_on_chunking(
    data: bytes, cuts: list[int], limit: int, mode: str, track: bool
) -> None:
    whole = LineFramer(max_line_bytes=limit, long_lines=mode, track_offsets=track)  # type: ignore[arg-type]
    parts = LineFramer(max_line_bytes=limit, long_lines=mode, track_offsets=track)  # type: ignore[arg-type]
    a = feed_all(whole, [data])
    b = feed_all(parts, chunked(data, cuts))
    assert a.lines == b.lines
    assert a.long_lines == b.long_lines
    assert a.invalid_utf8 == b.invalid_utf8
    assert a.ends == b.ends
    assert whole.position == parts.position
    assert all(len(line.encode("utf-8", "surrogatepass")) <= limit * 3 for line in b.lines)
    assert parts.pending <= limit + 1

    # With no line over the limit the result is the plain split.
    def content(line: bytes) -> int:
        return len(line) - 1 if line.endswith(b"\r") else len(line)

    if all(content(p) <= limit for p in data.split(b"\n")):
        assert b.lines == reference_lines(data)
        assert b.long_lines == 0
    tail_a, tail_b = whole.flush(final=True), parts.flush(final=True)
    assert tail_a.lines == tail_b.lines
    if mode == "split":
        # Nothing is lost: the pieces put back together are the lines.
        shipped = "".join(b.lines + tail_b.lines)
        assert shipped == "".join(reference_lines(data + b"\n"))


@settings(max_examples=200)
@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\xc3\xa9"]), max_size=100).map(b"".join),
    cuts=st.lists(st.integers(0, 10_000), max_size=10),
    flush_at=st.lists(st.integers(0, 10_000), max_size=5),
)
def test_flushes_never_duplicate_or_lose_text(
    data: bytes, cuts: list[int], flush_at: list[int]
) -> None:
    """Partial-line flushes split lines, but the text shipped is exactly the stream's text."""
    framer = LineFramer(max_line_bytes=1 << 20, track_offsets=True)
    pieces = chunked(data, cuts)
    flush_points = {f % (len(pieces) + 1) for f in flush_at}
    lines: list[str] = []
    ends: list[int] = []

    def take(out: Frames) -> None:
        lines.extend(out.lines)
        ends.extend(out.ends or [])
        assert framer.position == (ends[-1] if out.lines else framer.position)

    for i, piece in enumerate(pieces):
        if i in flush_points:
            take(framer.flush())
        take(framer.feed(piece))
    take(framer.flush())
    assert ends == sorted(set(ends))
    assert framer.position == len(data)
    assert "".join(lines) == data.replace(b"\n", b"").decode("utf-8", "replace")
    if not flush_points:
        assert lines[: len(reference_lines(data))] == reference_lines(data)


# ---- multiline ------------------------------------------------------------------------------

JAVA = [
    "2026-11-28 10:00:00 ERROR request failed",
    "java.lang.IllegalStateException: boom",
    "\tat com.example.Foo.bar(Foo.java:10)",
    "\tat com.example.Main.main(Main.java:5)",
    "Caused by: java.io.IOException: disk",
    "\t... 2 more",
    "2026-11-28 10:00:01 INFO next entry",
]


def test_multiline_start_pattern_joins_a_java_stack_trace() -> None:
    joiner = Multiline(MultilineConfig(start_pattern=r"^\d{4}-\d\d-\d\d "), max_bytes=1 << 20)
    lines, ends = joiner.push(JAVA, list(range(1, len(JAVA) + 1)), now=0.0)
    assert lines == ["\n".join(JAVA[:6])]
    assert ends == [6]
    assert joiner.held == 1
    assert joiner.deadline == pytest.approx(1.0)
    assert joiner.flush() == ([JAVA[6]], [7])
    assert joiner.deadline is None


def test_multiline_continue_pattern_joins_a_python_traceback() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "app.py", line 3, in <module>',
        "    main()",
        "ValueError: bad",
        "next line",
    ]
    joiner = Multiline(
        MultilineConfig(continue_pattern=r"^(\s|[A-Za-z]+Error:)"), max_bytes=1 << 20
    )
    out, _ = joiner.push(lines, None, now=0.0)
    assert out == ["\n".join(lines[:4])]
    assert joiner.flush()[0] == ["next line"]


def test_multiline_max_lines_starts_a_new_entry_without_dropping() -> None:
    joiner = Multiline(MultilineConfig(start_pattern="^S", max_lines=3), max_bytes=1 << 20)
    out, _ = joiner.push(["S", "a", "b", "c", "d", "S2"], None, now=0.0)
    assert out == ["S\na\nb", "c\nd"]
    assert joiner.flush()[0] == ["S2"]


def test_multiline_byte_bound() -> None:
    joiner = Multiline(MultilineConfig(start_pattern="^S"), max_bytes=10)
    out, _ = joiner.push(["S1234", "abcd", "efgh"], None, now=0.0)
    assert out == ["S1234\nabcd"]


def test_multiline_lines_before_the_first_start_form_an_entry() -> None:
    joiner = Multiline(MultilineConfig(start_pattern="^S"), max_bytes=1 << 20)
    out, _ = joiner.push(["x", "y", "S"], None, now=0.0)
    assert out == ["x\ny"]


@pytest.mark.parametrize(
    "config",
    [
        MultilineConfig(),
        MultilineConfig(start_pattern="a", continue_pattern="b"),
        MultilineConfig(start_pattern="("),
        MultilineConfig(start_pattern="a", max_lines=0),
    ],
)
def test_multiline_config_errors_are_config_errors(config: MultilineConfig) -> None:
    with pytest.raises(ConfigError):
        Multiline(config, max_bytes=100)


# ---- levels and records ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2026-11-28T10:00:00Z ERROR something broke", 4),
        ("2026-11-28 10:00:00,123 [main] WARN  com.example - slow", 5),
        ("2026/11/28 10:00:00 [error] 12#0: *1 open() failed", 4),
        ("2026/11/28 10:00:00 [warn] 12#0: upstream slow", 5),
        ("DEBUG starting", 8),
        ("FATAL out of memory", 3),
        ("CRITICAL disk gone", 3),
        ("panic: runtime error", 1),
        ("error: could not open file", 4),
        ("Warning: deprecated", 5),
        ("WARNING:root:python logging default format", 5),
        ('{"time":"2026-11-28T10:00:00Z","level":"error","msg":"x"}', 4),
        ("ts=2026-11-28T10:00:00Z level=debug msg=x", 8),
        ("ts=1 lvl=warn msg=x", 5),
        ("<NOTICE> something", 6),
        ("GET /api/error 200 12ms", LEVEL_INFO),
        ("the connection error was retried", LEVEL_INFO),
        ("plain line", LEVEL_INFO),
        ("", LEVEL_INFO),
    ],
)
def test_detect_level(line: str, level: int) -> None:
    assert detect_level(line) == level


def test_make_records_share_attributes_and_detect_levels_when_asked() -> None:
    attrs = {"service": "api"}
    plain = make_records(["ERROR x", "y"], 12.5, "/var/log/a.log", attrs)
    assert [r.level for r in plain] == [LEVEL_INFO, LEVEL_INFO]
    assert all(r.attributes is attrs for r in plain)
    assert plain[0].timestamp == 12.5
    assert plain[0].source == "/var/log/a.log"
    assert plain[0].ack is None
    detected = make_records(["ERROR x", "y"], 12.5, "s", attrs, detect=True)
    assert [r.level for r in detected] == [4, LEVEL_INFO]


def test_newline_slices_cut_after_every_nth_newline_and_keep_every_byte() -> None:
    data = b"".join(b"%d\n" % n for n in range(10)) + b"tail"
    parts = newline_slices(data, 4)
    assert b"".join(parts) == data
    assert [p.count(b"\n") for p in parts] == [4, 4, 2]
    assert all(p.endswith(b"\n") for p in parts[:-1])
    assert newline_slices(b"a\nb\n", 2) == [b"a\nb\n"]
    assert newline_slices(b"a\nb\nc\nd\n", 2) == [b"a\nb\n", b"c\nd\n"]


def test_a_restart_inside_a_truncated_line_skips_its_rest() -> None:
    framer = LineFramer(max_line_bytes=8, long_lines="truncate")
    framer.feed(b"0123456789abc")
    out = framer.flush()
    assert out.lines == ["01234567"] and out.end == 13
    assert framer.mid_line(13) == "skip"
    assert framer.mid_line(12) is None
    resumed = LineFramer(max_line_bytes=8, long_lines="truncate", position=13)
    resumed.resume("skip")
    assert resumed.feed(b"defgh\nnext\n").lines == ["next"]


def test_a_restart_after_a_flushed_partial_line_drops_a_lone_newline() -> None:
    framer = LineFramer()
    framer.feed(b"head")
    assert framer.flush().lines == ["head"]
    assert framer.mid_line(4) == "rest"
    resumed = LineFramer(position=4)
    resumed.resume("rest")
    assert resumed.feed(b"\nnext\n").lines == ["next"]
    plain = LineFramer(position=4)
    assert plain.feed(b"\nnext\n").lines == ["", "next"]


def test_a_held_long_head_not_yet_shipped_is_not_mid_line() -> None:
    framer = LineFramer(max_line_bytes=8, long_lines="truncate", position=5)
    framer.feed(b"0123456789")
    assert framer.mid_line(5) is None
