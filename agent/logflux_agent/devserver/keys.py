"""The server's RSA keys: generate or load, serve as PEM SPKI, fingerprint, unwrap session keys.

Protocol §3: init serves a PEM SubjectPublicKeyInfo RSA key; the client wraps a 32-byte AES key
with RSA-OAEP (SHA-256, MGF1-SHA-256, empty label). Anything else fails to unwrap, with one
named exception: ``accept_mgf1_sha1`` (``--accept-oaep-mgf1-sha1``) also takes OAEP SHA-256 with
MGF1-SHA-1, what Java's default provider produces for "OAEPWithSHA-256AndMGF1Padding". When a
strict unwrap fails, the other common OAEP variants are tried only to say, in the error, which
one the client used (PKCS#1 v1.5 is not tried: its failures cannot be told from successes
reliably). A second key can be served to simulate rotation; unwrapping tries the served key
first, then the other, so a handshake that straddles a switch completes.
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


def _oaep(digest: hashes.HashAlgorithm, mgf: hashes.HashAlgorithm) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm=mgf), algorithm=digest, label=None)


STRICT = "OAEP SHA-256 / MGF1-SHA-256"
MGF1_SHA1 = "OAEP SHA-256 / MGF1-SHA-1"
_VARIANTS = {
    STRICT: _oaep(hashes.SHA256(), hashes.SHA256()),
    MGF1_SHA1: _oaep(hashes.SHA256(), hashes.SHA1()),
    "OAEP SHA-1 / MGF1-SHA-1": _oaep(hashes.SHA1(), hashes.SHA1()),
    "OAEP SHA-1 / MGF1-SHA-256": _oaep(hashes.SHA1(), hashes.SHA256()),
}


class UnwrapError(ValueError):
    """The encrypted secret did not unwrap to a 32-byte key; ``would_work`` names the refused
    OAEP variant it does unwrap with, when there is one."""

    def __init__(self, message: str, would_work: str | None = None) -> None:
        super().__init__(message)
        self.would_work = would_work


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

    def unwrap(self, wrapped: bytes, accept_mgf1_sha1: bool = False) -> bytes:
        """The 32-byte secret, or ``UnwrapError`` saying which OAEP variant would have worked."""
        return self.unwrap_variant(wrapped, accept_mgf1_sha1)[0]

    def unwrap_variant(self, wrapped: bytes, accept_mgf1_sha1: bool = False) -> tuple[bytes, str]:
        """The 32-byte secret and the OAEP variant it was wrapped with, or ``UnwrapError``."""
        accepted = (STRICT, MGF1_SHA1) if accept_mgf1_sha1 else (STRICT,)
        for variant in accepted:
            try:
                secret = self.private.decrypt(wrapped, _VARIANTS[variant])
            except ValueError:
                continue
            if len(secret) != AES_KEY_BYTES:
                raise WrongKeyLength(
                    f"the unwrapped secret is {len(secret)} bytes; AES-256 needs "
                    f"exactly {AES_KEY_BYTES}"
                )
            return secret, variant
        raise UnwrapError(self._diagnose(wrapped, accepted), self.would_work(wrapped, accepted))

    def would_work(self, wrapped: bytes, accepted: tuple[str, ...]) -> str | None:
        """The refused OAEP variant this secret does unwrap with, if any (diagnosis only)."""
        for variant, scheme in _VARIANTS.items():
            if variant in accepted:
                continue
            try:
                self.private.decrypt(wrapped, scheme)
            except ValueError:
                continue
            return variant
        return None

    def _diagnose(self, wrapped: bytes, accepted: tuple[str, ...]) -> str:
        tried = " or ".join(accepted)
        variant = self.would_work(wrapped, accepted)
        if variant == MGF1_SHA1:
            return (
                f"RSA-OAEP unwrap failed: the secret is wrapped with {MGF1_SHA1} (Java's "
                f"default for OAEPWithSHA-256AndMGF1Padding), the protocol requires {STRICT}; "
                "the client should pass OAEPParameterSpec with MGF1 SHA-256, or start the "
                "ingestor with --accept-oaep-mgf1-sha1"
            )
        if variant is not None:
            return (
                f"RSA-OAEP unwrap failed: the secret is wrapped with {variant}, "
                f"the protocol requires {STRICT}"
            )
        return (
            f"RSA-OAEP ({tried}) unwrap failed, and no other OAEP variant fits either: "
            "another key, PKCS#1 v1.5 padding or a corrupted secret"
        )


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

    def unwrap(
        self, wrapped: bytes, which: str, accept_mgf1_sha1: bool = False
    ) -> tuple[bytes, ServerKey]:
        """The secret and the key that unwrapped it (see ``unwrap_variant``)."""
        secret, key, _ = self.unwrap_variant(wrapped, which, accept_mgf1_sha1)
        return secret, key

    def unwrap_variant(
        self, wrapped: bytes, which: str, accept_mgf1_sha1: bool = False
    ) -> tuple[bytes, ServerKey, str]:
        """Unwrap with the served key first, then the other one (if it exists): the secret,
        the key that unwrapped it and the OAEP variant. The error of the key that comes
        closest (one whose refused variant would have worked) is the one raised."""
        first = self.served(which)
        candidates = [first]
        other = self.primary if first is not self.primary else self._secondary
        if other is not None:
            candidates.append(other)
        errors: list[UnwrapError] = []
        for key in candidates:
            try:
                secret, variant = key.unwrap_variant(wrapped, accept_mgf1_sha1)
            except WrongKeyLength:
                raise  # it decrypted, so this was the right key: only the length is wrong
            except UnwrapError as exc:
                errors.append(exc)
                continue
            return secret, key, variant
        raise next((e for e in errors if e.would_work), errors[0])
