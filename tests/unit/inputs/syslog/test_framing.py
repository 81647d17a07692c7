"""inputs/syslog/framing.py: RFC 6587 octet counting and LF framing, fed in arbitrary pieces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from logflux_agent.inputs.syslog.framing import StreamFramer


def feed_all(framer: StreamFramer, data: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    at = 0
    for cut in sorted(set(cuts)):
        out += framer.feed(data[at:cut])
        at = cut
    out += framer.feed(data[at:])
    return out + framer.flush()


def counted(msg: bytes) -> bytes:
    return str(len(msg)).encode() + b" " + msg


def test_octet_counting_allows_newlines_inside_a_message() -> None:
    framer = StreamFramer("auto")
    data = counted(b"<13>1 - - - - - - two\nlines") + counted(b"<14>next")
    assert framer.feed(data) == [b"<13>1 - - - - - - two\nlines", b"<14>next"]


def test_lf_framing_drops_cr_and_blank_lines_and_accepts_nul_trailers() -> None:
    framer = StreamFramer("auto")
    assert framer.feed(b"<13>a\r\n\n<13>b\0<13>c\n") == [b"<13>a", b"<13>b", b"<13>c"]


def test_an_over_long_counted_message_is_cut_and_the_rest_skipped() -> None:
    framer = StreamFramer("auto", max_bytes=480)
    big = b"<13>" + b"x" * 2000
    out = framer.feed(counted(big)[:1000]) + framer.feed(counted(big)[1000:] + counted(b"<13>ok"))
    assert out == [big[:480], b"<13>ok"]
    assert framer.long == 1


def test_an_over_long_lf_line_is_cut_and_memory_stays_bounded() -> None:
    framer = StreamFramer("lf", max_bytes=480)
    out = framer.feed(b"<13>" + b"y" * 5000)
    assert framer.pending == 0
    out += framer.feed(b"y" * 5000 + b"\n<13>after\n")
    assert out == [b"<13>" + b"y" * 476, b"<13>after"]
    assert framer.long == 1


def test_a_bad_count_resynchronises_at_the_next_newline() -> None:
    framer = StreamFramer("octet_counting")
    out = framer.feed(b"12x garbage\n" + counted(b"<13>fine"))
    assert out == [b"12x garbage", b"<13>fine"]
    assert framer.bad_frames == 1


def test_a_partial_message_at_the_end_of_the_connection_is_flushed() -> None:
    framer = StreamFramer("auto")
    assert framer.feed(b"<13>no newline yet") == []
    assert framer.flush() == [b"<13>no newline yet"]


@given(
    st.lists(st.binary(min_size=1, max_size=200).map(lambda b: b"<13>" + b), max_size=20),
    st.lists(st.integers(0, 5000), max_size=10),
)
def test_octet_counted_stream_in_any_pieces_gives_the_same_messages(
    messages: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(map(counted, messages))
    expected = [m.rstrip(b"\r\n\0") for m in messages]
    assert feed_all(StreamFramer("auto"), data, cuts) == [m for m in expected if m]


@given(
    st.lists(
        st.binary(min_size=1, max_size=200)
        .filter(lambda b: b"\n" not in b and b"\0" not in b)
        .map(lambda b: b"<13>" + b),
        max_size=20,
    ),
    st.lists(st.integers(0, 5000), max_size=10),
)
def test_lf_stream_in_any_pieces_gives_the_same_messages(
    messages: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(m + b"\n" for m in messages)
    expected = [m.rstrip(b"\r") for m in messages]
    assert feed_all(StreamFramer("lf"), data, cuts) == [m for m in expected if m.strip()]
