"""A packed batch's encode job: the same entries, ids and bytes as the record path."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.ingest.encode import (
    EncodedBatch,
    EncodeJob,
    PayloadStatics,
    encode_with_aead,
    new_boundary,
)
from logflux_agent.ingest.encode_dispatch import job_pieces
from logflux_agent.ingest.encode_pool import EncodePool
from logflux_agent.ingest.packed_job import PackedJob
from logflux_agent.packed import Lines, Run
from logflux_agent.record import ENTRY_FIELDS, RID, AckToken, Record, Resumable

STATICS = PayloadStatics.build(node="web-01", environment=None, agent="logflux-agent/test")
STREAM = Resumable("file:1:2")


def batch() -> Run:
    a = Lines([f"a{i}" for i in range(300)], 1_795_000_000.25, 7, "/var/log/a.log", {"x": "1"})
    a.ack = AckToken(STREAM, 1000)
    rows = [Record("sdk line", 1_795_000_001.0, 3, "sdk", {"k": "v"}, None, "sock:1:0")]
    b = Lines(["b0", 'b1 "quoted"'], 1_795_000_002.0, 7, "/var/log/b.log", {}, None, ["f:1", "f:2"])
    return Run([a, rows, b])


def plain_job(entries: list[tuple[str, float, int, str, dict[str, str]]]) -> EncodeJob:
    return EncodeJob(
        entries=entries,
        key_id="k1",
        nonce_prefix=b"\x00\x01\x02\x03",
        counter_start=40,
        statics=STATICS,
        boundary=new_boundary(),
        max_payload=1 << 20,
        max_request=1 << 24,
    )


def test_unpack_gives_the_entries_and_ids_of_the_record_path() -> None:
    run = batch()
    records = list(run)
    job = PackedJob(plain_job([]), job_pieces(run)).unpack()
    assert job.entries == list(map(ENTRY_FIELDS, records))
    assert job.rids == list(map(RID, records))
    no_ids = Run([run.pieces[0]])
    assert PackedJob(plain_job([]), job_pieces(no_ids)).unpack().rids is None


async def worker_and_record_path(run: Run) -> tuple[EncodedBatch, bytes]:
    """``run`` packed, encoded by a real worker, and as records by the record path: same key,
    nonces and boundary, so with AES-GCM deterministic the bodies must be equal."""
    key = os.urandom(32)
    packed = PackedJob(plain_job([]), job_pieces(run))
    reference = plain_job(list(map(ENTRY_FIELDS, run)))
    reference.boundary = packed.job.boundary
    reference.rids = list(map(RID, run))
    expected = encode_with_aead(reference, AESGCM(key))
    pool = EncodePool(1)
    try:
        enc = await pool.encode(packed, bytearray(key))
    finally:
        await pool.close()
    assert enc is not None
    return enc, expected.body


async def test_a_worker_encodes_a_packed_job_to_the_bytes_of_the_record_path() -> None:
    run = batch()
    enc, expected = await worker_and_record_path(run)
    assert enc.body == expected and enc.parts == len(run) == 303
    assert enc.counters == (40, 343)


def file_lines(tag: str, first: int, end: int = -1) -> Lines:
    """A file input's chunk: ids as columns (prefix, start offsets, partial end)."""
    offsets = [first + 10 * i for i in range(200)]
    ids = (f"f:{tag}:", offsets, end)
    return Lines([f"{tag} {i} 5%" for i in range(200)], 1_795_000_003.0, 7, "/f", {}, None, ids)


def test_id_columns_stay_columns_to_the_encoder_unless_strings_are_in_the_batch() -> None:
    a, b = file_lines("aa", 0), file_lines("bb", 4000, 6100)
    plain = Lines(["no id"], 1_795_000_004.0, 7, "/f", {})
    run = Run([a, plain, b[50:]])
    job = PackedJob(plain_job([]), job_pieces(run)).unpack()
    assert job.rids is None and job.id_spans is not None
    assert [(s[0], s[1], len(s[2]), s[3]) for s in job.id_spans] == [
        (0, "f:aa:", 200, -1),
        (201, "f:bb:", 150, 6100),
    ]
    mixed = PackedJob(plain_job([]), job_pieces(Run([a, batch().pieces[1], b]))).unpack()
    assert mixed.id_spans is None
    assert mixed.rids == [*(a.rids or []), "sock:1:0", *(b.rids or [])]
    assert mixed.rids[-1] == "f:bb:5990-6100"


async def test_a_worker_encodes_id_columns_to_the_bytes_of_the_id_strings() -> None:
    run = Run([file_lines("aa", 0), batch().pieces[0], file_lines("bb", 4000, 6100)[10:]])
    enc, expected = await worker_and_record_path(run)
    assert enc.body == expected and enc.parts == len(run) == 690
