"""The hot path: records → v2 payload JSON → gzip → AES-256-GCM → one multipart/mixed body.

``encode_with_aead`` is a pure function of plain, picklable data (``EncodeJob``) and a cipher,
so it runs the same in the agent or in a worker process (``encode_worker.py``). Protocol §4 (part
headers, RFC 2046 framing) and §5 (payload fields) are the contract.

Per-entry cost: the batch is encoded column by column, each step one ``map`` over the entries,
so the per-entry loop runs in C; Python code runs once per batch, per *run* of neighbours with
the same timestamp, level, source and attributes object (inputs hand over a read chunk as one
such run: its JSON around the messages and its part headers are made once), or per distinct
attributes object. The nonces and their header values are whole blocks (nonces.py), the body
one join of each part's lead, nonce value and sealed body. Where the CPU goes, step by step:
``benchmarks/encode.py --steps``.

Compression: every part body is a standard RFC 1952 gzip member (protocol §4). Entries shorter
than ``compress_min_bytes`` get a *stored* member (deflate's level 0: header, raw bytes, CRC) —
deflating a ~250-byte entry saves ~30 bytes of a ~560-byte part but costs most of the
per-entry CPU (building Huffman tables dominates at that size). Longer entries are deflated.

Record ids: an entry with a ``rid`` (record.py) gets it in ``meta`` under ``record_id``
(docs/record-ids.md); ``EncodeJob.rids`` is None when no entry of the job has one as a str, and
``EncodeJob.id_spans`` carries a file input's ids as columns (runs.py: prefix and offsets,
written into each run's JSON at once); with neither the encoder runs exactly as without the
feature.

Top-level ``labels`` are merged here, per distinct attributes object: the entry's own
attributes (already fitted to the limits by its input or processors) win, and labels are added
in their configured order while there are fewer than ``MAX_LABELS``; the rest are cut and
counted (``EncodedBatch.labels_cut``; the agent counts them in ``attributes_truncated_total``).

Nonces: part *i* of a job uses ``nonce_prefix ‖ (counter_start + i)`` (64-bit big endian); the
session hands out disjoint counter ranges, so a nonce never repeats under one key.
"""

from __future__ import annotations

import binascii
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import accumulate, chain, islice, repeat
from operator import add, sub
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.ingest.nonces import (
    B64_BYTES,
    HEADER_END,
    NONCE_BYTES,
    header_values,
    nonce_block,
)
from logflux_agent.ingest.nonces import cut as cut_block
from logflux_agent.ingest.plaintext import ATTRIBUTES_OF, TS_OF, plaintexts, run_starts, stamps_of

# Re-exported: the payload's types live in plaintext.py, the encoder's callers import them here.
from logflux_agent.ingest.plaintext import EntryTuple as EntryTuple
from logflux_agent.ingest.plaintext import PayloadStatics as PayloadStatics
from logflux_agent.ingest.plaintext import entry_tuple as entry_tuple
from logflux_agent.ingest.plaintext import format_timestamp as format_timestamp
from logflux_agent.ingest.runs import IdSpan

GCM_TAG_BYTES = 16
_GZIP_WBITS = 31  # deflate with a standard RFC 1952 gzip header and trailer
# What zlib writes at level 0: magic, deflate, no flags, mtime 0, XFL 4 (fastest), OS 3 (Unix).
_STORED_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03"
_STORED_BLOCK_MAX = 0xFFFF
_pack_block = struct.Struct("<BHH").pack
_pack_trailer = struct.Struct("<II").pack
_STORED_OVERHEAD = len(_STORED_HEADER) + 5 + 8  # gzip header, one block header, trailer


def stored_gzip(data: bytes) -> bytes:
    """``data`` as a gzip member of stored deflate blocks; byte-identical to zlib's level 0."""
    size = len(data)
    trailer = _pack_trailer(zlib.crc32(data), size & 0xFFFFFFFF)
    if size <= _STORED_BLOCK_MAX:
        return b"%s%s%s%s" % (_STORED_HEADER, _pack_block(1, size, size ^ 0xFFFF), data, trailer)
    pieces = [_STORED_HEADER]
    view = memoryview(data)
    for start in range(0, size, _STORED_BLOCK_MAX):
        block = view[start : start + _STORED_BLOCK_MAX]
        final = 1 if start + _STORED_BLOCK_MAX >= size else 0
        pieces.append(_pack_block(final, len(block), len(block) ^ 0xFFFF))
        pieces.append(bytes(block))
    pieces.append(trailer)
    return b"".join(pieces)


