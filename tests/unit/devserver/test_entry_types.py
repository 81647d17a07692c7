"""The reference ingestor takes the official SDKs' traffic: entry types 2-6 with the fields each
type documents (no ``message``: that belongs to logs), in each SDK's spelling, and refuses a
payload missing a type's own fields; the Java SDK's OAEP SHA-256 / MGF1-SHA-1 key wrap is
refused by default with an error naming that variant, and accepted behind a named switch.

Over real loopback HTTP with real RSA and AES-GCM; the payloads are written here from
protocol.md §5 and the field names the SDKs put on the wire.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from logflux_agent.cli import build_parser
from logflux_agent.commands.dev_ingestor import build_options
from tests.support.refingestor import InProcessIngestor
from tests.support.wire import Entry, Session, Wire

TS = "2026-11-28T10:00:00.123Z"
COMMON = {"v": "2.0", "source": "checkout", "ts": TS}

# (entry type, payload) as each SDK family writes it.
SDK_PAYLOADS: list[tuple[str, int, dict[str, Any]]] = [
    (
        "metric go",
        2,
        {"type": "metric", "level": 7, "name": "orders", "value": 3, "kind": "counter"},
    ),
    (
        "metric js/java",
        2,
        {
            "type": "metric", "level": 7, "name": "latency", "value": 12.5,
            "metric_type": "gauge", "unit": "ms", "attributes": {"route": "/pay"},
        },
    ),
    (
        "trace go",
        3,
        {
            "type": "trace", "level": 7, "trace_id": "4bf92f3577b34da6", "span_id": "00f067aa",
            "operation": "http.server", "name": "GET /pay", "start_time": "2026-11-28T10:00:00Z",
            "end_time": "2026-11-28T10:00:00.25Z", "duration_ms": 250, "status": "ok",
        },
    ),
    (
        "trace js/java",
        3,
        {
            "type": "trace", "level": 7, "trace_id": "4bf92f3577b34da6", "span_id": "00f067ab",
            "parent_span_id": "00f067aa", "operation": "db.query", "description": "SELECT",
            "status": "ok", "start_time": "2026-11-28T10:00:00.000Z",
            "end_time": "2026-11-28T10:00:00.010Z", "duration_ms": 10,
        },
    ),
    ("event", 4, {"type": "event", "level": 7, "event": "user.signup"}),
    (
        "audit go/js",
        5,
        {
            "type": "audit", "level": 6, "action": "delete", "actor": "u-42",
            "actor_type": "user", "resource": "invoice", "resource_id": "inv-7",
            "outcome": "success",
        },
    ),
    (
        "audit java",
        5,
        {
            "type": "audit", "level": 6, "action": "read", "actor": "u-42",
            "resource": "invoice", "resource_id": "inv-7",
        },
    ),
    (
        "telemetry",
        6,
        {
            "type": "telemetry", "level": 7, "device_id": "sensor-9",
            "readings": [{"name": "temp", "value": 21.5, "unit": "C"}, {"name": "rh", "value": 40}],
        },
    ),
]  # fmt: skip


def part(entry_type: int, doc: dict[str, Any]) -> Entry:
    body = json.dumps({**COMMON, **doc}, separators=(",", ":")).encode()
    return Entry("", entry_type=entry_type, plaintext=body)


@pytest.fixture
async def env() -> AsyncIterator[tuple[InProcessIngestor, Wire]]:
    async with InProcessIngestor() as ing, aiohttp.ClientSession() as http:
        yield ing, Wire(http, ing.url, ing.api_key)


async def test_every_sdk_entry_type_2_to_6_is_accepted_and_recorded(
    env: tuple[InProcessIngestor, Wire],
) -> None:
    ing, wire = env
    session = await wire.handshake()
    reply = await wire.send(session, [part(t, doc) for _, t, doc in SDK_PAYLOADS])
    assert reply.status == 202, reply.body
    assert reply.body["data"]["failed"] == 0, reply.body["data"]["failures"]
    got = ing.entries()
    assert [e["entry_type"] for e in got] == [t for _, t, _ in SDK_PAYLOADS]
    assert [e["payload"] for e in got] == [{**COMMON, **doc} for _, _, doc in SDK_PAYLOADS]
    assert "message" not in got[0]["payload"]


BAD: list[tuple[str, int, dict[str, Any], str]] = [
    ("log without message", 1, {"type": "log"}, "message must be a string"),
    ("metric without name", 2, {"type": "metric", "value": 1}, "name is required in a metric"),
    ("metric without value", 2, {"type": "metric", "name": "n"}, "value is required"),
    ("metric value text", 2, {"type": "metric", "name": "n", "value": "1"}, "must be a number"),
    ("metric value bool", 2, {"type": "metric", "name": "n", "value": True}, "must be a number"),
    (
        "trace without span_id",
        3,
        {"type": "trace", "trace_id": "t", "operation": "o", "start_time": TS, "end_time": TS},
        "span_id is required in a trace",
    ),
    (
        "trace local start",
        3,
        {
            "type": "trace", "trace_id": "t", "span_id": "s", "operation": "o",
            "start_time": "2026-11-28 10:00", "end_time": TS,
        },
        "start_time in a trace entry must be an RFC 3339",
    ),
    (
        "trace negative duration",
        3,
        {
            "type": "trace", "trace_id": "t", "span_id": "s", "operation": "o",
            "start_time": TS, "end_time": TS, "duration_ms": -1,
        },
        "duration_ms in a trace entry must be a number >= 0",
    ),
    ("event without event", 4, {"type": "event"}, "event is required in an event"),
    ("event empty", 4, {"type": "event", "event": ""}, "must be a non-empty string"),
    (
        "audit without resource_id",
        5,
        {"type": "audit", "action": "a", "actor": "b", "resource": "c"},
        "resource_id is required in an audit",
    ),
    ("telemetry without readings", 6, {"type": "telemetry", "device_id": "d"}, "readings"),
    (
        "telemetry reading without value",
        6,
        {"type": "telemetry", "device_id": "d", "readings": [{"name": "t"}]},
        "reading 0 is not",
    ),
    ("metric with a numeric message", 2, {"type": "metric", "name": "n", "value": 1,
     "message": 5}, "message in a metric entry must be a string"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("entry_type", "doc", "says"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
async def test_a_payload_missing_its_types_fields_fails_that_part_saying_which(
    env: tuple[InProcessIngestor, Wire], entry_type: int, doc: dict[str, Any], says: str
) -> None:
    ing, wire = env
    session = await wire.handshake()
    good = part(4, {"type": "event", "event": "ok"})
    reply = await wire.send(session, [good, part(entry_type, doc), good])
    assert reply.status == 202, reply.body
    [failure] = reply.body["data"]["failures"]
    assert failure["index"] == 1 and says in failure["error"], failure
    assert ing.stats()["failure_reasons"] == {"bad_payload": 1}


# -- OAEP variants ----------------------------------------------------------------------------


def wrap(pem: str, secret: bytes, digest: hashes.HashAlgorithm, mgf: hashes.HashAlgorithm) -> str:
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    blob = public.encrypt(secret, padding.OAEP(mgf=padding.MGF1(mgf), algorithm=digest, label=None))
    return base64.b64encode(blob).decode()


async def handshake_with(wire: Wire, wrap_as: Any) -> tuple[Any, Session | None]:
    init = await wire.init()
    pem = init.body["public_key"]
    aes = os.urandom(32)
    done = await wire.complete(wrap_as(pem, aes))
    if done.status != 200:
        return done, None
    return done, Session(done.body["key_id"], aes, pem)


def java_default(pem: str, aes: bytes) -> str:
    return wrap(pem, aes, hashes.SHA256(), hashes.SHA1())


async def test_java_oaep_mgf1_sha1_is_refused_by_default_naming_the_variant_and_the_switch(
    env: tuple[InProcessIngestor, Wire],
) -> None:
    ing, wire = env
    done, _ = await handshake_with(wire, java_default)
    assert done.status == 400 and done.body["error"]["code"] == "invalid_secret"
    message = done.body["error"]["message"]
    assert "wrapped with OAEP SHA-256 / MGF1-SHA-1" in message
    assert "--accept-oaep-mgf1-sha1" in message
    assert ing.stats()["handshakes"] == 0


async def test_java_oaep_mgf1_sha1_is_accepted_with_the_switch_and_its_entries_decrypt(
    env: tuple[InProcessIngestor, Wire],
) -> None:
    ing, wire = env
    ing.config(accept_oaep_mgf1_sha1=True)
    done, session = await handshake_with(wire, java_default)
    assert done.status == 200, done.body
    assert session is not None
    reply = await wire.send(session, [part(4, {"type": "event", "event": "from java"})])
    assert reply.body["data"]["succeeded"] == 1, reply.body
    assert ing.entries()[0]["payload"]["event"] == "from java"
    stats = ing.stats()
    assert stats["handshakes"] == 1 and stats["handshakes_oaep_mgf1_sha1"] == 1
    strict, _ = await handshake_with(
        wire, lambda p, a: wrap(p, a, hashes.SHA256(), hashes.SHA256())
    )
    assert strict.status == 200 and ing.stats()["handshakes_oaep_mgf1_sha1"] == 1


@pytest.mark.parametrize("switch", [False, True], ids=["strict", "with-switch"])
async def test_oaep_sha1_is_refused_even_with_the_switch_and_named(
    env: tuple[InProcessIngestor, Wire], switch: bool
) -> None:
    ing, wire = env
    ing.config(accept_oaep_mgf1_sha1=switch)
    done, _ = await handshake_with(wire, lambda p, a: wrap(p, a, hashes.SHA1(), hashes.SHA1()))
    assert done.status == 400
    assert "wrapped with OAEP SHA-1 / MGF1-SHA-1" in done.body["error"]["message"]


async def test_pkcs1_v15_or_another_key_says_no_oaep_variant_fits(
    env: tuple[InProcessIngestor, Wire],
) -> None:
    _, wire = env

    def pkcs1(pem: str, aes: bytes) -> str:
        public = serialization.load_pem_public_key(pem.encode())
        assert isinstance(public, rsa.RSAPublicKey)
        return base64.b64encode(public.encrypt(aes, padding.PKCS1v15())).decode()

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    other_pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    for wrap_as in (pkcs1, lambda _p, a: wrap(other_pem, a, hashes.SHA256(), hashes.SHA256())):
        done, _ = await handshake_with(wire, wrap_as)
        assert done.status == 400
        assert "no other OAEP variant fits" in done.body["error"]["message"]


def test_the_cli_flag_sets_the_switch() -> None:
    parser = build_parser()
    on = build_options(parser.parse_args(["dev-ingestor", "--accept-oaep-mgf1-sha1"]))
    off = build_options(parser.parse_args(["dev-ingestor"]))
    assert on.switches.accept_oaep_mgf1_sha1 and not off.switches.accept_oaep_mgf1_sha1
