"""Reading the ledger back: stream filters, intervals and how often each was accepted."""

from __future__ import annotations

from pathlib import Path

from logflux_agent.ledger import format as fmt
from logflux_agent.ledger.index import Delivery, coverage, load


def delivery(seq: int) -> Delivery:
    return Delivery(float(seq), "run", seq, "accepted", (f"rq{seq}",), "", 0)


def test_coverage_counts_overlaps_as_duplicates() -> None:
    d1, d2, d3 = delivery(1), delivery(2), delivery(3)
    pieces = coverage([(0, 100, d1), (50, 150, d2), (150, 200, d3)])
    got = [(p.start, p.end, [d.seq for d in p.deliveries]) for p in pieces]
    assert got == [(0, 50, [1]), (50, 100, [1, 2]), (100, 150, [2]), (150, 200, [3])]


def test_coverage_of_nothing_is_empty_and_empty_spans_are_ignored() -> None:
    assert coverage([]) == []
    assert coverage([(5, 5, delivery(1))]) == []


def test_load_resolves_stream_ids_per_segment_and_skips_a_torn_tail(tmp_path: Path) -> None:
    one = fmt.HEADER + b"".join(
        fmt.frame(d)
        for d in (
            {"t": "r", "run": "A", "at": 1.0},
            {"t": "s", "id": 0, "kind": "file", "path": "/a.log", "dev": 1, "ino": 5},
            {"t": "b", "at": 2.0, "seq": 0, "rq": ["x"], "c": [[0, 0, 10, 1, 0, 1]]},
        )
    )
    # In the next segment id 0 is another stream: ids are per segment.
    two = (
        fmt.HEADER
        + b"".join(
            fmt.frame(d)
            for d in (
                {"t": "r", "run": "B", "at": 3.0},
                {"t": "s", "id": 0, "kind": "journal", "key": "journald:j"},
                {"t": "b", "at": 4.0, "seq": 0, "c": [[0, None, "s=1;i=5", 3, 0, 3]]},
            )
        )
        + fmt.frame({"t": "b", "seq": 1})[:-1]
    )
    (tmp_path / fmt.segment_name(0)).write_bytes(one)
    (tmp_path / fmt.segment_name(1)).write_bytes(two)
    everything = load(tmp_path)
    assert [(c.stream.kind, c.delivery.run) for c in everything.claims] == [
        ("file", "A"),
        ("journal", "B"),
    ]
    assert everything.torn == 1 and everything.first_at == 1.0
    files = load(tmp_path, lambda s: s.kind == "file")
    assert [c.stream.path for c in files.claims] == ["/a.log"]
