"""The encoder's batch-at-once shortcuts give exactly what the one-entry-at-a-time forms give.

Plaintext runs escaped in a few passes == ``json.dumps`` of each entry (any string, any run
layout); nonce blocks == ``prefix ‖ counter`` one by one and their base64 == per-nonce base64;
a whole encode == the same encode with those nonces passed one by one, every part decrypted
with real AES-GCM. The encoder module loads no configuration code (the worker's imports).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from itertools import repeat
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.config.model import MAX_LABELS as CONFIG_MAX_LABELS
from logflux_agent.ingest.encode import (
    EncodeJob,
    EntryTuple,
    PayloadStatics,
    encode_with_aead,
    encode_with_nonces,
    format_timestamp,
)
from logflux_agent.ingest.limits import MAX_LABELS
from logflux_agent.ingest.nonces import HEADER_END, cut, header_values, nonce_block
from logflux_agent.ingest.plaintext import plaintexts, stamps_of
from tests.support.strategies import message_text
from tests.unit.ingest.test_encode import open_part, parse

KEY = os.urandom(32)
STATICS = PayloadStatics.build(
    node="web-01", environment="prod", agent="logflux-agent/9.9", labels={"team": "pay"}
)
ATTRIBUTE_SETS: list[dict[str, str]] = [{}, {"service": "nginx"}, {"k": 'v "é" \\ \x01'}]
TIMESTAMPS = [1_795_000_000.0, 1_795_000_000.25, 1_795_000_001.000001]
SOURCES = ["/var/log/app.log", "stdin", 'we"ird\\src\t']

# Access-log-like text (printable ASCII: the fast path, which escapes quotes and backslashes)
# or any text, with every character class json treats apart: quotes, backslashes, control
# characters, newlines, DEL, non-ASCII, lone surrogates.
PLAIN = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7F), max_size=60)
MESSAGE = message_text(ascii_max=60, other_max=30)
ENTRY = st.tuples(
    MESSAGE,
    st.sampled_from(TIMESTAMPS),
    st.sampled_from([0, 1, 7, 8, 9]),
    st.sampled_from(SOURCES),
    st.sampled_from(range(len(ATTRIBUTE_SETS))),
)


def _entries(drawn: list[tuple[str, float, int, str, int]]) -> list[EntryTuple]:
    # Shared attribute dicts, as inputs hand them: the encoder keys its JSON by identity.
    return [(m, ts, lv, src, ATTRIBUTE_SETS[a]) for m, ts, lv, src, a in drawn]


def _expected(entry: EntryTuple) -> bytes:
    message, ts, level, source, attrs = entry
    obj: dict[str, Any] = {"v": "2.0", "type": "log", "source": source}
    if 1 <= level <= 8:
        obj["level"] = level
    obj["ts"] = format_timestamp(ts)
    obj["message"] = message
    merged = {**STATICS.labels, **attrs}
    if merged:
        obj["attributes"] = merged
    obj["meta"] = {"node": "web-01", "environment": "prod", "agent": "logflux-agent/9.9"}
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")  # lone surrogates: replaced, the entry kept


@settings(max_examples=300, deadline=None)
@given(st.lists(ENTRY, min_size=1, max_size=40))
def test_plaintexts_equal_json_dumps_of_each_entry(drawn: list[Any]) -> None:
    entries = _entries(drawn)
    got = plaintexts(entries, STATICS, stamps_of(entries))
    assert got == [_expected(e) for e in entries]


@settings(max_examples=100, deadline=None)
@given(st.lists(ENTRY, min_size=1, max_size=20), st.booleans())
def test_plaintexts_with_record_ids_equal_json_dumps(drawn: list[Any], mixed: bool) -> None:
    entries = _entries(drawn)
    rids: list[str | None] = [f"f:{i}" if i % 2 or not mixed else None for i in range(len(drawn))]
    got = plaintexts(entries, STATICS, stamps_of(entries), rids=rids)
    for data, entry, rid in zip(got, entries, rids, strict=True):
        want = json.loads(_expected(entry))
        if rid is not None:
            want["meta"]["record_id"] = rid
        assert json.loads(data) == want


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 25),
            ENTRY,
            st.one_of(st.lists(PLAIN, min_size=25), st.lists(MESSAGE, min_size=25)),
        ),
        max_size=6,
    )
)
def test_plaintexts_of_long_runs_equal_json_dumps(runs: list[Any]) -> None:
    # Runs of neighbours sharing timestamp, level, source and attributes (how inputs hand
    # entries over): the path that builds a run's JSON at once.
    drawn = [(m, *entry[1:]) for length, entry, messages in runs for m in messages[:length]]
    entries = _entries(drawn)
    got = plaintexts(entries, STATICS, stamps_of(entries))
    assert got == [_expected(e) for e in entries]


@settings(max_examples=100, deadline=None)
@given(st.lists(PLAIN, min_size=1, max_size=40), st.booleans())
def test_plain_entries_each_stamped_apart_equal_json_dumps(messages: list[str], ids: bool) -> None:
    # An input that stamps each entry (syslog, the SDK socket): no runs, the batch's plain
    # messages are escaped at once and framed per entry, with or without record ids.
    entries: list[EntryTuple] = [
        (m, TIMESTAMPS[0] + i / 1000, 7, "stdin", ATTRIBUTE_SETS[1]) for i, m in enumerate(messages)
    ]
    rids: list[str | None] | None = [f'f:"{i}"' for i in range(len(entries))] if ids else None
    got = plaintexts(entries, STATICS, stamps_of(entries), rids=rids)
    want = [_expected(e) for e in entries]
    if rids is None:
        assert got == want
    for data, expected, rid in zip(got, want, rids or repeat(None), strict=False):
        record = json.loads(expected)
        if rid is not None:
            record["meta"]["record_id"] = rid
        assert json.loads(data) == record


def test_a_run_of_plain_messages_is_one_json_per_entry() -> None:
    # The fast path's own edge cases: empty messages, quotes and backslashes only, DEL.
    messages = ["", '"', "\\", '\\"', "\x7f", "a b", ""]
    entries: list[EntryTuple] = [(m, TIMESTAMPS[0], 7, "stdin", {}) for m in messages]
    got = plaintexts(entries, STATICS, stamps_of(entries))
    assert [json.loads(g)["message"] for g in got] == messages
    assert got == [_expected(e) for e in entries]


@given(
    st.binary(min_size=4, max_size=4),
    st.integers(min_value=0, max_value=(1 << 64) - 2001),
    st.integers(min_value=0, max_value=2000),
)
def test_nonce_block_is_prefix_and_big_endian_counter_per_part(
    prefix: bytes, start: int, count: int
) -> None:
    block = nonce_block(prefix, start, count)
    one_by_one = [prefix + (start + i).to_bytes(8, "big") for i in range(count)]
    assert list(cut(block, 12, count)) == one_by_one
    values = cut(header_values(block, count), 20, count)
    assert list(values) == [base64.b64encode(n) + HEADER_END for n in one_by_one]


def test_nonce_counter_past_64_bits_is_refused_not_wrapped() -> None:
    with pytest.raises(OverflowError):
        nonce_block(b"\0\0\0\1", (1 << 64) - 1, 2)
    with pytest.raises(ValueError, match="4 bytes"):
        nonce_block(b"\0\0\1", 0, 1)


def _job(entries: list[EntryTuple], compress_min_bytes: int, max_payload: int) -> EncodeJob:
    return EncodeJob(
        entries=entries,
        key_id="key-1",
        nonce_prefix=b"\x0a\x0b\x0c\x0d",
        counter_start=41,
        statics=STATICS,
        boundary="0123456789abcdef0123456789abcdef",
        max_payload=max_payload,
        max_request=1 << 26,
        compressor="zlib",
        compress_min_bytes=compress_min_bytes,
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(ENTRY, min_size=1, max_size=25),
    st.sampled_from([0, 200, 1 << 20]),
    st.sampled_from([1 << 20, 300]),
)
def test_encode_equals_the_encode_with_nonces_given_one_by_one(
    drawn: list[Any], compress_min_bytes: int, max_payload: int
) -> None:
    entries = _entries(drawn)
    job = _job(entries, compress_min_bytes, max_payload)
    aead = AESGCM(KEY)
    enc = encode_with_aead(job, aead)
    nonces = [b"\x0a\x0b\x0c\x0d" + (41 + i).to_bytes(8, "big") for i in range(len(entries))]
    same = encode_with_nonces(job, aead, nonces)
    assert enc.body == same.body
    assert (enc.part_sizes, enc.offsets, enc.included, enc.too_large) == (
        same.part_sizes,
        same.offsets,
        same.included,
        same.too_large,
    )
    assert enc.plaintext_bytes == same.plaintext_bytes
    if not enc.included:
        assert enc.body == b""
        return
    for p, part in enumerate(parse(enc)):
        payload, nonce = open_part(part, KEY)
        index = enc.included[p]
        assert nonce == nonces[index]
        assert payload == json.loads(_expected(entries[index]))
        chunk = enc.body[enc.offsets[p] : enc.offsets[p] + enc.part_sizes[p]]
        assert chunk.startswith(b"--0123456789abcdef0123456789abcdef\r\n")
    for _index, size in enc.too_large:
        assert size > max_payload


def test_the_encoder_loads_no_configuration_code() -> None:
    # The encode worker imports this module: config.model alone cost ~50 ms and ~1.5 MiB.
    code = (
        "import sys, logflux_agent.ingest.encode_worker; "
        "sys.exit(any(m.startswith('logflux_agent.config') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    assert MAX_LABELS == CONFIG_MAX_LABELS
