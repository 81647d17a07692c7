"""The encoder checked with independent tools: stdlib ``email`` for framing, gzip, AES-GCM."""

from __future__ import annotations

import base64
import calendar
import email.parser
import email.policy
import gzip
import json
import os
import re
import zlib
from email.message import EmailMessage
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.ingest.encode import (
    COMPRESSORS,
    EncodedBatch,
    EncodeJob,
    EntryTuple,
    PayloadStatics,
    build_payload,
    encode_with_aead,
    format_timestamp,
    new_boundary,
    stored_gzip,
)

KEY = os.urandom(32)
STATICS = PayloadStatics.build(
    node="web-01",
    environment="production",
    agent="logflux-agent/9.9",
    labels={"team": "payments", "service": "default"},
)
TS = calendar.timegm((2026, 11, 28, 10, 0, 0)) + 0.5
EXPECTED_HEADERS = [
    "Content-Type",
    "X-LF-Entry-Type",
    "X-LF-Payload-Type",
    "X-LF-Timestamp",
    "X-LF-Key-ID",
    "X-LF-Nonce",
]
RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def job(
    entries: list[EntryTuple],
    *,
    counter: int = 0,
    prefix: bytes = b"\x01\x02\x03\x04",
    compressor: str = "zlib",
    max_payload: int = 1 << 20,
    max_request: int = 1 << 26,
    statics: PayloadStatics = STATICS,
) -> EncodeJob:
    return EncodeJob(
        entries=entries,
        key_id="key-123",
        nonce_prefix=prefix,
        counter_start=counter,
        statics=statics,
        boundary=new_boundary(),
        max_payload=max_payload,
        max_request=max_request,
        compressor=compressor,
    )


def parse(enc: EncodedBatch, body: bytes | None = None) -> list[EmailMessage]:
    raw = f"Content-Type: {enc.content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + (
        enc.body if body is None else body
    )
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert msg.is_multipart()
    assert not msg.defects, msg.defects
    return list(msg.iter_parts())  # type: ignore[arg-type]


def open_part(part: EmailMessage, key: bytes = KEY) -> tuple[dict[str, Any], bytes]:
    nonce = base64.b64decode(part["X-LF-Nonce"], validate=True)
    body = part.get_payload(decode=True)
    assert isinstance(body, bytes)
    gz = AESGCM(key).decrypt(nonce, body, None)
    assert gz[:2] == b"\x1f\x8b"
    return json.loads(gzip.decompress(gz)), nonce


