"""The server's RSA keys: generate or load, serve as PEM SPKI, fingerprint, unwrap session keys.

Protocol §3: init serves a PEM SubjectPublicKeyInfo RSA key; the client wraps a 32-byte AES key
with RSA-OAEP (SHA-256, MGF1-SHA-256, empty label). Anything else (OAEP-SHA1, PKCS#1 v1.5, a
different key) fails to unwrap. A second key can be served to simulate rotation; unwrapping
tries the served key first, then the other, so a handshake that straddles a switch completes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from logflux_agent.errors import ConfigError

RSA_BITS = 2048
AES_KEY_BYTES = 32
_OAEP_SHA256 = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


class UnwrapError(ValueError):
    """The encrypted secret did not unwrap to a 32-byte key."""


class WrongKeyLength(UnwrapError):
    """The secret unwrapped (right key, right padding) but is not 32 bytes long."""


def fingerprint_of(public_key: rsa.RSAPublicKey) -> str:
    """``SHA256:`` + lowercase hex SHA-256 of the DER SubjectPublicKeyInfo (protocol §3)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, slots=True)
class ServerKey:
    """One RSA key pair with its PEM SPKI public half and fingerprint precomputed."""

    private: rsa.RSAPrivateKey
    public_pem: str
    fingerprint: str

    @classmethod
    def from_private(cls, private: rsa.RSAPrivateKey) -> ServerKey:
        pem = (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return cls(private, pem, fingerprint_of(private.public_key()))

    @classmethod
    def generate(cls) -> ServerKey:
        return cls.from_private(rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS))

    @classmethod
    def load_pem(cls, data: bytes, source: str = "the private key") -> ServerKey:
        """Load an unencrypted PEM RSA private key (PKCS#1 or PKCS#8, as openssl writes them)."""
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            raise ConfigError(
                f"{source} is encrypted; write an unencrypted copy with "
                "'openssl pkey -in KEY -out PLAIN.pem'"
            ) from None
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ConfigError(f"{source} is not a PEM private key ({exc})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(
                f"{source} is a {type(key).__name__.lstrip('_')}, not an RSA key; "
                "the protocol wraps session keys with RSA-OAEP"
            )
        return cls.from_private(key)

    @property
    def bits(self) -> int:
        return self.private.key_size

    def unwrap(self, wrapped: bytes) -> bytes:
        """RSA-OAEP-SHA256 decrypt; exactly 32 bytes or ``UnwrapError``."""
        try:
            secret = self.private.decrypt(wrapped, _OAEP_SHA256)
        except ValueError:
            raise UnwrapError(
                "RSA-OAEP (SHA-256, MGF1-SHA-256) decryption failed: wrong key, "
                "wrong padding (OAEP-SHA1? PKCS#1 v1.5?) or a corrupted secret"
            ) from None
        if len(secret) != AES_KEY_BYTES:
            raise WrongKeyLength(
                f"the unwrapped secret is {len(secret)} bytes; AES-256 needs "
                f"exactly {AES_KEY_BYTES}"
            )
        return secret


class KeyRing:
    """The primary key and the optional secondary (rotation) key; which one init serves."""

    def __init__(self, primary: ServerKey, secondary: ServerKey | None = None) -> None:
        self.primary = primary
        self._secondary = secondary

    @property
    def secondary(self) -> ServerKey:
        """The rotation key, generated on first use when none was loaded."""
        if self._secondary is None:
            self._secondary = ServerKey.generate()
        return self._secondary

    def served(self, which: str) -> ServerKey:
        return self.secondary if which == "secondary" else self.primary

    def unwrap(self, wrapped: bytes, which: str) -> tuple[bytes, ServerKey]:
        """Unwrap with the served key first, then the other one (if it exists)."""
        first = self.served(which)
        candidates = [first]
        other = self.primary if first is not self.primary else self._secondary
        if other is not None:
            candidates.append(other)
        error: UnwrapError | None = None
        for key in candidates:
            try:
                return key.unwrap(wrapped), key
            except WrongKeyLength:
                raise  # it decrypted, so this was the right key: only the length is wrong
            except UnwrapError as exc:
                error = error or exc
        assert error is not None
        raise error
