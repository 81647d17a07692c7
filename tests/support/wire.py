"""A minimal protocol client (``Wire``) written from protocol.md with the standard library,
aiohttp and ``cryptography`` (not the devserver's code, not ingest/), and the parts it sends.

Used by the devserver tests to drive the reference ingestor over real loopback HTTP.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.support.refingestor import DEV_API_KEY

BOUNDARY = os.urandom(30).hex()


@dataclass
class Session:
    key_id: str
    aes: bytes
    public_pem: str


@dataclass
class Entry:
    """One part to send: the plaintext fields and every header, overridable."""

    message: str
    source: str = "src"
    level: int | None = 7
    ts: str = "2026-11-28T10:00:00.123456Z"
    extra: dict[str, Any] = field(default_factory=dict)
    entry_type: int = 1
    payload_type: int = 1
    compress: bool = True
    nonce: bytes | None = None
    headers: dict[str, str | None] = field(default_factory=dict)
    plaintext: bytes | None = None

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"v": "2.0", "type": "log", "source": self.source}
        if self.level is not None:
            doc["level"] = self.level
        doc.update({"ts": self.ts, "message": self.message, **self.extra})
        return doc


def wrap_key(pem: str, secret: bytes, algorithm: hashes.HashAlgorithm | None = None) -> str:
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    algo = algorithm or hashes.SHA256()
    blob = public.encrypt(
        secret, padding.OAEP(mgf=padding.MGF1(algorithm=algo), algorithm=algo, label=None)
    )
    return base64.b64encode(blob).decode()


def build_part(session: Session | None, entry: Entry) -> bytes:
    plain = (
        entry.plaintext
        if entry.plaintext is not None
        else json.dumps(entry.document(), separators=(",", ":")).encode()
    )
    data = gzip.compress(plain) if entry.compress else plain
    headers: dict[str, str | None] = {
        "Content-Type": "application/octet-stream",
        "X-LF-Entry-Type": str(entry.entry_type),
        "X-LF-Payload-Type": str(entry.payload_type),
        "X-LF-Timestamp": entry.ts,
    }
    if entry.entry_type != 7:
        assert session is not None
        nonce = entry.nonce if entry.nonce is not None else os.urandom(12)
        data = AESGCM(session.aes).encrypt(nonce, data, None)
        headers["X-LF-Key-ID"] = session.key_id
        headers["X-LF-Nonce"] = base64.b64encode(nonce).decode()
    headers.update(entry.headers)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if v is not None)
    return head.encode() + b"\r\n" + data


def multipart(parts: list[bytes], boundary: str = BOUNDARY, js: bool = False) -> bytes:
    b = boundary.encode()
    if js:
        return b"".join(b"--" + b + b"\r\n" + p for p in parts) + b"\r\n--" + b + b"--\r\n"
    return b"--" + b + b"\r\n" + (b"\r\n--" + b + b"\r\n").join(parts) + b"\r\n--" + b + b"--\r\n"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


class Wire:
    """A minimal protocol client over aiohttp, written from protocol.md for these tests."""

    def __init__(self, http: aiohttp.ClientSession, url: str, api_key: str = DEV_API_KEY) -> None:
        self.http = http
        self.url = url
        self.api_key = api_key

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        json_body: Any = None,
        timeout: float = 30,
    ) -> Reply:
        async with self.http.request(
            method,
            self.url + path,
            headers=headers,
            data=data,
            json=json_body,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            raw = await resp.read()
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            return Reply(resp.status, dict(resp.headers), body)

    async def init(self, key: str | None = None) -> Reply:
        return await self.request(
            "POST",
            "/v1/handshake/init",
            headers=self.auth(key),
            json_body={"api_key": key or self.api_key},
        )

    async def complete(self, encrypted: str, key: str | None = None) -> Reply:
        return await self.request(
            "POST",
            "/v1/handshake/complete",
            headers=self.auth(key),
            json_body={"api_key": key or self.api_key, "encrypted_secret": encrypted},
        )

    async def handshake(self, aes: bytes | None = None) -> Session:
        init = await self.init()
        assert init.status == 200, init.body
        doc = init.body.get("data", init.body) if "public_key" not in init.body else init.body
        aes = aes or os.urandom(32)
        done = await self.complete(wrap_key(doc["public_key"], aes))
        assert done.status == 200, done.body
        flat = done.body.get("data", {}) | done.body
        return Session(flat.get("key_id") or flat["key_uuid"], aes, doc["public_key"])

    async def ingest(
        self,
        body: bytes,
        boundary: str = BOUNDARY,
        *,
        key: str | None = None,
        timeout: float = 30,
        content_type: str | None = None,
    ) -> Reply:
        headers = {
            "Content-Type": content_type or f"multipart/mixed; boundary={boundary}",
            **self.auth(key),
        }
        return await self.request("POST", "/v1/ingest", headers=headers, data=body, timeout=timeout)

    async def send(self, session: Session, entries: list[Entry], **kw: Any) -> Reply:
        return await self.ingest(multipart([build_part(session, e) for e in entries]), **kw)
