"""The reference ingestor's strictness over real HTTP: the advertised limits (413), nonce reuse
versus an identical replay, the JS SDK's framing (refused strictly, accepted leniently), and
every per-part check of protocol §4/§5 as a part failure with its reason."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.refingestor import InProcessIngestor
from tests.support.wire import (
    BOUNDARY,
    Entry,
    Session,
    Wire,
    build_part,
    multipart,
)


async def started(**options: Any) -> tuple[InProcessIngestor, aiohttp.ClientSession, Wire]:
    ing = InProcessIngestor(**options)
    await ing.__aenter__()
    http = aiohttp.ClientSession()
    return ing, http, Wire(http, ing.url, ing.api_key)


@pytest.fixture
async def env(request: pytest.FixtureRequest) -> AsyncIterator[tuple[InProcessIngestor, Wire]]:
    options = getattr(request, "param", {})
    ing, http, wire = await started(**options)
    try:
        yield ing, wire
    finally:
        await http.close()
        await ing.__aexit__(None, None, None)


# -- limits ---------------------------------------------------------------------------------------


async def test_entries_per_request_over_the_limit_is_413(
    env: tuple[InProcessIngestor, Wire],
) -> None:
    ing, wire = env
    ing.config(limits={"max_batch_size": 3})
    session = await wire.handshake()
    assert (await wire.send(session, [Entry(f"m{i}") for i in range(3)])).status == 202
    reply = await wire.send(session, [Entry(f"n{i}") for i in range(4)])
    assert reply.status == 413 and reply.body["error"]["code"] == "batch_too_large"
    assert len(ing.entries()) == 3


@pytest.mark.parametrize("chunked", [False, True])
async def test_request_bytes_over_the_limit_is_413(
    env: tuple[InProcessIngestor, Wire], chunked: bool
) -> None:
    ing, wire = env
    ing.config(limits={"max_request_size": 20_000})
    session = await wire.handshake()
    body = multipart(
        [build_part(session, Entry(f"m{i} " + "z" * 300, compress=False)) for i in range(100)]
    )
    assert len(body) > 20_000

    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    async with wire.http.post(
        wire.url + "/v1/ingest",
        data=gen() if chunked else body,
        headers={"Content-Type": f"multipart/mixed; boundary={BOUNDARY}", **wire.auth()},
    ) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "request_too_large"
    assert ing.entries() == [] and ing.stats()["bytes_in"] == len(body)


async def test_entry_over_max_payload_size_is_413_or_a_part_failure(
    env: tuple[InProcessIngestor, Wire],
) -> None:
    ing, wire = env
    ing.config(limits={"max_payload_size": 2000})
    session = await wire.handshake()
    small, big = Entry("fits"), Entry("a" * 3000)  # gzip shrinks it: the plaintext is over
    reply = await wire.send(session, [small, big])
    assert reply.status == 413 and reply.body["error"]["code"] == "entry_too_large"
    assert "index 1" in reply.body["error"]["details"] and ing.entries() == []
    ing.config(entry_limit="part")
    reply = await wire.send(session, [small, big])
    assert reply.status == 202 and reply.body["data"]["failures"][0]["index"] == 1
    assert ing.stats()["failure_reasons"] == {"entry_too_large": 1}
    raw = await wire.send(session, [Entry("b" * 2100, compress=False)])
    assert raw.body["data"]["failed"] == 1  # the part body itself is over, too


async def test_decompression_bomb_guard(env: tuple[InProcessIngestor, Wire]) -> None:
    ing, wire = env
    ing.config(limits={"max_payload_size": 0}, entry_limit="part")  # 0 = no per-entry limit
    session = await wire.handshake()
    bomb = b'{"v":"2.0","type":"log","source":"s","message":"' + b" " * (11 << 20) + b'"}'
    reply = await wire.send(session, [Entry("", plaintext=bomb)])
    assert reply.body["data"]["failed"] == 1
    assert "10485760" in reply.body["data"]["failures"][0]["error"]
    ok = await wire.send(session, [Entry("", plaintext=bomb[: 9 << 20] + b'"}')])
    assert ok.body["data"]["succeeded"] == 1


# -- nonces ---------------------------------------------------------------------------------------


async def test_identical_replay_is_a_duplicate_stored_once(
    env: tuple[InProcessIngestor, Wire],
) -> None:
    ing, wire = env
    session = await wire.handshake()
    body = multipart([build_part(session, Entry("once")), build_part(session, Entry("twice"))])
    for _ in range(3):
        reply = await wire.ingest(body)
        assert reply.status == 202 and reply.body["data"]["succeeded"] == 2
    assert [e["payload"]["message"] for e in ing.entries()] == ["once", "twice"]
    stats = ing.stats()
    assert stats["duplicates"] == 4 and stats["entries_accepted"] == 2
    ing.config(store_duplicates=True)
    await wire.ingest(body)
    assert [e.get("duplicate", False) for e in ing.entries()] == [False, False, True, True]


async def test_same_nonce_with_another_body_is_nonce_reuse(
    env: tuple[InProcessIngestor, Wire],
) -> None:
    ing, wire = env
    session = await wire.handshake()
    nonce = os.urandom(12)
    assert (await wire.send(session, [Entry("first", nonce=nonce)])).status == 202
    reply = await wire.send(session, [Entry("other", source="s2"), Entry("second", nonce=nonce)])
    assert reply.status == 400 and reply.body["error"]["code"] == "nonce_reuse"
    assert "index 1" in reply.body["error"]["details"]
    assert [e["payload"]["message"] for e in ing.entries()] == ["first"]  # nothing of it kept
    within = await wire.send(session, [Entry("a", nonce=bytes(12)), Entry("b", nonce=bytes(12))])
    assert within.status == 400 and within.body["error"]["code"] == "nonce_reuse"
    other_session = await wire.handshake()
    fine = await wire.send(other_session, [Entry("same nonce, other key", nonce=nonce)])
    assert fine.status == 202  # nonces are per key id
    assert ing.stats()["nonce_reuse"] == 2


# -- framing --------------------------------------------------------------------------------------


async def test_js_framing_fails_strictly(env: tuple[InProcessIngestor, Wire]) -> None:
    ing, wire = env
    session = await wire.handshake()
    parts = [build_part(session, Entry(f"js{i}")) for i in range(2)]
    reply = await wire.ingest(multipart(parts, js=True))
    data = reply.body["data"]
    assert (reply.status, data["total"], data["failed"]) == (202, 1, 1)
    assert "authentication failed" in data["failures"][0]["error"]
    assert ing.stats()["decrypt_failures"] == 1 and ing.entries() == []


@pytest.mark.parametrize("env", [{"lenient_js_framing": True}], indirect=True)
async def test_js_framing_accepted_leniently(env: tuple[InProcessIngestor, Wire]) -> None:
    ing, wire = env
    session = await wire.handshake()
    parts = [build_part(session, Entry(f"js{i}")) for i in range(5)]
    assert (await wire.ingest(multipart(parts, js=True))).body["data"]["succeeded"] == 5
    assert (await wire.ingest(multipart(parts[:2]))).body["data"]["succeeded"] == 2  # RFC too
    ing.verify({"src": [f"js{i}" for i in range(5)]}, allow_duplicates=False)


async def test_bad_framing_and_content_type_are_400(env: tuple[InProcessIngestor, Wire]) -> None:
    _, wire = env
    session = await wire.handshake()
    body = multipart([build_part(session, Entry("x"))])
    truncated = await wire.ingest(body[:-12])
    assert truncated.status == 400 and truncated.body["error"]["code"] == "invalid_multipart"
    for ctype in ("application/json", "multipart/mixed", "multipart/form-data; boundary=b"):
        reply = await wire.ingest(body, content_type=ctype)
        assert reply.status == 400 and reply.body["error"]["code"] == "invalid_content_type"


async def test_ingest_needs_an_allowed_bearer(env: tuple[InProcessIngestor, Wire]) -> None:
    _, wire = env
    session = await wire.handshake()
    reply = await wire.send(session, [Entry("x")], key="eu-lf_notallowed1")
    assert reply.status == 401 and reply.body["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    "env", [{"api_keys": ("eu-lf_first0001", "eu-lf_second002")}], indirect=True
)
async def test_key_ids_are_bound_to_their_api_key(env: tuple[InProcessIngestor, Wire]) -> None:
    _, wire = env
    session = await wire.handshake()
    reply = await wire.send(session, [Entry("x")], key="eu-lf_second002")
    assert reply.status == 401 and reply.body["error"]["code"] == "invalid_key_id"


# -- per-part checks ------------------------------------------------------------------------------


def _doc(**change: Any) -> bytes:
    doc: dict[str, Any] = {
        "v": "2.0",
        "type": "log",
        "source": "s",
        "level": 7,
        "ts": "2026-11-28T10:00:00Z",
        "message": "m",
    }
    for k, v in change.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    return json.dumps(doc).encode()


BAD_PARTS: list[tuple[str, Entry, str]] = [
    ("entry type 8", Entry("x", headers={"X-LF-Entry-Type": "8"}), "bad_entry_type"),
    ("entry type text", Entry("x", headers={"X-LF-Entry-Type": "one"}), "bad_header"),
    ("no entry type", Entry("x", headers={"X-LF-Entry-Type": None}), "missing_header"),
    ("payload type 3 for a log", Entry("x", payload_type=3), "bad_payload_type"),
    ("payload type 2", Entry("x", payload_type=2), "bad_payload_type"),
    ("no content type", Entry("x", headers={"Content-Type": None}), "missing_header"),
    ("text content type", Entry("x", headers={"Content-Type": "text/plain"}), "bad_header"),
    ("no key id", Entry("x", headers={"X-LF-Key-ID": None}), "missing_header"),
    ("no nonce", Entry("x", headers={"X-LF-Nonce": None}), "missing_header"),
    ("short nonce", Entry("x", headers={"X-LF-Nonce": "AAECAwQFBgcI"}), "bad_nonce"),
    ("timestamp without Z", Entry("x", ts="2026-11-28T10:00:00+00:00"), "bad_timestamp"),
    ("10 fraction digits", Entry("x", ts="2026-11-28T10:00:00.1234567891Z"), "bad_timestamp"),
    ("February 30", Entry("x", ts="2026-02-30T10:00:00Z"), "bad_timestamp"),
    ("not JSON", Entry("", plaintext=b"hello"), "bad_json"),
    ("not UTF-8", Entry("", plaintext=b'{"message":"\xff"}'), "bad_json"),
    ("a JSON array", Entry("", plaintext=b"[1]"), "bad_json"),
    ("NaN", Entry("", plaintext=_doc(level=None)[:-1] + b',"x":NaN}'), "bad_json"),
    ("v 1.0", Entry("", plaintext=_doc(v="1.0")), "bad_payload"),
    ("type metric in a log", Entry("", plaintext=_doc(type="metric")), "bad_payload"),
    ("no source", Entry("", plaintext=_doc(source=None)), "bad_payload"),
    ("numeric message", Entry("", plaintext=_doc(message=5)), "bad_payload"),
    ("level 0", Entry("", plaintext=_doc(level=0)), "bad_payload"),
    ("level 9", Entry("", plaintext=_doc(level=9)), "bad_payload"),
    ("level true", Entry("", plaintext=_doc(level=True)), "bad_payload"),
    ("ts local", Entry("", plaintext=_doc(ts="2026-11-28 10:00:00")), "bad_payload"),
    ("numeric attribute", Entry("", plaintext=_doc(attributes={"a": 1})), "bad_payload"),
    ("meta not an object", Entry("", plaintext=_doc(meta="x")), "bad_payload"),
    ("corrupt gzip", Entry("", plaintext=gzip.compress(b"{}")[:-6], compress=False), "bad_gzip"),
]


@pytest.mark.parametrize(
    ("entry", "reason"), [(e, r) for _, e, r in BAD_PARTS], ids=[n for n, _, _ in BAD_PARTS]
)
async def test_each_bad_part_is_a_part_failure(
    env: tuple[InProcessIngestor, Wire], entry: Entry, reason: str
) -> None:
    ing, wire = env
    session = await wire.handshake()
    reply = await wire.send(session, [Entry("good before"), entry, Entry("good after")])
    assert reply.status == 202, reply.body
    assert [f["index"] for f in reply.body["data"]["failures"]] == [1]
    assert ing.stats()["failure_reasons"] == {reason: 1}
    ing.verify({"src": ["good before", "good after"]})


async def test_unknown_key_id_refuses_the_request(env: tuple[InProcessIngestor, Wire]) -> None:
    ing, wire = env
    session = await wire.handshake()
    reply = await wire.send(
        session, [Entry("ok"), Entry("x", headers={"X-LF-Key-ID": "not-a-key-id"})]
    )
    assert reply.status == 401 and reply.body["error"]["code"] == "invalid_key_id"
    assert ing.entries() == []


async def test_valid_optional_fields_are_accepted(env: tuple[InProcessIngestor, Wire]) -> None:
    ing, wire = env
    session = await wire.handshake()
    docs = [
        _doc(level=None, ts=None),
        _doc(logger="app", meta={"release": "1"}),
        _doc(source="", message=""),
        _doc(ts="2026-12-31T23:59:60.5Z"),
    ]
    reply = await wire.send(session, [Entry("", plaintext=d) for d in docs])
    assert reply.body["data"]["succeeded"] == 4, reply.body
    pretty = json.dumps(json.loads(docs[0]), indent=2).encode()  # newlines inside the JSON
    assert (await wire.send(session, [Entry("", plaintext=pretty)])).status == 202
    assert ing.entries()[-1]["payload"] == json.loads(docs[0])


# -- recorded lines are exact JSON for any content ------------------------------------------------


def _server_and_session() -> tuple[Any, Session]:
    from logflux_agent.devserver.app import DevServer
    from logflux_agent.devserver.options import DevServerOptions
    from tests.support.refingestor import shared_private_key_pem

    server = DevServer(DevServerOptions(port=0, private_key_pem=shared_private_key_pem()))
    aes = os.urandom(32)
    made = server.sessions.create(aes, server.options.api_keys[0], "fp")
    return server, Session(made.key_id, aes, "")


_SERVER: tuple[Any, Session] | None = None
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    message=texts,
    source=texts,
    attributes=st.dictionaries(texts, texts, max_size=3),
    tokens=st.lists(st.text(alphabet="abcXYZ09/._-", min_size=1, max_size=8), max_size=3),
    indent=st.sampled_from([None, 2]),
)
def test_any_content_is_recorded_as_exact_json(
    message: str, source: str, attributes: dict[str, str], tokens: list[str], indent: int | None
) -> None:
    from logflux_agent.devserver.faults import RequestFaults
    from logflux_agent.devserver.ingest import IngestHandler
    from logflux_agent.devserver.multipart import parse_multipart

    global _SERVER
    if _SERVER is None:
        _SERVER = _server_and_session()
    server, session = _SERVER
    entry = Entry(
        message,
        source=source,
        extra={"attributes": attributes} if attributes else {},
        headers={"X-LF-Search-Tokens": ",".join(tokens) if tokens else None},
    )
    entry.plaintext = json.dumps(entry.document(), indent=indent, ensure_ascii=False).encode()
    parts = parse_multipart(multipart([build_part(session, entry)]), BOUNDARY.encode())
    before = server.recorder.total
    resp = IngestHandler(server)._decode_all(
        parts, server.options.api_keys[0], RequestFaults(), "rid"
    )
    assert resp.status == 202
    _, [line] = server.recorder.page(before, 1)
    assert "\n" not in line
    got = json.loads(line)
    assert got["payload"] == entry.document()
    assert got["search_tokens"] == tokens and got["key_id"] == session.key_id
