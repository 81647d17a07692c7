"""Cryptographic primitives of the protocol: server key parsing, fingerprint, key wrap, nonces.

Protocol §3: the server key is a PEM SubjectPublicKeyInfo holding RSA (we also require at least
2048 bits); the session key is 32 CSPRNG bytes wrapped with RSA-OAEP(SHA-256, MGF1-SHA-256, no
label). Protocol §4: AES-256-GCM with a 12-byte nonce. Nonces here are deterministic — a random
4-byte field fixed per session followed by a 64-bit big-endian counter — so they cannot repeat
under one key (random 96-bit nonces only make a repeat unlikely).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from logflux_agent.errors import HandshakeError
from logflux_agent.ingest.wipe import zero as zero  # callers wipe keys through crypto

AES_KEY_BYTES = 32
NONCE_BYTES = 12
NONCE_PREFIX_BYTES = 4
MIN_RSA_BITS = 2048
MAX_COUNTER = 2**64 - 1

_BEGIN = "-----BEGIN PUBLIC KEY-----"
_END = "-----END PUBLIC KEY-----"
_FP_RE = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


def parse_public_key(pem: str) -> rsa.RSAPublicKey:
    """Parse the server's PEM SPKI RSA key, or raise ``HandshakeError`` saying what is wrong."""
    if "-----BEGIN RSA PUBLIC KEY-----" in pem:
        raise HandshakeError(
            "the ingestor sent a PKCS#1 'BEGIN RSA PUBLIC KEY' block; the protocol requires a "
            "SubjectPublicKeyInfo 'BEGIN PUBLIC KEY' block"
        )
    if _BEGIN not in pem or _END not in pem:
        raise HandshakeError(
            "the ingestor's public_key is not a PEM public key (expected both "
            f"'{_BEGIN}' and '{_END}' markers)"
        )
    block = pem[pem.index(_BEGIN) : pem.index(_END, pem.index(_BEGIN)) + len(_END)]
    try:
        key = serialization.load_pem_public_key(block.encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise HandshakeError(f"the ingestor's public key cannot be parsed: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise HandshakeError(
            f"the ingestor's public key is {type(key).__name__.lstrip('_')}, not RSA"
        )
    if key.key_size < MIN_RSA_BITS:
        raise HandshakeError(
            f"the ingestor's RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required"
        )
    return key


def fingerprint(key: rsa.RSAPublicKey) -> str:
    """``SHA256:`` + lowercase hex of SHA-256 over the DER SubjectPublicKeyInfo (protocol §3)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def normalize_fingerprint(text: str) -> str | None:
    """The canonical ``SHA256:<hex>`` form of a configured pin, or None if it is not one.

    Accepts upper or lower case, with or without the ``SHA256:`` prefix, and hex bytes separated
    by colons (as some tools print them).
    """
    compact = text.strip().lower()
    if compact.startswith("sha256:"):
        compact = compact[len("sha256:") :]
    compact = compact.replace(":", "")
    m = _FP_RE.match(compact)
    return f"SHA256:{m.group(1)}" if m else None


def fingerprints_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_session_key() -> bytearray:
    """32 CSPRNG bytes in a mutable buffer, so the caller can zero it when done."""
    return bytearray(os.urandom(AES_KEY_BYTES))


def wrap_key(public_key: rsa.RSAPublicKey, key: bytearray) -> bytes:
    """RSA-OAEP with SHA-256 for both the hash and MGF1, empty label (never SHA-1, never v1.5)."""
    return public_key.encrypt(
        bytes(key),
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )


def new_nonce_prefix() -> bytes:
    return os.urandom(NONCE_PREFIX_BYTES)


def nonce_at(prefix: bytes, counter: int) -> bytes:
    """The 12-byte nonce for ``counter`` under a session's fixed 4-byte ``prefix``."""
    return prefix + counter.to_bytes(8, "big")
