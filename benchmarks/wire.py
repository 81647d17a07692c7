"""A small, independent LogFlux client for the direct sender: handshake and batch encoding.

Written from ``/work/shared/protocol.md`` without importing the agent, so measuring the
ingestor's ceiling does not depend on (or share a mistake with) the agent's ingest code. Not
tuned for speed: batches are encoded once, before the clock starts.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import zlib
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from procs import HarnessError, Http

try:  # isal's gzip is ~3x faster than zlib's and produces standard gzip members
    from isal import igzip as _igzip

    def gzip_compress(data: bytes) -> bytes:
        return _igzip.compress(data)
except ImportError:  # pragma: no cover - the venv has isal

    def gzip_compress(data: bytes) -> bytes:
        co = zlib.compressobj(6, zlib.DEFLATED, 31)
        return co.compress(data) + co.flush()


class Session:
    """An AES session key registered with the ingestor through the handshake."""

    def __init__(self, key: bytes, key_id: str) -> None:
        self.key = key
        self.key_id = key_id
        self.aead = AESGCM(key)


def handshake(http: Http, api_key: str) -> Session:
    auth = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    status, body = http.request(
        "POST", "/v1/handshake/init", json.dumps({"api_key": api_key}).encode(), auth
    )
    if status != 200:
        raise HarnessError(f"handshake init -> {status}: {body[:200]!r}")
    doc = json.loads(body)
    pem = doc.get("public_key") or doc.get("data", {}).get("public_key")
    public = serialization.load_pem_public_key(pem.encode())
    if not isinstance(public, rsa.RSAPublicKey):
        raise HarnessError("handshake: server key is not RSA")
    key = os.urandom(32)
    wrapped = public.encrypt(
        key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    status, body = http.request(
        "POST",
        "/v1/handshake/complete",
        json.dumps(
            {"api_key": api_key, "encrypted_secret": base64.b64encode(wrapped).decode()}
        ).encode(),
        auth,
    )
    if status != 200:
        raise HarnessError(f"handshake complete -> {status}: {body[:200]!r}")
    doc = json.loads(body)
    data = doc.get("data") or {}
    key_id = doc.get("key_id") or doc.get("key_uuid") or data.get("key_id") or data.get("key_uuid")
    if not key_id:
        raise HarnessError("handshake complete: no key id in the response")
    return Session(key, str(key_id))


def _timestamp(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_batch(session: Session, messages: Iterable[str], source: str) -> tuple[bytes, str]:
    """One multipart/mixed request body (RFC 2046 framing) and its boundary."""
    boundary = os.urandom(30).hex()
    delim = f"--{boundary}\r\n".encode()
    parts: list[bytes] = []
    for message in messages:
        now = dt.datetime.now(dt.UTC)
        ts = _timestamp(now)
        plain = json.dumps(
            {"v": "2.0", "type": "log", "source": source, "level": 7, "ts": ts, "message": message},
            separators=(",", ":"),
        ).encode()
        nonce = os.urandom(12)
        body = session.aead.encrypt(nonce, gzip_compress(plain), None)
        headers = (
            f"Content-Type: application/octet-stream\r\nX-LF-Entry-Type: 1\r\n"
            f"X-LF-Payload-Type: 1\r\nX-LF-Timestamp: {ts}\r\n"
            f"X-LF-Key-ID: {session.key_id}\r\n"
            f"X-LF-Nonce: {base64.b64encode(nonce).decode()}\r\n\r\n"
        ).encode()
        parts.append(delim + headers + body + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def encode_all(
    session: Session,
    batches: Iterable[list[str]],
    source: str,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[bytes, str]]:
    out = []
    for batch in batches:
        out.append(encode_batch(session, batch, source))
        if progress is not None:
            progress(len(out))
    return out
