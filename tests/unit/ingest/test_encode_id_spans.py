"""Record ids given as spans (prefix + offsets) give exactly the bytes of ids given one by one.

The run path with spans (runs.py) against the per-entry path (``build_payload`` of each entry
with its id str, and ``plaintexts`` with the ids as a str column): any messages (``%``, quotes,
control characters, non-ASCII, lone surrogates), any run layout, spans that start and end
inside runs, entries without ids among them, partial-line ends, prefixes holding ``%``. Then a
whole encode, decrypted with real AES-GCM.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.ingest import runs
from logflux_agent.ingest.encode import (
    EncodeJob,
    EntryTuple,
    PayloadStatics,
    build_payload,
    encode_with_aead,
)
from logflux_agent.ingest.plaintext import plaintexts, stamps_of
from logflux_agent.ingest.runs import IdSpan
from tests.support.strategies import message_text
from tests.unit.ingest.test_encode import open_part, parse

KEY = os.urandom(32)
STATICS_CASES = [
    PayloadStatics.build(
        node="web-01", environment="prod", agent="logflux-agent/9.9", labels={"team": "p%y"}
    ),
    PayloadStatics(),  # no agent meta: the id opens the meta object alone
]
ATTRIBUTE_SETS: list[dict[str, str]] = [{}, {"service": "nginx"}, {"k": 'v "é" \\ \x01 %d'}]
SOURCES = ["/var/log/app.log", "/var/log/100%.log", 'we"ird\\src\t']
PREFIXES = ["f:3b9c0e51a2d47f08:", "f:%d%s%%:", "x"]
MESSAGE = message_text(ascii_max=40, other_max=20, specials="%")
# A piece as an input hands it over: one chunk's lines (one timestamp, level, source and
# attributes object), with ids as a span (prefix, first offset, partial end?) or none.
PIECE = st.tuples(
    st.lists(MESSAGE, min_size=1, max_size=30),
    st.sampled_from([1_795_000_000.0, 1_795_000_000.25]),
    st.sampled_from([7, 3, 0]),
    st.sampled_from(range(len(SOURCES))),
    st.sampled_from(range(len(ATTRIBUTE_SETS))),
    st.one_of(
        st.none(),
        st.tuples(st.sampled_from(PREFIXES), st.integers(0, 2**63), st.booleans()),
    ),
)


def _job(pieces: list[Any]) -> tuple[list[EntryTuple], list[IdSpan], list[str | None]]:
    """The entries, their spans, and the same ids one str (or None) per entry."""
    entries: list[EntryTuple] = []
    spans: list[IdSpan] = []
    rids: list[str | None] = []
    for messages, ts, level, source, attrs, ids in pieces:
        at = len(entries)
        entries += [(m, ts, level, SOURCES[source], ATTRIBUTE_SETS[attrs]) for m in messages]
        if ids is None:
            rids += [None] * len(messages)
            continue
        prefix, first, partial = ids
        offsets = [first + 7 * i for i in range(len(messages))]
        end = offsets[-1] + 3 if partial else -1
        spans.append((at, prefix, offsets, end))
        rids += [f"{prefix}{o}" for o in offsets]
        if partial:
            rids[-1] = f"{rids[-1]}-{end}"
    return entries, spans, rids


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECE, min_size=1, max_size=6), st.sampled_from(range(len(STATICS_CASES))))
def test_spans_give_the_bytes_of_the_per_entry_path(pieces: list[Any], case: int) -> None:
    statics = STATICS_CASES[case]
    entries, spans, rids = _job(pieces)
    stamps = stamps_of(entries)
    got = plaintexts(entries, statics, stamps, spans=spans)
    assert got == [build_payload(e, statics, rid) for e, rid in zip(entries, rids, strict=True)]
    assert got == plaintexts(entries, statics, stamps, rids=rids)
    assert runs.id_strings(spans, len(entries), None) == rids
    for data, rid in zip(got, rids, strict=True):
        assert json.loads(data).get("meta", {}).get("record_id") == rid


def test_a_partial_last_line_names_its_range_and_a_cut_inside_a_run_does_not() -> None:
    # One run of five entries, the span covering entries 1-3, its last one a partial line.
    entries: list[EntryTuple] = [(f"m{i} 100%", 1.0, 7, "/l", {}) for i in range(5)]
    spans: list[IdSpan] = [(1, "f:ab:", [10, 20, 30], 35)]
    got = plaintexts(entries, PayloadStatics(), {1.0: "1970-01-01T00:00:01.000000Z"}, spans=spans)
    assert [json.loads(g).get("meta", {}).get("record_id") for g in got] == [
        None,
        "f:ab:10",
        "f:ab:20",
        "f:ab:30-35",
        None,
    ]
    assert [json.loads(g)["message"] for g in got] == [f"m{i} 100%" for i in range(5)]


def test_spans_out_of_order_or_past_the_entries_are_refused() -> None:
    entries: list[EntryTuple] = [("m", 1.0, 7, "/l", {})] * 3
    stamps = stamps_of(entries)
    for spans in ([(0, "f:", [1, 2], -1), (1, "f:", [3], -1)], [(2, "f:", [1, 2], -1)]):
        with pytest.raises(ValueError, match="spans"):
            plaintexts(entries, PayloadStatics(), stamps, spans=spans)


def test_a_prefix_needing_escapes_or_many_short_runs_take_the_str_path() -> None:
    statics = STATICS_CASES[0]
    quoted: list[EntryTuple] = [(f"m{i}", 1.0, 7, "/l", {}) for i in range(4)]
    stamped: list[EntryTuple] = [(f"m{i}", 1.0 + i, 7, "/l", {}) for i in range(40)]
    for entries, prefix in ((quoted, 'f:"q"\\:'), (stamped, "f:ab:")):
        spans: list[IdSpan] = [(0, prefix, list(range(len(entries))), -1)]
        rids = runs.id_strings(spans, len(entries), None)
        got = plaintexts(entries, statics, stamps_of(entries), spans=spans)
        assert got == [build_payload(e, statics, r) for e, r in zip(entries, rids, strict=True)]


@settings(max_examples=40, deadline=None)
@given(st.lists(PIECE, min_size=1, max_size=4))
def test_an_encode_with_spans_decrypts_to_the_entries_and_their_ids(pieces: list[Any]) -> None:
    entries, spans, rids = _job(pieces)
    statics = STATICS_CASES[0]

    def job(**ids: Any) -> EncodeJob:
        return EncodeJob(
            entries=entries,
            key_id="k",
            nonce_prefix=b"\0\0\0\1",
            counter_start=5,
            statics=statics,
            boundary="0123456789abcdef0123456789abcdef",
            max_payload=1 << 20,
            max_request=1 << 26,
            **ids,
        )

    enc = encode_with_aead(job(id_spans=spans), AESGCM(KEY))
    assert enc.body == encode_with_aead(job(rids=rids), AESGCM(KEY)).body  # same nonces
    got = [open_part(part, KEY)[0] for part in parse(enc)]
    assert [g["meta"].get("record_id") for g in got] == rids
