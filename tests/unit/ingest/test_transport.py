"""TLS with a private CA, an HTTPS proxy (CONNECT), and no secret ever leaking anywhere."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
import structlog

from logflux_agent.clock import FakeClock
from logflux_agent.config.model import AgentConfig, EncryptionConfig
from logflux_agent.errors import AgentError, HandshakeError, PinMismatchError
from logflux_agent.ingest.client import IngestClient
from logflux_agent.observe.logging import configure_logging
from logflux_agent.record import Record
from tests.support.clientconfig import config, make_config, recs, status
from tests.support.scripted import API_KEY, ScriptedIngestor, batch_failures
from tests.support.tls import server_ssl


def with_fields(cfg: AgentConfig, **fields: Any) -> AgentConfig:
    return AgentConfig(**{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__}, **fields})


async def test_tls_with_private_ca_file(tmp_path: Path, pki: dict[str, Path]) -> None:
    async with ScriptedIngestor(ssl_context=server_ssl(pki)) as ing:
        assert ing.url.startswith("https://")
        client = IngestClient(
            with_fields(config(tmp_path, ing), ca_file=str(pki["ca"])), clock=FakeClock()
        )
        try:
            await client.start()
            assert (await client.deliver(recs(2))).accepted == 2
        finally:
            await client.close()
        # without the CA the certificate is not trusted: a precise TLS error
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        with pytest.raises(HandshakeError, match="TLS certificate verification failed"):
            await client.start()
        await client.close()
        # tls_verify: false (tests only) skips verification
        client = IngestClient(with_fields(config(tmp_path, ing), tls_verify=False))
        await client.start()
        await client.close()
    assert ing.messages() == ["m-0", "m-1"]


async def test_bad_ca_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(AgentError, match="ca_file"):
        IngestClient(make_config(tmp_path, endpoint="https://127.0.0.1:1", ca_file=str(bad)))


class ConnectProxy:
    """A tiny HTTP CONNECT proxy (asyncio streams) that records the tunnels it opened."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.auth: list[str | None] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            self.tunnels.append(target)
            self.auth.append(
                next(
                    (
                        line.split(b":", 1)[1].strip().decode()
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"proxy-authorization:")
                    ),
                    None,
                )
            )
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                try:
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                finally:
                    dst.close()

            await asyncio.gather(
                pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            writer.close()


async def test_https_proxy_from_environment(
    tmp_path: Path, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ScriptedIngestor(ssl_context=server_ssl(pki)) as ing, ConnectProxy() as proxy:
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        client = IngestClient(
            with_fields(config(tmp_path, ing), ca_file=str(pki["ca"])), clock=FakeClock()
        )
        try:
            await client.start()
            assert (await client.deliver(recs(3))).accepted == 3
        finally:
            await client.close()
        port = ing.url.rsplit(":", 1)[1]
        assert proxy.tunnels and all(t == f"127.0.0.1:{port}" for t in proxy.tunnels)
        assert ing.messages() == ["m-0", "m-1", "m-2"]
        # NO_PROXY bypasses it
        proxy.tunnels.clear()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        client = IngestClient(with_fields(config(tmp_path, ing), ca_file=str(pki["ca"])))
        await client.start()
        await client.close()
        assert proxy.tunnels == []


async def test_proxy_credentials_in_the_url_become_proxy_authentication(
    tmp_path: Path, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ScriptedIngestor(ssl_context=server_ssl(pki)) as ing, ConnectProxy() as proxy:
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://ops:s%40cret@"))
        client = IngestClient(
            with_fields(config(tmp_path, ing), ca_file=str(pki["ca"])), clock=FakeClock()
        )
        try:
            assert (await client.deliver(recs(2))).accepted == 2
        finally:
            await client.close()
    expected = "Basic " + base64.b64encode(b"ops:s@cret").decode()
    assert proxy.auth and all(a == expected for a in proxy.auth)


async def test_a_netrc_entry_for_the_ingestor_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With aiohttp's trust_env a .netrc login for the host clashed with our Bearer header.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        try:
            assert (await client.deliver(recs(1))).accepted == 1
        finally:
            await client.close()
    assert ing.requests
    assert all(r["headers"].get("Authorization", "").startswith("Bearer ") for r in ing.requests)


def _forms(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]


async def test_no_secret_in_logs_errors_requests_or_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug", "json")
    errors: list[str] = []
    try:
        async with ScriptedIngestor() as ing:
            echo = {"code": "bad", "message": f"key {API_KEY}"}
            ing.script = [
                status(401, **echo),
                status(500, **echo),
                status(429, **echo, retry_after=1),
                status(400, **echo),
                status(400, **echo),
                status(400, **echo),
                batch_failures([0], f"bad {API_KEY}"),
                batch_failures([0], f"bad {API_KEY}"),
            ]
            client = IngestClient(config(tmp_path, ing), clock=FakeClock())
            try:
                await client.start()
                assert "key" not in repr(client.sessions.current).lower().replace("key_id", "")
                await client.deliver(recs(2))
                await client.deliver(
                    [
                        Record(
                            message=f"user pasted {API_KEY}",
                            timestamp=1.0,
                            level=7,
                            source="s",
                            attributes={},
                        )
                    ]
                )
            finally:
                await client.close()
            # a failing handshake's exception text
            other = make_config(tmp_path, endpoint=ing.url, key="eu-lf_notthekey12345678")
            bad = IngestClient(other)
            with pytest.raises(AgentError) as err:
                await bad.start()
            errors.append(str(err.value))
            await bad.close()
            pinned = make_config(
                tmp_path,
                endpoint=ing.url,
                encryption=EncryptionConfig(public_key_fingerprint="SHA256:" + "0" * 64),
            )
            bad = IngestClient(pinned)
            with pytest.raises(PinMismatchError) as err2:
                await bad.start()
            errors.append(str(err2.value))
            await bad.close()
    finally:
        structlog.reset_defaults()
    logs = capsys.readouterr()
    log_text = (logs.err + logs.out).encode()
    assert b"ingest.key_refused_rehandshake" in log_text or b"handshake.ok" in log_text
    aes_keys = list(ing.keys.values())
    assert len(aes_keys) == 2  # start + the re-handshake after 401
    ingest_bytes = [r["body"] for r in ing.requests if r["path"] == "/v1/ingest"]
    all_request_bytes = [r["body"] + json.dumps(r["headers"]).encode() for r in ing.requests]
    dead = (tmp_path / "state" / "dead-letter.jsonl").read_bytes()
    for key in aes_keys:
        for form in _forms(key):
            assert form not in log_text
            assert all(form not in blob for blob in all_request_bytes)
            assert form not in dead
            assert all(form.decode("latin-1") not in e for e in errors)
    raw_key = API_KEY.encode()
    assert raw_key not in log_text
    assert all(raw_key not in body for body in ingest_bytes)  # only inside encrypted parts
    assert all(API_KEY not in e for e in errors)
    assert b'"error": "bad eu-lf_****' in dead or b"eu-lf_****" in dead
    assert all(not r["path"].count(API_KEY) for r in ing.requests)
