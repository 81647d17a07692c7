"""Line offsets from the framer, as record ids need them (docs/record-ids.md): every line's end
and the first line's start are the byte positions on disk, however the bytes are chunked."""

from __future__ import annotations

import random

from logflux_agent.inputs.file.record_ids import line_starts
from logflux_agent.inputs.framing import LineFramer

LINES = [b"plain", b"crlf\r", b"", "ünïcødé ✓".encode(), b"\xff\xfe bad utf-8", b"x" * 40, b"end"]


def positions(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each line of ``data``: end is after its newline."""
    out, pos = [], 0
    while (nl := data.find(b"\n", pos)) >= 0:
        out.append((pos, nl + 1))
        pos = nl + 1
    return out


def test_ascii_utf8_crlf_and_invalid_lines_in_any_chunking_have_their_disk_offsets() -> None:
    rng = random.Random(7)
    data = b"".join(rng.choice(LINES) + b"\n" for _ in range(400))
    expected = positions(data)
    for _ in range(20):
        framer = LineFramer(track_offsets=True)
        got: list[tuple[int, int]] = []
        pos = 0
        while pos < len(data):
            step = rng.choice((1, 3, 17, 256, 4096))
            frames = framer.feed(data[pos : pos + step])
            assert frames.ends is not None
            got += zip(line_starts(frames), frames.ends, strict=True)
            pos += step
        assert got == expected


def test_a_newline_completing_a_flushed_line_moves_the_next_lines_start_past_it() -> None:
    framer = LineFramer(track_offsets=True)
    framer.feed(b"head")
    assert framer.flush().lines == ["head"]
    frames = framer.feed(b"\nnext\n")
    assert frames.lines == ["next"]
    assert line_starts(frames) == [5] and frames.ends == [10]
