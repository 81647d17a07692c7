"""The hot path: records → v2 payload JSON → gzip → AES-256-GCM → one multipart/mixed body.

``encode_batch`` is a pure function of plain, picklable data (``EncodeJob``), so the client can
run it in a worker process; ``encode_with_aead`` is the same work with a ready AES-GCM object for
in-process use. Protocol §4 (part headers, RFC 2046 framing) and §5 (payload fields) are the
contract. Per-entry cost is kept low by caching the serialised ``attributes`` fragment and the
source across consecutive records (they are usually the same objects), formatting each distinct
second once, and building each part from precomputed byte strings.

Nonces: part *i* of a job uses ``nonce_prefix ‖ (counter_start + i)`` (64-bit big endian); the
session hands out disjoint counter ranges, so a nonce never repeats under one key.
"""

from __future__ import annotations

import binascii
import json
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.ingest.crypto import zero

# (message, timestamp as Unix seconds, level 1-8, source, attributes)
EntryTuple = tuple[str, float, int, str, dict[str, str]]

_GZIP_WBITS = 31  # deflate with a standard RFC 1952 gzip header and trailer


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

_LEVEL_FRAG = {n: f',"level":{n}' for n in range(1, 9)}
_HEAD = (b"Content-Type: application/octet-stream\r\n"
         b"X-LF-Entry-Type: 1\r\n"
         b"X-LF-Payload-Type: 1\r\n"
         b"X-LF-Timestamp: ")


@dataclass(frozen=True, slots=True)
class PayloadStatics:
    """Per-agent payload parts, serialised once: config labels and the ``meta`` fragment."""

    labels: dict[str, str] = field(default_factory=dict)
    meta_fragment: str = ""

    @classmethod
    def build(cls, *, node: str, environment: str | None, agent: str,
              labels: dict[str, str] | None = None) -> PayloadStatics:
        meta = {"node": node}
        if environment:
            meta["environment"] = environment
        meta["agent"] = agent
        return cls(labels=dict(labels or {}), meta_fragment=',"meta":' + _json_object(meta))


@dataclass(slots=True)
class EncodeJob:
    """Everything one encode needs, as plain picklable data.

    ``key`` is only set for worker processes (the copy is zeroed by the worker once it has built
    its cipher, and by the caller when the job completes). ``max_payload`` bounds both the
    plaintext and the encrypted part body; ``max_request`` bounds a one-part request.
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
    key: bytearray | None = field(default=None, repr=False)


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
        return self.body[self.offsets[start]:end] + closing(self.boundary)

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


def entry_tuple(message: str, timestamp: float, level: int, source: str,
                attributes: dict[str, str]) -> EntryTuple:
    return (message, timestamp, level, source, attributes)


def format_timestamp(ts: float) -> str:
    """RFC 3339 UTC with microseconds and ``Z`` (protocol §4: the agent sends microseconds)."""
    sec, us = divmod(round(ts * 1_000_000), 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{us:06d}Z"


def _json_object(obj: dict[str, str]) -> str:
    return json.dumps({str(k): str(v) for k, v in obj.items()}, ensure_ascii=False,
                      separators=(",", ":"))


def encode_batch(job: EncodeJob) -> EncodedBatch:
    """Encode in a worker process: builds the cipher from ``job.key``, then zeroes that copy."""
    if job.key is None:
        raise ValueError("encode_batch needs job.key (use encode_with_aead in-process)")
    try:
        aead = AESGCM(bytes(job.key))
    finally:
        zero(job.key)
    return _encode(job, aead, None)


def encode_with_aead(job: EncodeJob, aead: AESGCM) -> EncodedBatch:
    """Encode in-process with the session's cipher object."""
    return _encode(job, aead, None)


def encode_with_nonces(job: EncodeJob, aead: AESGCM, nonces: Sequence[bytes]) -> EncodedBatch:
    """Test-only entry point: explicit nonces (protocol §9 vector 1 is byte-exact)."""
    if len(nonces) != len(job.entries):
        raise ValueError("one nonce per entry")
    return _encode(job, aead, list(nonces))