def _zlib_gzip(data: bytes) -> bytes:
    # Level 6 = Go's compress/gzip and Node's gzipSync default; equals gzip.compress(d, 6, mtime=0).
    return zlib.compress(data, 6, wbits=_GZIP_WBITS)


_isal_zlib: Any
try:
    from isal import isal_zlib as _isal_zlib
except ImportError:  # the optional "fast" extra is not installed
    _isal_zlib = None


def _isal_gzip(data: bytes) -> bytes:
    assert _isal_zlib is not None
    out: bytes = _isal_zlib.compress(data, 1, wbits=_GZIP_WBITS)
    return out


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"zlib": _zlib_gzip}
if _isal_zlib is not None:
    COMPRESSORS["isal"] = _isal_gzip
DEFAULT_COMPRESSOR = "isal" if _isal_zlib is not None else "zlib"

_HEAD = (
    b"Content-Type: application/octet-stream\r\n"
    b"X-LF-Entry-Type: 1\r\n"
    b"X-LF-Payload-Type: 1\r\n"
    b"X-LF-Timestamp: "
)


@dataclass(slots=True)
class EncodeJob:
    """Everything one encode needs but the key, as plain picklable data.

    ``max_payload`` bounds both the plaintext and the encrypted part body; ``max_request``
    bounds a one-part request.
    """

    entries: list[EntryTuple]
    key_id: str
    nonce_prefix: bytes
    counter_start: int
    statics: PayloadStatics
    boundary: str
    max_payload: int
    max_request: int
    compressor: str = DEFAULT_COMPRESSOR
    compress_min_bytes: int = 0  # the agent passes sender.compress_min_bytes
    # Each entry's record id (None: that entry has none); None when no entry has one.
    rids: list[str | None] | None = None
    # Record ids as columns (runs.py), for entries ``rids`` leaves without one.
    id_spans: list[IdSpan] | None = None


@dataclass(slots=True)
class EncodedBatch:
    """One multipart body. Part *p* holds input entry ``included[p]``.

    ``offsets``/``part_sizes`` locate each part's chunk (``--b CRLF headers CRLF CRLF body``)
    inside ``body``; chunks are separated by CRLF and followed by ``CRLF --b-- CRLF``, so any
    contiguous run of parts can be cut out as a valid smaller body without re-encrypting.
    """

    body: bytes
    boundary: str
    part_sizes: list[int]
    offsets: list[int]
    included: list[int]
    too_large: list[tuple[int, int]]  # (input index, size that broke the limit)
    plaintext_bytes: int
    counters: tuple[int, int]  # [start, stop) of the nonce counters this job used
    labels_cut: int = 0  # top-level labels left out of entries at the attribute limit

    @property
    def content_type(self) -> str:
        return f"multipart/mixed; boundary={self.boundary}"

    @property
    def parts(self) -> int:
        return len(self.part_sizes)

    def sub_body(self, start: int, stop: int) -> bytes:
        """The valid multipart body holding parts ``[start, stop)`` only."""
        if start == 0 and stop == len(self.part_sizes):
            return self.body
        end = self.offsets[stop - 1] + self.part_sizes[stop - 1]
        return self.body[self.offsets[start] : end] + closing(self.boundary)

    def sub_size(self, start: int, stop: int) -> int:
        end = self.offsets[stop - 1] + self.part_sizes[stop - 1]
        return end - self.offsets[start] + len(closing(self.boundary))


def new_boundary() -> str:
    """32 hex characters from 16 random bytes (the JS SDK's length; Go uses 60).

    The delimiter is repeated once per part, so the shorter form saves 28 bytes per entry on
    the wire; 128 random bits still make a collision with part content negligible.
    """
    return os.urandom(16).hex()


