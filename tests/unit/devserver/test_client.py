"""The reference ingestor over real loopback HTTP, driven by a client built here from protocol.md
with the standard library and ``cryptography`` (not the devserver's code, not ingest/):
discovery, the handshake in all its shapes, and accepted ingest requests recorded exactly.

The ``Wire`` client is in tests/support/wire.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes

from tests.support.refingestor import InProcessIngestor
from tests.support.wire import (
    Entry,
    Wire,
    build_part,
    multipart,
    wrap_key,
)


@pytest.fixture
async def ing() -> AsyncIterator[InProcessIngestor]:
    async with InProcessIngestor() as server:
        yield server


@pytest.fixture
async def wire(ing: InProcessIngestor) -> AsyncIterator[Wire]:
    async with aiohttp.ClientSession() as http:
        yield Wire(http, ing.url, ing.api_key)


# -- discovery ------------------------------------------------------------------------------------


async def test_static_discovery_names_itself_without_auth(
    ing: InProcessIngestor, wire: Wire
) -> None:
    reply = await wire.request("GET", "/")
    assert reply.status == 200
    assert reply.body["endpoints"]["ingestor_url"] == ing.url
    assert reply.body["version"] == "1" and reply.body["region"] == "eu"
    ing.config(static_without_ingestor_url=True)
    reply = await wire.request("GET", "/")
    assert "ingestor_url" not in reply.body["endpoints"]


async def test_authenticated_discovery_current_and_legacy(
    ing: InProcessIngestor, wire: Wire
) -> None:
    denied = await wire.request("GET", "/api/discovery")
    assert denied.status == 401 and denied.body["error"]["code"] == "missing_api_key"
    assert denied.body["request_id"]
    wrong = await wire.request("GET", "/api/discovery", headers=wire.auth("eu-lf_wrong0000"))
    assert wrong.status == 401 and wrong.body["error"]["code"] == "invalid_api_key"
    ok = await wire.request("GET", "/api/discovery", headers=wire.auth())
    assert ok.status == 200 and ok.body["ingestor_url"] == ing.url
    ing.config(legacy_discovery=True)
    legacy = await wire.request("GET", "/api/discovery", headers=wire.auth())
    assert legacy.body["status"] == "success" and legacy.body["data"]["base_url"] == ing.url


async def test_health_and_info(ing: InProcessIngestor, wire: Wire) -> None:
    assert (await wire.request("GET", "/health")).status == 200
    info = await wire.request("GET", "/info")
    assert info.body["public_key_fingerprint"] == ing.fingerprint
    assert info.body["limits"]["max_batch_size"] == 1000


# -- handshake ------------------------------------------------------------------------------------


async def test_init_flat_and_wrapped(ing: InProcessIngestor, wire: Wire) -> None:
    flat = await wire.init()
    assert flat.status == 200
    assert flat.body["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert flat.body["supports_multipart"] is True
    assert flat.body["limits"] == {
        "max_batch_size": 1000,
        "max_payload_size": 1048576,
        "max_request_size": 10485760,
    }
    ing.config(init_wrapped=True, limits={"max_batch_size": 7})
    wrapped = await wire.init()
    assert "public_key" not in wrapped.body and wrapped.body["status"] == "success"
    assert wrapped.body["data"]["public_key"] == flat.body["public_key"]
    assert wrapped.body["data"]["limits"]["max_batch_size"] == 7


async def test_complete_key_id_key_uuid_and_wrapped(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    assert len(session.key_id) == 36
    ing.config(key_id_field="key_uuid")
    pem = (await wire.init()).body["public_key"]
    reply = await wire.complete(wrap_key(pem, os.urandom(32)))
    assert reply.status == 200 and "key_id" not in reply.body and reply.body["key_uuid"]
    ing.config(complete_wrapped=True, key_id_field="key_id")
    reply = await wire.complete(wrap_key(pem, os.urandom(32)))
    assert reply.body["data"]["key_id"] != session.key_id
    assert ing.stats()["handshakes"] == 3


@pytest.mark.parametrize(
    ("secret", "code"),
    [
        ("sha1", "invalid_secret"),
        ("short", "invalid_key_length"),
        ("not base64!", "invalid_secret"),
        ("", "invalid_request"),
    ],
)
async def test_complete_refuses_bad_secrets(wire: Wire, secret: str, code: str) -> None:
    pem = (await wire.init()).body["public_key"]
    if secret == "sha1":
        secret = wrap_key(pem, os.urandom(32), hashes.SHA1())
    elif secret == "short":
        secret = wrap_key(pem, os.urandom(31))
    reply = await wire.complete(secret)
    assert reply.status == 400 and reply.body["error"]["code"] == code


async def test_handshake_auth(wire: Wire) -> None:
    assert (await wire.init("eu-lf_somebodyelse")).status == 401
    mismatch = await wire.request(
        "POST", "/v1/handshake/init", headers=wire.auth(), json_body={"api_key": "eu-lf_other"}
    )
    assert mismatch.status == 401 and mismatch.body["error"]["code"] == "api_key_mismatch"
    no_bearer = await wire.request(
        "POST", "/v1/handshake/init", json_body={"api_key": wire.api_key}
    )
    assert no_bearer.status == 401
    not_json = await wire.request(
        "POST", "/v1/handshake/init", headers=wire.auth(), data=b"api_key=x"
    )
    assert not_json.status == 400


async def test_rotation_serves_the_second_key(ing: InProcessIngestor, wire: Wire) -> None:
    first = (await wire.init()).body["public_key"]
    ing.config(serve_key="secondary")
    second = (await wire.init()).body["public_key"]
    assert first != second
    assert ing.server.switches_json()["served_fingerprint"] != ing.fingerprint
    session = await wire.handshake()
    assert session.public_pem == second
    reply = await wire.send(session, [Entry("after rotation")])
    assert reply.status == 202


# -- ingest ---------------------------------------------------------------------------------------


async def test_accepted_entries_are_recorded_exactly(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    entries = [
        Entry(
            "first",
            source="/var/log/a.log",
            extra={"attributes": {"host": "h"}},
            headers={"X-LF-Search-Tokens": "GET,/health"},
        ),
        Entry("second", source="stdin", level=None, ts="2026-11-28T10:00:01Z"),
        Entry("third", compress=False),
    ]
    reply = await wire.send(session, entries)
    assert reply.status == 202
    assert reply.body["status"] == "success" and reply.body["request_id"]
    assert reply.body["data"] == {
        "success": True,
        "total": 3,
        "succeeded": 3,
        "failed": 0,
        "failures": [],
    }
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(reply.headers)
    assert int(reply.headers["X-RateLimit-Reset"]) > 10**9
    got = ing.entries()
    assert [e["payload"]["message"] for e in got] == ["first", "second", "third"]
    assert got[0]["payload"] == entries[0].document()
    assert got[0]["key_id"] == session.key_id and len(got[0]["nonce"]) == 16
    assert got[0]["search_tokens"] == ["GET", "/health"] and got[1]["search_tokens"] == []
    assert got[1]["x_timestamp"] == "2026-11-28T10:00:01Z"
    assert [e["entry_type"] for e in got] == [1, 1, 1]
    assert all(e["request_id"] == reply.body["request_id"] for e in got)
    stats = ing.stats()
    assert stats["entries_accepted"] == 3 and stats["parts"] == 3
    assert stats["parts_uncompressed"] == 1 and stats["status"] == {"202": 1}
    ing.verify({"/var/log/a.log": ["first"], "stdin": ["second"], "src": ["third"]})


async def test_protocol_vector_1_bytes_are_accepted(ing: InProcessIngestor, wire: Wire) -> None:
    from tests.support.vectors import KEY, V1_BODY, V1_PLAIN

    session = await wire.handshake(aes=KEY)
    head = (
        "Content-Type: application/octet-stream\r\nX-LF-Entry-Type: 1\r\n"
        "X-LF-Payload-Type: 1\r\nX-LF-Timestamp: 2026-11-28T10:00:00.123456Z\r\n"
        f"X-LF-Key-ID: {session.key_id}\r\nX-LF-Nonce: AAECAwQFBgcICQoL\r\n\r\n"
    )
    body = b"--b\r\n" + head.encode() + V1_BODY + b"\r\n--b--\r\n"
    reply = await wire.ingest(body, "b")
    assert reply.status == 202 and reply.body["data"]["succeeded"] == 1
    assert ing.entries()[0]["payload"] == json.loads(V1_PLAIN)


async def test_go_header_case_and_timestamp_precisions(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    stamps = [
        "2026-11-28T10:00:00Z",
        "2026-11-28T10:00:00.1Z",
        "2026-11-28T10:00:00.000Z",
        "2026-11-28T10:00:00.123456789Z",
    ]
    parts = []
    for i, ts in enumerate(stamps):
        raw = build_part(session, Entry(f"m{i}", ts=ts))
        # Go writes canonical-case names, sorted: X-Lf-Key-Id, X-Lf-Nonce, ...
        parts.append(
            raw.replace(b"X-LF-", b"X-Lf-")
            .replace(b"Key-ID", b"Key-Id")
            .replace(b"Content-Type", b"content-type")
        )
    reply = await wire.ingest(multipart(parts))
    assert reply.body["data"]["succeeded"] == 4, reply.body
    assert [e["x_timestamp"] for e in ing.entries()] == stamps


async def test_type_7_is_plain_gzip_without_key(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    reply = await wire.send(
        session,
        [
            Entry(
                "managed",
                entry_type=7,
                payload_type=3,
                extra={"type": "telemetry", "device_id": "d1", "readings": []},
            )
        ],
    )
    assert reply.body["data"]["succeeded"] == 1, reply.body
    [got] = ing.entries()
    assert got["entry_type"] == 7 and got["key_id"] is None and got["nonce"] is None


async def test_success_status_is_configurable(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    for status in (200, 201, 202):
        ing.config(success_status=status)
        assert (await wire.send(session, [Entry(f"s{status}")])).status == status


async def test_entries_endpoint_pages_and_memory_is_bounded() -> None:
    async with InProcessIngestor(keep_entries=5) as ing, aiohttp.ClientSession() as http:
        wire = Wire(http, ing.url)
        session = await wire.handshake()
        await wire.send(session, [Entry(f"m{i}") for i in range(8)])
        page = (await wire.request("GET", "/_ref/entries?since=0&limit=2")).body
        assert page["first"] == 3 and page["next"] == 5 and page["total"] == 8
        assert [e["payload"]["message"] for e in page["entries"]] == ["m3", "m4"]
        rest = (await wire.request("GET", "/_ref/entries?since=5")).body
        assert [e["payload"]["message"] for e in rest["entries"]] == ["m5", "m6", "m7"]
        reset = await wire.request("POST", "/_ref/reset")
        assert reset.status == 200 and ing.stats()["entries_accepted"] == 0
        assert (await wire.request("GET", "/_ref/entries")).body["entries"] == []
