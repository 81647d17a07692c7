"""Discovery and handshake paths of the client, against the in-process reference ingestor."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from logflux_agent import USER_AGENT
from logflux_agent.clock import FakeClock
from logflux_agent.config.model import (
    EncryptionConfig,
)
from logflux_agent.devserver.options import Limits
from logflux_agent.errors import AuthError, DiscoveryError, HandshakeError, PinMismatchError
from logflux_agent.ingest.client import IngestClient
from logflux_agent.record import Record
from tests.support.clientconfig import make_config
from tests.support.scripted import API_KEY, ScriptedIngestor


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def fingerprint_of(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def records(n: int) -> list[Record]:
    return [
        Record(
            message=f"msg {i}",
            timestamp=1_800_000_000.0 + i,
            level=7,
            source="/var/log/t.log",
            attributes={"a": "b"},
        )
        for i in range(n)
    ]


async def test_endpoint_override_skips_discovery_and_strips_slash(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        client = IngestClient(make_config(tmp_path, endpoint=ing.url + "/"))
        try:
            info = await client.start()
            assert info.base_url == ing.url and info.discovered_via == "endpoint"
            assert [r.path for r in ing.requests] == [
                "/v1/handshake/init",
                "/v1/handshake/complete",
            ]
            report = await client.deliver(records(3))
        finally:
            await client.close()
    assert report.accepted == 3 and report.dead_lettered == 0
    ingest = ing.requests[-1]
    assert ingest["path"] == "/v1/ingest"
    assert ingest["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert ingest["headers"]["User-Agent"] == USER_AGENT
    assert ingest["headers"]["Content-Type"].startswith("multipart/mixed; boundary=")
    assert "Content-Encoding" not in ingest["headers"]
    init = ing.requests[0]
    assert json.loads(init["body"]) == {"api_key": API_KEY}
    assert init["headers"]["Content-Type"] == "application/json"
    assert ing.messages() == ["msg 0", "msg 1", "msg 2"]
    payload = ing.entries()[0]["payload"]
    assert payload["meta"] == {"node": "node-1", "agent": USER_AGENT}
    assert payload["attributes"] == {"a": "b"}


async def test_static_discovery_by_region_then_handshake(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        cfg = make_config(tmp_path, static_url=ing.url + "/?region={region}")
        client = IngestClient(cfg)
        try:
            info = await client.start()
        finally:
            await client.close()
    assert info.discovered_via == "static" and info.region == "eu"
    assert info.base_url == ing.url
    static = ing.requests[0]
    assert static["path"] == "/" and "Authorization" not in static["headers"]


async def test_region_config_overrides_the_key_region(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        cfg = make_config(tmp_path, static_url=ing.url + "/{region}", region="us")
        # the mini ingestor serves static discovery at "/" only: "/us" 404s → authenticated
        cfg = replace(cfg, discovery=replace(cfg.discovery, static_url=ing.url + "/?r={region}"))
        client = IngestClient(cfg)
        try:
            info = await client.start()
        finally:
            await client.close()
    assert info.region == "us"


async def test_static_without_ingestor_url_falls_back_to_authenticated(tmp_path: Path) -> None:
    async with ScriptedIngestor(switches={"static_without_ingestor_url": True}) as ing:
        cfg = make_config(
            tmp_path, static_url=ing.url + "/", gateways=("http://127.0.0.1:1", ing.url + "/")
        )
        client = IngestClient(cfg)
        try:
            info = await client.start()
        finally:
            await client.close()
    assert info.discovered_via == "authenticated" and info.base_url == ing.url
    auth = [r for r in ing.requests if r.path == "/api/discovery"]
    assert len(auth) == 1 and auth[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


async def test_legacy_key_uses_authenticated_discovery_wrapped_form(tmp_path: Path) -> None:
    legacy = "lf_legacykey0123456789"
    async with ScriptedIngestor(
        api_key=legacy, region="ca", switches={"legacy_discovery": True}
    ) as ing:
        # the wrapped form's base_url with a trailing slash, which the client strips
        ing.rewrite["/api/discovery"] = lambda doc: {
            **doc,
            "data": {**doc["data"], "base_url": doc["data"]["base_url"] + "/"},
        }
        cfg = make_config(tmp_path, key=legacy, gateways=(ing.url,))
        client = IngestClient(cfg)
        try:
            info = await client.start()
            assert (await client.deliver(records(1))).accepted == 1
        finally:
            await client.close()
    assert info.discovered_via == "authenticated" and info.base_url == ing.url
    assert info.region == "ca"
    assert not any(r.path == "/" for r in ing.requests)


async def test_discovery_failures_are_reported_precisely(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, key="lf_legacykey0123456789", gateways=("http://127.0.0.1:1",))
    client = IngestClient(cfg)
    with pytest.raises(DiscoveryError, match=r"connection refused.*127\.0\.0\.1:1") as err:
        await client.start()
    assert "endpoint:" in str(err.value)
    await client.close()
    async with ScriptedIngestor() as ing:
        cfg = make_config(tmp_path, key="lf_wrongkey0123456789", gateways=(ing.url,))
        client = IngestClient(cfg)
        with pytest.raises(AuthError, match="HTTP 401"):
            await client.start()
        await client.close()


@pytest.mark.parametrize("form", ["flat", "data"])
@pytest.mark.parametrize("id_field", ["key_id", "key_uuid", "data.key_id", "data.key_uuid"])
async def test_handshake_answer_forms(tmp_path: Path, form: str, id_field: str) -> None:
    def init(doc: dict[str, Any]) -> dict[str, Any]:
        # a blank flat public_key beside the wrapped one: the wrapped one must win
        return doc if form == "flat" else {"status": "success", "data": doc, "public_key": "  "}

    def complete(doc: dict[str, Any]) -> dict[str, Any]:
        name = id_field.split(".")[-1]
        padded = f"  {doc['key_id']}\n"  # the client trims the key id
        return {"data": {name: padded}} if id_field.startswith("data.") else {name: padded}

    limits = Limits(max_batch_size=7, max_payload_size=5000, max_request_size=900_000)
    async with ScriptedIngestor(switches={"limits": limits}) as ing:
        ing.rewrite["/v1/handshake/init"] = init
        ing.rewrite["/v1/handshake/complete"] = complete
        client = IngestClient(make_config(tmp_path, endpoint=ing.url))
        try:
            info = await client.start()
            assert info.key_id in ing.keys
            assert client.limits.max_batch_entries == 7
            assert client.limits.max_payload_bytes == 5000
            assert client.limits.max_request_bytes == 900_000
            assert (await client.deliver(records(20))).accepted == 20
        finally:
            await client.close()
    ingests = ing.ingest_requests()
    assert len(ingests) == 3  # 20 entries, max_batch_size 7 → 7 + 7 + 6


async def test_non_pem_key_is_refused_before_complete(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        ing.rewrite["/v1/handshake/init"] = lambda doc: {"public_key": "not a key"}
        client = IngestClient(make_config(tmp_path, endpoint=ing.url))
        with pytest.raises(HandshakeError, match="not a PEM public key"):
            await client.start()
        await client.close()
        assert [r.path for r in ing.requests] == ["/v1/handshake/init"]


async def test_non_rsa_server_key_is_refused(tmp_path: Path) -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    async with ScriptedIngestor() as ing:
        ing.rewrite["/v1/handshake/init"] = lambda doc: {"public_key": ec_pem}
        client = IngestClient(make_config(tmp_path, endpoint=ing.url))
        with pytest.raises(HandshakeError, match="not RSA"):
            await client.start()
        await client.close()


async def test_pin_match_and_mismatch(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        good = ing.fingerprint
        cfg = make_config(
            tmp_path,
            endpoint=ing.url,
            encryption=EncryptionConfig(public_key_fingerprint=good.upper()),
        )
        client = IngestClient(cfg)
        info = await client.start()
        await client.close()
        assert info.fingerprint == good and info.pin == good
        assert info.pin_source == "encryption.public_key_fingerprint"

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem_file = tmp_path / "pinned.pem"
        pem_file.write_text(public_pem(other))
        ing.requests.clear()
        cfg = make_config(
            tmp_path, endpoint=ing.url, encryption=EncryptionConfig(public_key_file=str(pem_file))
        )
        client = IngestClient(cfg, clock=FakeClock())
        with pytest.raises(PinMismatchError) as err:
            await client.start()
        await client.close()
    text = str(err.value)
    assert good in text and fingerprint_of(other) in text and "public_key_file" in text
    # refused before the session key was sent: only init reached the ingestor
    assert [r.path for r in ing.requests] == ["/v1/handshake/init"]


async def test_handshake_status_other_than_200_fails(tmp_path: Path) -> None:
    from aiohttp import web

    app = web.Application()

    async def init(request: web.Request) -> web.Response:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return web.json_response({"public_key": public_pem(key)}, status=201)

    app.router.add_post("/v1/handshake/init", init)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        client = IngestClient(make_config(tmp_path, endpoint=url))
        with pytest.raises(HandshakeError, match="HTTP 201"):
            await client.start()
        await client.close()
    finally:
        await runner.cleanup()


async def test_key_revoked_at_handshake_is_auth_error_with_masked_key(tmp_path: Path) -> None:
    async with ScriptedIngestor(api_key="eu-lf_someotherkey999") as ing:
        client = IngestClient(make_config(tmp_path, endpoint=ing.url))
        with pytest.raises(AuthError) as err:
            await client.start()
        await client.close()
    assert "HTTP 401" in str(err.value)
    assert API_KEY not in str(err.value) and "eu-lf_****" in str(err.value)