def closing(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode("ascii")


def encode_with_aead(job: EncodeJob, aead: AESGCM) -> EncodedBatch:
    """Encode in-process with the session's cipher object."""
    return _encode(job, aead, None)


def encode_with_nonces(job: EncodeJob, aead: AESGCM, nonces: Sequence[bytes]) -> EncodedBatch:
    """Test-only entry point: explicit nonces (protocol §9 vector 1 is byte-exact)."""
    if len(nonces) != len(job.entries):
        raise ValueError("one nonce per entry")
    return _encode(job, aead, list(nonces))


def build_payload(entry: EntryTuple, statics: PayloadStatics, rid: str | None = None) -> bytes:
    """The v2 plaintext JSON of one entry (the same code path the batch encoder uses)."""
    job = EncodeJob(
        rids=None if rid is None else [rid],
        entries=[entry],
        key_id="-",
        nonce_prefix=b"\0" * 4,
        counter_start=0,
        statics=statics,
        boundary="b",
        max_payload=1 << 62,
        max_request=1 << 62,
    )
    payloads: list[bytes] = []
    _encode(job, None, None, payloads.append)
    return payloads[0]


def _encode(
    job: EncodeJob,
    aead: AESGCM | None,
    nonces: list[bytes] | None,
    capture: Callable[[bytes], object] | None = None,
) -> EncodedBatch:
    # Column-wise: each step is one map() over the batch, so the per-entry work runs in C and
    # Python-level code runs only per batch or per distinct (timestamp, level, source) value.
    entries = job.entries
    count = len(entries)
    # Runs of neighbours sharing timestamp, level, source and attributes share all but the
    # message: their JSON and part headers are made once per run.
    starts = run_starts(entries)
    firsts = list(map(entries.__getitem__, starts[:-1]))
    stamps = stamps_of(firsts)
    tokens: dict[int, bytes] = {}  # id(attributes) → the search tokens header, when any
    cut: list[int] = [0]
    texts = plaintexts(entries, job.statics, stamps, tokens, job.rids, cut, starts, job.id_spans)
    if capture is not None:
        for plaintext in texts:
            capture(plaintext)
    if capture is not None or aead is None or not count:
        return _assemble(job, b"", [], [], [], 0, cut[0])
    if nonces is None:
        block = nonce_block(job.nonce_prefix, job.counter_start, count)
        values = cut_block(header_values(block, count), B64_BYTES + len(HEADER_END), count)
        nonces = list(cut_block(block, NONCE_BYTES, count))
    else:
        values = tuple(map(add, map(_b64_nonce, nonces), repeat(HEADER_END)))
    sizes = list(map(len, texts))
    datas, stored = _gzip_all(texts, sizes, COMPRESSORS[job.compressor], job.compress_min_bytes)
    sealed = list(map(aead.encrypt, nonces, datas, repeat(None)))
    leads, lead_sizes = _leads(job, starts, firsts, stamps, tokens)
    # A part's chunk: lead (less its CRLF, which separates it from the chunk before), the
    # nonce header value with the blank line, the sealed body. With every entry stored, a
    # sealed body is its plaintext and a constant: sizes follow from the plaintext sizes.
    extra = B64_BYTES + len(HEADER_END) - 2
    lengths = map(add, sizes, repeat(stored + GCM_TAG_BYTES)) if stored else map(len, sealed)
    if isinstance(lead_sizes, int):
        part_sizes = list(map(add, lengths, repeat(lead_sizes + extra)))
    else:
        part_sizes = list(map(add, lengths, map(add, lead_sizes, repeat(extra))))
    max_sealed = max(sizes) + stored + GCM_TAG_BYTES if stored else max(map(len, sealed))
    if (
        max(sizes) > job.max_payload
        or max_sealed > job.max_payload
        or max(part_sizes) > job.max_request - len(closing(job.boundary))
    ):  # rare: sort out which entries broke a limit, frame the others
        return _without_too_large(job, texts, sealed, leads, values, part_sizes, cut[0])
    pieces = list(chain.from_iterable(zip(leads, values, sealed, strict=False)))
    return _assemble(
        job, _body(job, pieces), part_sizes, list(range(count)), [], sum(sizes), cut[0]
    )


def _leads(
    job: EncodeJob,
    starts: list[int],
    firsts: list[EntryTuple],
    stamps: dict[float, str],
    tokens: dict[int, bytes],
) -> tuple[Any, int | list[int]]:
    """Each part's text up to its nonce value (CRLF, delimiter, headers), made per run, and
    its size: one number when every lead has it (the usual case), else a list."""
    head = f"\r\n--{job.boundary}\r\n".encode("ascii") + _HEAD
    mid = f"\r\nX-LF-Key-ID: {job.key_id}\r\nX-LF-Nonce: ".encode("ascii")
    # (C-level maps: an input that stamps each entry has one stamp per entry.)
    stamp_of = dict(
        zip(stamps, map(add, repeat(head), map(str.encode, stamps.values())), strict=True)
    )
    run_leads: Any = map(stamp_of.__getitem__, map(TS_OF, firsts))
    if tokens:  # only with a search_tokens processor: the header follows X-LF-Timestamp
        found = map(tokens.get, map(id, map(ATTRIBUTES_OF, firsts)), repeat(b""))
        run_leads = map(add, run_leads, found)
    run_leads = list(map(add, run_leads, repeat(mid)))
    lengths = set(map(len, run_leads))
    if len(run_leads) == 1:
        column: Any = repeat(run_leads[0])
    elif len(run_leads) == len(starts) - 1 == starts[-1]:  # each entry a run of its own
        column = run_leads
    else:
        column = chain.from_iterable(map(repeat, run_leads, map(sub, starts[1:], starts[:-1])))
    if len(lengths) == 1:
        return column, lengths.pop()
    leads = list(column)
    return leads, list(map(len, leads))


def _body(job: EncodeJob, pieces: list[bytes]) -> bytes:
    """Join the parts' pieces (lead, nonce value, sealed body, ...) and close the body."""
    if not pieces:
        return b""
    pieces[0] = pieces[0][2:]  # the first delimiter has no CRLF before it
    pieces.append(closing(job.boundary))
    return b"".join(pieces)


def _without_too_large(
    job: EncodeJob,
    texts: list[bytes],
    sealed: list[bytes],
    leads: Any,
    values: tuple[bytes, ...],
    part_sizes: list[int],
    labels_cut: int,
) -> EncodedBatch:
    leads = list(islice(leads, len(texts)))  # a column, a list or an endless repeat
    max_chunk = job.max_request - len(closing(job.boundary))
    too_large: list[tuple[int, int]] = []
    keep: list[int] = []
    for index, text in enumerate(texts):
        if len(text) > job.max_payload:
            too_large.append((index, len(text)))
        elif len(sealed[index]) > job.max_payload or part_sizes[index] > max_chunk:
            too_large.append((index, len(sealed[index])))
        else:
            keep.append(index)
    pieces = [p for i in keep for p in (leads[i], values[i], sealed[i])]
    sizes = [part_sizes[i] for i in keep]
    plain = sum(len(texts[i]) for i in keep)
    return _assemble(job, _body(job, pieces), sizes, keep, too_large, plain, labels_cut)


_b64_nonce = partial(binascii.b2a_base64, newline=False)


def _gzip_all(
    plaintexts: list[bytes], sizes: list[int], deflate: Callable[[bytes], bytes], min_deflate: int
) -> tuple[list[bytes], int]:
    """Each plaintext as a gzip member, and what a member adds to its plaintext when every one
    is stored in one block (else 0)."""
    if max(sizes) < min(min_deflate, _STORED_BLOCK_MAX + 1):
        # All stored, each in one block: header with block header (one per distinct size),
        # data, CRC-32 and size trailer.
        heads = {n: _STORED_HEADER + _pack_block(1, n, n ^ 0xFFFF) for n in set(sizes)}
        trailers = map(_pack_trailer, map(zlib.crc32, plaintexts), sizes)
        members = zip(map(heads.__getitem__, sizes), plaintexts, trailers, strict=True)
        return list(map(b"".join, members)), _STORED_OVERHEAD
    if min(sizes) >= min_deflate:
        return list(map(deflate, plaintexts)), 0
    return [deflate(p) if len(p) >= min_deflate else stored_gzip(p) for p in plaintexts], 0


def _assemble(
    job: EncodeJob,
    body: bytes,
    part_sizes: list[int],
    included: list[int],
    too_large: list[tuple[int, int]],
    plain_total: int,
    labels_cut: int = 0,
) -> EncodedBatch:
    """The batch of ``body`` (chunks joined by CRLF, closed); where each chunk starts."""
    offsets = (
        list(accumulate(map(add, part_sizes[:-1], repeat(2)), initial=0)) if part_sizes else []
    )
    return EncodedBatch(
        body=body,
        boundary=job.boundary,
        part_sizes=part_sizes,
        offsets=offsets,
        included=included,
        too_large=too_large,
        plaintext_bytes=plain_total,
        counters=(job.counter_start, job.counter_start + len(job.entries)),
        labels_cut=labels_cut,
    )
