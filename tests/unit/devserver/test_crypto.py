"""The reference ingestor's own crypto against protocol.md §9: the vectors decrypt and gunzip to
the stated plaintexts, the negative checks fail authentication, RSA-OAEP-SHA256 round-trips and
OAEP-SHA1 does not, the fingerprint is SHA-256 over the DER SPKI, and keys load as openssl
writes them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.devserver import payload as pl
from logflux_agent.devserver.keys import KeyRing, ServerKey, UnwrapError, WrongKeyLength
from logflux_agent.devserver.multipart import boundary_from_content_type, parse_multipart
from logflux_agent.errors import ConfigError
from tests.support.vectors import (
    KEY,
    V1_BODY,
    V1_GZIP,
    V1_NONCE_B64,
    V1_PLAIN,
    V2_NONCE_B64,
    V2_PLAIN_SHA,
    V2A,
    V2B,
    V3,
    V3_NONCE_B64,
)


def open_part(body: bytes, nonce_b64: str, key: bytes = KEY) -> bytes:
    """Decrypt and gunzip exactly as the ingest handler does."""
    _, nonce = pl.decode_nonce({"x-lf-nonce": nonce_b64})
    data = pl.decrypt(AESGCM(key), nonce, body, None)
    return pl.gunzip_bounded(data, 1 << 20) if data.startswith(pl.GZIP_MAGIC) else data


def test_vector_1_decrypts_gunzips_and_validates() -> None:
    assert hashlib.sha256(V1_PLAIN).hexdigest() == (
        "62af0690e3017ec875a4d344ffcd8fa1ea4539d56bb7131ac40afc52a4519ad9"
    )
    assert len(V1_BODY) == 165 and V1_BODY[-16:].hex() == "06de259e274cd05a187352f1bc441b91"
    plain = open_part(V1_BODY, V1_NONCE_B64)
    assert plain == V1_PLAIN
    assert pl.gunzip_bounded(V1_GZIP, 1 << 20) == V1_PLAIN
    text, obj = pl.parse_plaintext(plain, 1)
    assert obj["message"] == "GET /health 200 1ms" and text.encode() == V1_PLAIN


def test_vector_1_request_body_parses_to_the_part() -> None:
    headers = (
        b"Content-Type: application/octet-stream\r\nX-LF-Entry-Type: 1\r\n"
        b"X-LF-Payload-Type: 1\r\nX-LF-Timestamp: 2026-11-28T10:00:00.123456Z\r\n"
        b"X-LF-Key-ID: k-test\r\nX-LF-Nonce: AAECAwQFBgcICQoL\r\n"
    )
    body = b"--b\r\n" + headers + b"\r\n" + V1_BODY + b"\r\n--b--\r\n"
    [part] = parse_multipart(body, boundary_from_content_type("multipart/mixed; boundary=b"))
    assert part.body == V1_BODY
    assert pl.check_types(part.headers) == (1, 1)
    assert pl.check_timestamp_header(part.headers) == "2026-11-28T10:00:00.123456Z"
    assert part.headers["x-lf-key-id"] == "k-test"
    assert open_part(part.body, part.headers["x-lf-nonce"]) == V1_PLAIN


@pytest.mark.parametrize("body", [V2A, V2B], ids=["2a", "2b"])
def test_vector_2_both_compressors_give_the_same_plaintext(body: bytes) -> None:
    assert V2A != V2B
    plain = open_part(body, V2_NONCE_B64)
    assert len(plain) == 109 and hashlib.sha256(plain).hexdigest() == V2_PLAIN_SHA
    assert pl.parse_plaintext(plain, 1)[1]["message"] == "disk full on /var"


def test_vector_3_uncompressed_payload() -> None:
    plain = open_part(V3, V3_NONCE_B64)
    assert not plain.startswith(pl.GZIP_MAGIC)
    assert hashlib.sha256(plain).hexdigest() == V2_PLAIN_SHA


@pytest.mark.parametrize("bit", [0, 7, 8 * 80 + 3, 8 * 164 + 7])
def test_flipping_any_body_bit_fails_authentication(bit: int) -> None:
    body = bytearray(V1_BODY)
    body[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(pl.PartFailure) as err:
        open_part(bytes(body), V1_NONCE_B64)
    assert err.value.reason == "decrypt_failed"


def test_wrong_nonce_or_key_fails_authentication() -> None:
    with pytest.raises(pl.PartFailure, match="authentication failed"):
        open_part(V1_BODY, "AAECAwQFBgcICQoM")
    with pytest.raises(pl.PartFailure, match="authentication failed"):
        open_part(V1_BODY, V1_NONCE_B64, key=bytes(32))


def test_lenient_alternative_body_is_tried_after_a_tag_failure() -> None:
    _, nonce = pl.decode_nonce({"x-lf-nonce": V1_NONCE_B64})
    data = pl.decrypt(AESGCM(KEY), nonce, V1_BODY[:-2], V1_BODY)
    assert pl.gunzip_bounded(data, 1 << 20) == V1_PLAIN


@pytest.mark.parametrize(
    "raw",
    [
        "AAECAwQFBgcICQo",
        "AAECAwQFBgcICQoL=",
        "AAECAwQFBgcICQo=",
        "AAECAwQFBgcI-QoL",
        "AAECAwQFBgcICQ==",
        "AAEC AwQFBgcICQo",
    ],
)
def test_malformed_nonces_are_refused(raw: str) -> None:
    with pytest.raises(pl.PartFailure) as err:
        pl.decode_nonce({"x-lf-nonce": raw})
    assert err.value.reason == "bad_nonce"


@pytest.fixture(scope="module")
def server_key() -> ServerKey:
    return ServerKey.generate()


def wrap(key: ServerKey, secret: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
    public = serialization.load_pem_public_key(key.public_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    return public.encrypt(
        secret, padding.OAEP(mgf=padding.MGF1(algorithm=algorithm), algorithm=algorithm, label=None)
    )


def test_oaep_sha256_round_trip_and_sha1_refused(server_key: ServerKey) -> None:
    secret = os.urandom(32)
    assert server_key.bits == 2048
    assert server_key.public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert server_key.unwrap(wrap(server_key, secret, hashes.SHA256())) == secret
    with pytest.raises(UnwrapError, match="OAEP"):
        server_key.unwrap(wrap(server_key, secret, hashes.SHA1()))
    public = server_key.private.public_key()
    with pytest.raises(UnwrapError):
        server_key.unwrap(public.encrypt(secret, padding.PKCS1v15()))


def test_a_secret_that_is_not_32_bytes_is_refused(server_key: ServerKey) -> None:
    with pytest.raises(WrongKeyLength, match="31 bytes"):
        server_key.unwrap(wrap(server_key, os.urandom(31), hashes.SHA256()))


def test_fingerprint_is_sha256_over_der_spki(server_key: ServerKey) -> None:
    der = server_key.private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert server_key.fingerprint == "SHA256:" + hashlib.sha256(der).hexdigest()
    assert len(server_key.fingerprint) == len("SHA256:") + 64


def test_keyring_unwraps_with_either_key_served_first(server_key: ServerKey) -> None:
    ring = KeyRing(server_key)
    secret = os.urandom(32)
    rotated = ring.served("secondary")
    assert rotated.fingerprint != server_key.fingerprint
    assert ring.unwrap(wrap(rotated, secret, hashes.SHA256()), "secondary") == (secret, rotated)
    assert ring.unwrap(wrap(server_key, secret, hashes.SHA256()), "secondary") == (
        secret,
        server_key,
    )


@pytest.mark.parametrize(
    "fmt",
    [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8],
    ids=["pkcs1", "pkcs8"],
)
def test_openssl_style_private_keys_load(
    server_key: ServerKey, fmt: serialization.PrivateFormat
) -> None:
    pem = server_key.private.private_bytes(
        serialization.Encoding.PEM, fmt, serialization.NoEncryption()
    )
    assert ServerKey.load_pem(pem).fingerprint == server_key.fingerprint


def test_unusable_private_keys_get_a_clear_error(server_key: ServerKey, tmp_path: Path) -> None:
    encrypted = server_key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(ConfigError, match="encrypted"):
        ServerKey.load_pem(encrypted)
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match="not an RSA key"):
        ServerKey.load_pem(ec_pem)
    with pytest.raises(ConfigError, match="not a PEM private key"):
        ServerKey.load_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
