"""A socket chunk packed as ``Entries`` reads, and encodes, exactly as its record list did.

The reference is the line-by-line path (the regex and column paths turned off), which builds
one Record per entry: the packed chunks must give the same records, and a batch of them must
encode to the same bytes on the wire, in process and in a real encode worker.
"""

from __future__ import annotations

import json
import os
from unittest import mock

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logflux_agent.ingest.encode import encode_with_aead
from logflux_agent.ingest.encode_dispatch import job_pieces
from logflux_agent.ingest.packed_job import PackedJob
from logflux_agent.inputs.socket import mapper as mapper_module
from logflux_agent.inputs.socket.mapper import FittedLabels, LineMapper, Policy
from logflux_agent.inputs.socket.rids import RecordIds
from logflux_agent.packed import Entries, Run
from logflux_agent.record import ENTRY_FIELDS, RID, AckToken, Record, Resumable
from tests.unit.ingest.test_packed_job import plain_job, worker_and_record_path

NOW = 1_796_000_100.0
STREAM = Resumable("socket:app:tcp-1")
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from('"\\/é'), max_size=20)
_LABELS = st.none() | st.dictionaries(st.sampled_from(["a", "payload_type"]), _TEXT, max_size=2)
_LABELS |= st.lists(_TEXT, max_size=2)  # PHP's array form
_ENTRY = st.tuples(
    _TEXT,
    st.integers(0, 7),
    st.integers(0, 4_000_000_000) | st.integers(1_796_000_000, 1_796_000_003),
    _LABELS,
    st.sampled_from(["ruby-sdk", "php-sdk", None]),
    st.none() | st.uuids().map(str),
)


def line(entry: tuple[str, int, int, object, str | None, str | None], keyed: bool) -> str:
    """An SDK line (``keyed``: the SDKs' key order and spacing, else another order)."""
    message, level, ts, labels, source, ident = entry
    obj: dict[str, object] = {"id": ident, "message": message, "source": source}
    obj |= {"entry_type": 1, "level": level, "timestamp": ts, "labels": labels}
    obj = {k: v for k, v in obj.items() if v is not None}
    if keyed:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(dict(reversed(obj.items())))


def mapper(n: int) -> LineMapper:
    return LineMapper("socket:app", FittedLabels({"team": "web"}), Policy(), RecordIds(f"a:r-{n}:"))


def chunks_of(chunks: list[list[str]], per_record: bool) -> list[list[Record] | Entries]:
    """Each chunk mapped by its own connection, a counting token on its last entry."""
    out: list[list[Record] | Entries] = []
    for n, lines in enumerate(chunks):
        m = mapper(n)
        if per_record:
            with (
                mock.patch.object(mapper_module, "map_sdk_text", return_value=None),
                mock.patch.object(mapper_module, "map_columns", return_value=None),
            ):
                got: list[Record] | Entries = m.map_lines(lines, NOW)
            assert type(got) is list
            if got:
                got[-1] = got[-1].with_ack(AckToken(STREAM, n))
        else:
            got = m.map_lines(lines, NOW)
            if isinstance(got, Entries):
                got.ack = AckToken(STREAM, n)
            elif got:
                got[-1] = got[-1].with_ack(AckToken(STREAM, n))
        out.append(got)
    return out


_CHUNKS = st.lists(st.tuples(st.lists(_ENTRY, min_size=1, max_size=8), st.booleans()), max_size=5)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_CHUNKS, st.integers(0, 40), st.integers(0, 40))
def test_packed_socket_chunks_give_the_records_and_the_wire_bytes_of_the_record_path(
    spec: list[tuple[list[tuple[str, int, int, object, str | None, str | None]], bool]],
    lo: int,
    hi: int,
) -> None:
    chunks = [[line(e, keyed) for e in entries] for entries, keyed in spec]
    packed = chunks_of(chunks, per_record=False)
    reference = chunks_of(chunks, per_record=True)
    assert [list(p) for p in packed] == reference
    run = Run(packed)[lo : max(lo, hi) or None]
    records = [r for piece in reference for r in piece][lo : max(lo, hi) or None]
    assert isinstance(run, Run) and list(run) == records
    if not records:
        return
    key = AESGCM(os.urandom(32))
    job = PackedJob(plain_job([]), job_pieces(run)).unpack()
    expected = plain_job(list(map(ENTRY_FIELDS, records)))
    expected.rids = list(map(RID, records))
    expected.boundary = job.boundary
    assert encode_with_aead(job, key).body == encode_with_aead(expected, key).body


def test_the_sdk_chunks_of_the_load_test_are_packed() -> None:
    entry = ("GET /api 200", 6, 1_796_000_000, {"payload_type": "application"}, "ruby-sdk", "i-1")
    got = mapper(0).map_lines([line(entry, True), line(entry, True)], NOW)
    assert type(got) is Entries and got.source == "ruby-sdk"
    assert got.attributes[0] is got.attributes[1]  # one dict per label set: pickled once


async def test_a_worker_encodes_packed_socket_chunks_to_the_bytes_of_the_record_path() -> None:
    entries = [(f"m{i}", i % 8, 1_796_000_000 + i, {"a": "b"}, "ruby-sdk", None) for i in range(50)]
    more = [('é "q"', 3, 1_796_000_000, None, None, "id-1")]
    chunks = [[line(e, True) for e in entries], [line(e, False) for e in more * 3]]
    run = Run(chunks_of(chunks, per_record=False))
    assert all(type(p) is Entries for p in run.pieces)
    enc, expected = await worker_and_record_path(run)
    assert enc.body == expected and enc.parts == 53
