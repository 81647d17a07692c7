"""The ledger's segment format: header, CRC-framed records, torn and corrupt tails."""

from __future__ import annotations

import zlib
from pathlib import Path

from logflux_agent.ledger import format as fmt


def segment(*docs: dict[str, object]) -> bytes:
    return fmt.HEADER + b"".join(fmt.frame(d) for d in docs)


def test_records_read_back_in_order() -> None:
    found = fmt.scan_bytes(segment({"t": "r", "run": "a"}, {"t": "b", "seq": 1}))
    assert [d["t"] for d in found.records] == ["r", "b"]
    assert not found.torn and found.good_end == found.size


def test_a_torn_last_record_is_cut_at_the_previous_one() -> None:
    whole = segment({"t": "r"}, {"t": "b", "seq": 1})
    torn = whole + fmt.frame({"t": "b", "seq": 2})[:-3]
    found = fmt.scan_bytes(torn)
    assert found.torn and found.good_end == len(whole)
    assert [d.get("seq") for d in found.records] == [None, 1]


def test_a_flipped_byte_ends_the_good_part_there() -> None:
    first = segment({"t": "r"})
    data = bytearray(first + fmt.frame({"t": "b", "seq": 1}) + fmt.frame({"t": "b", "seq": 2}))
    data[len(first) + 12] ^= 0xFF  # inside the first batch record's payload
    found = fmt.scan_bytes(bytes(data))
    assert found.good_end == len(first) and len(found.records) == 1


def test_crc_is_over_the_payload() -> None:
    record = fmt.frame({"t": "x"})
    assert int.from_bytes(record[4:8], "big") == zlib.crc32(record[8:])


def test_an_unknown_version_is_not_ours() -> None:
    found = fmt.scan_bytes(fmt.MAGIC + bytes([fmt.VERSION + 1]) + fmt.frame({"t": "r"}))
    assert found.bad_header and not found.records


def test_an_absurd_length_is_corruption_not_an_allocation() -> None:
    data = fmt.HEADER + (fmt.MAX_RECORD + 1).to_bytes(4, "big") + b"\0" * 8
    found = fmt.scan_bytes(data)
    assert found.torn and found.good_end == len(fmt.HEADER)


def test_segments_are_listed_oldest_first(tmp_path: Path) -> None:
    for n in (10, 2, 7):
        (tmp_path / fmt.segment_name(n)).write_bytes(fmt.HEADER)
    (tmp_path / "other.txt").write_text("x")
    assert [fmt.segment_number(p) for p in fmt.segments(tmp_path)] == [2, 7, 10]