def build_payload(entry: EntryTuple, statics: PayloadStatics) -> bytes:
    """The v2 plaintext JSON of one entry (the same code path the batch encoder uses)."""
    job = EncodeJob(entries=[entry], key_id="-", nonce_prefix=b"\0" * 4, counter_start=0,
                    statics=statics, boundary="b", max_payload=1 << 62, max_request=1 << 62)
    payloads: list[bytes] = []
    _encode(job, None, None, payloads.append)
    return payloads[0]


def _encode(job: EncodeJob, aead: AESGCM | None, nonces: list[bytes] | None,
            capture: Callable[[bytes], Any] | None = None) -> EncodedBatch:
    compress = COMPRESSORS[job.compressor]
    encrypt = aead.encrypt if aead is not None else None
    b64 = binascii.b2a_base64
    enc_str = encode_basestring
    labels = job.statics.labels
    meta = job.statics.meta_fragment
    max_payload = job.max_payload
    boundary = job.boundary
    close_len = len(closing(boundary))
    delim = f"--{boundary}\r\n".encode("ascii")
    head = delim + _HEAD
    mid = f"\r\nX-LF-Key-ID: {job.key_id}\r\nX-LF-Nonce: ".encode("ascii")
    level_frag = _LEVEL_FRAG

    chunks: list[bytes] = []
    sizes: list[int] = []
    offsets: list[int] = []
    included: list[int] = []
    too_large: list[tuple[int, int]] = []
    plain_total = 0
    pos = 0

    last_attrs: object = None
    attrs_frag = ""
    last_source: str | None = None
    source_frag = ""
    last_sec = -1
    sec_text = ""

    prefix = job.nonce_prefix
    counter = job.counter_start
    for index, (message, ts, level, source, attrs) in enumerate(job.entries):
        nonce = prefix + (counter + index).to_bytes(8, "big") if nonces is None else nonces[index]
        if attrs is not last_attrs:
            last_attrs = attrs
            merged = {**labels, **attrs} if labels else attrs
            attrs_frag = ',"attributes":' + _json_object(merged) if merged else ""
        if source is not last_source:
            last_source = source
            source_frag = '{"v":"2.0","type":"log","source":' + enc_str(source)
        sec, us = divmod(round(ts * 1_000_000), 1_000_000)
        if sec != last_sec:
            last_sec = sec
            sec_text = _second_text(sec)
        stamp = f"{sec_text}.{us:06d}Z"
        text = (f'{source_frag}{level_frag.get(level, "")},"ts":"{stamp}",'
                f'"message":{enc_str(message)}{attrs_frag}{meta}}}')
        try:
            plaintext = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: keep the entry, replace the bad code points
            plaintext = text.encode("utf-8", "replace")
        if capture is not None:
            capture(plaintext)
            continue
        if len(plaintext) > max_payload:
            too_large.append((index, len(plaintext)))
            continue
        assert encrypt is not None
        sealed = encrypt(nonce, compress(plaintext), None)
        header = b"%s%s%s%s\r\n\r\n" % (head, stamp.encode("ascii"), mid,
                                        b64(nonce, newline=False))
        size = len(header) + len(sealed)
        if len(sealed) > max_payload or size + close_len > job.max_request:
            too_large.append((index, len(sealed)))
            continue
        if chunks:
            chunks.append(b"\r\n")
            pos += 2
        chunks.append(header)
        chunks.append(sealed)
        offsets.append(pos)
        sizes.append(size)
        included.append(index)
        plain_total += len(plaintext)
        pos += size
    if chunks:
        chunks.append(closing(boundary))
    return EncodedBatch(
        body=b"".join(chunks), boundary=boundary, part_sizes=sizes, offsets=offsets,
        included=included, too_large=too_large, plaintext_bytes=plain_total,
        counters=(job.counter_start, job.counter_start + len(job.entries)),
    )


def _second_text(sec: int) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    except (OverflowError, OSError, ValueError):  # an absurd timestamp must not sink the batch
        return "1970-01-01T00:00:00"