def entries(n: int, attrs: dict[str, str] | None = None) -> list[EntryTuple]:
    shared = attrs if attrs is not None else {"service": "nginx"}
    return [
        (
            f'line {i} ünïcødé "quoted" \\ \t tab',
            TS + i / 1000,
            1 + i % 8,
            "/var/log/app.log",
            shared,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
def test_multipart_parsed_by_stdlib_email_every_header_and_part(compressor: str) -> None:
    data = entries(5)
    enc = encode_with_aead(job(data, compressor=compressor), AESGCM(KEY))
    assert re.fullmatch(r"[0-9a-f]{32}", enc.boundary)
    assert enc.body.startswith(f"--{enc.boundary}\r\n".encode())
    assert enc.body.endswith(f"\r\n--{enc.boundary}--\r\n".encode())
    parts = parse(enc)
    assert len(parts) == 5
    for i, part in enumerate(parts):
        assert list(part.keys()) == EXPECTED_HEADERS
        assert part["Content-Type"] == "application/octet-stream"
        assert part["X-LF-Entry-Type"] == "1"
        assert part["X-LF-Payload-Type"] == "1"
        assert part["X-LF-Key-ID"] == "key-123"
        assert len(part["X-LF-Nonce"]) == 16
        assert RFC3339_US.match(part["X-LF-Timestamp"])
        payload, nonce = open_part(part)
        assert nonce == b"\x01\x02\x03\x04" + i.to_bytes(8, "big")
        message, ts, level, source, _ = data[i]
        assert payload == {
            "v": "2.0",
            "type": "log",
            "source": source,
            "level": level,
            "ts": part["X-LF-Timestamp"],
            "message": message,
            "attributes": {"team": "payments", "service": "nginx"},
            "meta": {"node": "web-01", "environment": "production", "agent": "logflux-agent/9.9"},
        }
        assert part["X-LF-Timestamp"] == format_timestamp(ts)


def test_timestamp_format_is_rfc3339_utc_microseconds() -> None:
    assert format_timestamp(TS) == "2026-11-28T10:00:00.500000Z"
    assert format_timestamp(TS + 0.000001) == "2026-11-28T10:00:00.500001Z"
    assert format_timestamp(TS + 0.4999996) == "2026-11-28T10:00:01.000000Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00.000000Z"


def test_payload_fields_attributes_merge_record_wins_and_omissions() -> None:
    statics = PayloadStatics.build(
        node="n1", environment=None, agent="a/1", labels={"team": "ops", "env": "x"}
    )
    doc = json.loads(build_payload(("m", TS, 0, "", {"team": "web"}), statics))
    assert doc == {
        "v": "2.0",
        "type": "log",
        "source": "",
        "ts": "2026-11-28T10:00:00.500000Z",
        "message": "m",
        "attributes": {"team": "web", "env": "x"},
        "meta": {"node": "n1", "agent": "a/1"},
    }
    bare = json.loads(build_payload(("m", TS, 7, "s", {}), PayloadStatics()))
    assert "attributes" not in bare and "meta" not in bare
    compact = build_payload(("m", TS, 7, "s", {"k": "v"}), statics)
    assert b": " not in compact and b", " not in compact


def test_awkward_strings_survive_as_json() -> None:
    nasty = "\x00\x1f\u2028 \ud800 lone surrogate 🎉 </script>"
    doc = json.loads(build_payload((nasty, TS, 7, "src\n", {'k"': "v\\"}), STATICS))
    assert doc["message"].startswith("\x00\x1f\u2028 ")
    assert doc["message"].endswith(" lone surrogate 🎉 </script>")
    assert doc["source"] == "src\n"
    assert doc["attributes"]['k"'] == "v\\"


def test_attribute_cache_is_by_identity_not_stale() -> None:
    a1 = {"x": "1"}
    a2 = {"x": "2"}
    data: list[EntryTuple] = [
        ("m", TS, 7, "s", a1),
        ("m", TS, 7, "s", a1),
        ("m", TS, 7, "t", a2),
        ("m", TS, 7, "t", {}),
        ("m", TS, 7, "s", a1),
    ]
    parts = parse(encode_with_aead(job(data), AESGCM(KEY)))
    got = [(open_part(p)[0]["attributes"].get("x"), open_part(p)[0]["source"]) for p in parts]
    assert got == [("1", "s"), ("1", "s"), ("2", "t"), (None, "t"), ("1", "s")]


def test_sub_body_cuts_valid_smaller_bodies_without_reencrypting() -> None:
    enc = encode_with_aead(job(entries(7)), AESGCM(KEY))
    whole = parse(enc)
    for lo, hi in [(0, 1), (0, 3), (3, 7), (6, 7), (2, 5)]:
        body = enc.sub_body(lo, hi)
        assert len(body) == enc.sub_size(lo, hi)
        parts = parse(enc, body)
        assert [p["X-LF-Nonce"] for p in parts] == [p["X-LF-Nonce"] for p in whole[lo:hi]]
        for part in parts:
            open_part(part)
    assert enc.sub_body(0, 7) is enc.body


def test_too_large_entries_are_reported_not_encoded() -> None:
    data = entries(3)
    data[1] = ("x" * 5000, TS, 7, "s", {})
    enc = encode_with_aead(job(data, max_payload=1000), AESGCM(KEY))
    assert enc.included == [0, 2]
    assert enc.too_large[0][0] == 1 and enc.too_large[0][1] > 1000
    parts = parse(enc)
    assert len(parts) == 2
    # the skipped entry still consumed its nonce: counters map to input positions
    assert base64.b64decode(parts[1]["X-LF-Nonce"])[4:] == (2).to_bytes(8, "big")
    # a part that cannot fit in a request even alone is too large too
    small = encode_with_aead(job(entries(2), max_request=300), AESGCM(KEY))
    assert small.parts == 0 and small.body == b"" and len(small.too_large) == 2


def test_nonces_unique_across_jobs_of_one_session() -> None:
    seen: set[bytes] = set()
    counter = 0
    for size in (1, 10, 100, 3):
        enc = encode_with_aead(job(entries(size), counter=counter), AESGCM(KEY))
        assert enc.counters == (counter, counter + size)
        counter += size
        for part in parse(enc):
            nonce = base64.b64decode(part["X-LF-Nonce"])
            assert nonce not in seen
            seen.add(nonce)
    assert len(seen) == 114


def _gzip_members(enc: EncodedBatch) -> list[bytes]:
    return [
        AESGCM(KEY).decrypt(base64.b64decode(p["X-LF-Nonce"]), p.get_payload(decode=True), None)
        for p in parse(enc)
    ]


@pytest.mark.parametrize("size", [0, 1, 300, 16_000])
def test_stored_gzip_is_byte_identical_to_zlib_level_0(size: int) -> None:
    data = os.urandom(size)
    assert stored_gzip(data) == zlib.compress(data, 0, wbits=31)


@pytest.mark.parametrize("size", [65_535, 65_536, 200_000])
def test_stored_gzip_over_one_block_is_a_valid_member(size: int) -> None:
    data = os.urandom(size)
    assert gzip.decompress(stored_gzip(data)) == data


@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
def test_entries_below_compress_min_bytes_are_stored_the_rest_deflated(compressor: str) -> None:
    short = ("short line", TS, 7, "/var/log/app.log", {})
    long = ("x" * 2000, TS, 7, "/var/log/app.log", {})
    j = job([short, long, short], compressor=compressor)
    j.compress_min_bytes = 512
    members = _gzip_members(encode_with_aead(j, AESGCM(KEY)))
    # Byte 10 starts the deflate stream: 0x01 = final stored block; deflated data is smaller.
    assert [m[10] for m in (members[0], members[2])] == [0x01, 0x01]
    assert members[1][10] != 0x01 and len(members[1]) < 2000
    assert [json.loads(gzip.decompress(m))["message"] for m in members] == [
        "short line",
        "x" * 2000,
        "short line",
    ]


def test_compress_min_bytes_zero_deflates_every_entry() -> None:
    j = job(entries(3))
    j.compress_min_bytes = 0
    assert all(m[10] != 0x01 for m in _gzip_members(encode_with_aead(j, AESGCM(KEY))))


def test_distinct_timestamps_levels_and_sources_each_keep_their_own_fields() -> None:
    mixed = [
        ("a", TS, 3, "/a.log", {"k": "1"}),
        ("b", TS + 0.25, 3, "/a.log", {"k": "1"}),
        ("c", TS, 8, "/b.log", {"k": "2"}),
        ("d", TS + 86_400, 3, "/a.log", {}),
    ]
    got = [open_part(p)[0] for p in parse(encode_with_aead(job(mixed), AESGCM(KEY)))]
    assert [
        (g["message"], g["ts"], g["level"], g["source"], g["attributes"].get("k")) for g in got
    ] == [
        ("a", "2026-11-28T10:00:00.500000Z", 3, "/a.log", "1"),
        ("b", "2026-11-28T10:00:00.750000Z", 3, "/a.log", "1"),
        ("c", "2026-11-28T10:00:00.500000Z", 8, "/b.log", "2"),
        ("d", "2026-11-29T10:00:00.500000Z", 3, "/a.log", None),
    ]
