"""Packed record lists: ``Lines`` and ``Run`` read exactly like the record lists they stand for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logflux_agent.packed import Entries, Lines, Run, acks_of, sources_bytes, text_bytes
from logflux_agent.record import ACK, AckToken, Record, Resumable, records_for

STREAM = Resumable("file:1:2")
ATTRS = {"input": "app"}


def lines(n: int, *, tag: str = "l", end: int | None = 100, ids: bool = False) -> Lines:
    msgs = [f"{tag}{i}" for i in range(n)]
    rids = [f"{tag}-id-{i}" for i in range(n)] if ids else None
    token = None if end is None else AckToken(STREAM, end)
    return Lines(msgs, 1_795_000_000.5, 7, "/var/log/app.log", ATTRS, token, rids)


def as_records(packed: Lines) -> list[Record]:
    """The record list a file input emitted before packing: ack on the last record only."""
    out = records_for(
        packed.messages,
        packed.timestamp,
        packed.level,
        packed.source,
        packed.attributes,
        packed.rids,
    )
    if out and packed.ack is not None:
        out[-1] = out[-1].with_ack(packed.ack)
    return out


def test_lines_iterate_index_and_measure_like_their_record_list() -> None:
    packed = lines(5, ids=True)
    plain = as_records(packed)
    assert list(packed) == plain
    assert [packed[i] for i in range(-5, 5)] == plain + plain
    assert packed[-1].ack == AckToken(STREAM, 100) and packed[0].ack is None
    assert text_bytes(packed) == sum(len(r.message) for r in plain)
    assert sources_bytes(packed) == sum(len(r.source) for r in plain)
    assert list(acks_of(packed)) == [AckToken(STREAM, 100)]


def test_a_head_cut_off_lines_has_no_token_and_the_tail_keeps_it() -> None:
    packed = lines(6)
    head, tail = packed[:4], packed[4:]
    assert isinstance(head, Lines) and isinstance(tail, Lines)
    assert head.ack is None and tail.ack == packed.ack
    assert list(head) + list(tail) == list(packed)
    assert list(packed[::2]) == list(packed)[::2] and list(packed[1::2]) == list(packed)[1::2]
    with pytest.raises(ValueError, match="in order"):
        packed[::-1]  # the token could not stay on the last line


def test_repr_never_shows_the_log_text() -> None:
    packed = Lines(["password=hunter2"], 0.0, 7, "/var/log/a", {}, None)
    assert "hunter2" not in repr(packed) and "hunter2" not in repr(Run([packed]))


def test_run_reads_as_the_concatenation_of_its_pieces() -> None:
    first = lines(3, tag="a", end=10)
    middle = [
        Record("r0", 1.0, 3, "stdin", {}),
        Record("r1", 1.0, 3, "stdin", {}, AckToken(STREAM, 20)),
    ]
    last = lines(4, tag="b", end=30, ids=True)
    run = Run([first, middle, last, lines(0)])
    flat = list(first) + middle + list(last)
    assert len(run) == len(flat) == 9 and list(run) == flat
    assert [run[i] for i in range(-9, 9)] == flat + flat
    assert list(run.acks()) == [t for t in map(ACK, flat) if t is not None]
    assert run.packed and not Run([middle]).packed
    assert text_bytes(run) == sum(len(r.message) for r in flat)


@given(
    sizes=st.lists(st.integers(0, 6), max_size=6),
    lo=st.integers(-12, 40),
    hi=st.integers(-12, 40),
)
def test_run_slices_equal_list_slices(sizes: list[int], lo: int, hi: int) -> None:
    pieces = [lines(n, tag=f"p{k}-", end=k) for k, n in enumerate(sizes)]
    run = Run(pieces)
    flat = [r for p in pieces for r in p]
    cut = run[lo:hi]
    assert list(cut) == flat[lo:hi]
    assert len(cut) == len(flat[lo:hi])
    # Tokens survive exactly where the list kept them (on each piece's last line).
    assert list(acks_of(cut)) == [t for t in map(ACK, flat[lo:hi]) if t is not None]


def column_lines(n: int, end: int) -> tuple[Lines, list[str]]:
    """Lines with ids as columns (a file input's), and the id strings they stand for."""
    offsets = [1000 + 17 * i for i in range(n)]
    strs = [f"f:3b9c:{o}" for o in offsets]
    if end >= 0 and strs:
        strs[-1] += f"-{end}"
    messages = [f"m{i}" for i in range(n)]
    return Lines(messages, 1.5, 7, "/l", ATTRS, None, ("f:3b9c:", offsets, end)), strs


@given(
    n=st.integers(0, 8),
    end=st.sampled_from([-1, 5000]),
    lo=st.integers(-10, 10),
    hi=st.integers(-10, 10),
    step=st.integers(1, 3),
)
def test_id_columns_give_the_records_of_the_id_strings(
    n: int, end: int, lo: int, hi: int, step: int
) -> None:
    # Records built on demand (index, iteration, slices: dead letters, tap, the retry paths)
    # carry the strings the columns stand for; only the last line's names a partial end.
    packed, strs = column_lines(n, end)
    as_strings = Lines(packed.messages, 1.5, 7, "/l", ATTRS, None, strs)
    assert packed.rids == strs and list(packed) == list(as_strings)
    assert [packed[i].rid for i in range(-n, n)] == strs + strs
    cut = packed[lo:hi:step]
    assert list(cut) == list(as_strings[lo:hi:step])
    assert cut.rids == strs[lo:hi:step]
    assert list(Run([packed])[lo:hi]) == list(as_strings)[lo:hi]


def test_lines_without_ids_have_none_and_setting_strings_replaces_the_columns() -> None:
    packed, _ = column_lines(3, -1)
    assert lines(2).rids is None and lines(2)[0].rid is None
    packed.rids = ["a", "b", "c"]
    assert [r.rid for r in packed] == ["a", "b", "c"] and packed.ids == ["a", "b", "c"]


def entries(
    n: int, *, sources: bool = False, end: int | None = 100
) -> tuple[Entries, list[Record]]:
    """A socket chunk packed, and the record list it stands for (ack on the last record)."""
    shared = [{"a": "1"}, {"b": "2"}]
    msgs = [f"log text {i}" for i in range(n)]
    stamps = [1_796_000_000.0 + i for i in range(n)]
    levels = [1 + i % 8 for i in range(n)]
    attrs = [shared[i % 3 == 0] for i in range(n)]
    source: str | list[str] = [f"s{i % 2}" for i in range(n)] if sources else "ruby-sdk"
    ids = [f"id-{i}" for i in range(n)]
    token = None if end is None else AckToken(STREAM, end)
    packed = Entries(msgs, stamps, levels, source, attrs, ids, token)
    each = source if isinstance(source, list) else [source] * n
    plain = [
        Record(*f, None, i) for *f, i in zip(msgs, stamps, levels, each, attrs, ids, strict=True)
    ]
    if plain and token is not None:
        plain[-1] = plain[-1].with_ack(token)
    return packed, plain


@given(st.integers(1, 12), st.booleans(), st.integers(-14, 14), st.integers(-14, 14))
def test_entries_read_slice_and_measure_like_their_record_list(
    n: int, sources: bool, lo: int, hi: int
) -> None:
    packed, plain = entries(n, sources=sources)
    assert list(packed) == plain and len(packed) == n
    assert [packed[i] for i in range(-n, n)] == plain + plain
    assert list(packed[lo:hi]) == plain[lo:hi]
    assert list(Run([packed, plain])[lo:hi]) == (plain + plain)[lo:hi]
    assert text_bytes(packed) == sum(len(r.message) for r in plain)
    assert sources_bytes(packed) == sum(len(r.source) for r in plain)
    assert list(acks_of(packed)) == [r.ack for r in plain if r.ack is not None]
    assert list(Run([packed[: n - 1], packed]).acks()) == list(acks_of(packed))
    assert Run([packed]).packed
    with pytest.raises(IndexError):
        packed[n]
    with pytest.raises(ValueError):
        packed[::-1]
    assert "log text" not in repr(packed)
