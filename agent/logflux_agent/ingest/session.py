"""One handshake's result: the AES session key, its key id, nonce state, and the server limits.

The key lives in a ``bytearray`` that ``destroy`` zeroes; ``repr`` never shows it. Nonces come
from ``reserve``: a contiguous counter range per batch, so no two parts encrypted under this key
ever share a nonce, whichever task or process does the encryption.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.ingest.crypto import MAX_COUNTER, zero

# Used when the server does not advertise a limit (protocol §4: Go refuses > 1 MiB messages).
DEFAULT_MAX_PAYLOAD = 1_048_576
DEFAULT_MAX_REQUEST = 10_485_760


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The handshake's ``limits``; 0 means the server did not say."""

    max_batch_size: int = 0
    max_payload_size: int = 0
    max_request_size: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """Effective bounds: the server's limits intersected with the configuration."""

    max_batch_entries: int
    max_request_bytes: int
    max_payload_bytes: int

    @classmethod
    def effective(cls, server: ServerLimits, batch_max_entries: int) -> Limits:
        entries = batch_max_entries
        if server.max_batch_size > 0:
            entries = min(entries, server.max_batch_size)
        return cls(
            max_batch_entries=max(1, entries),
            max_request_bytes=server.max_request_size or DEFAULT_MAX_REQUEST,
            max_payload_bytes=server.max_payload_size or DEFAULT_MAX_PAYLOAD,
        )


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What ``IngestClient.start`` reports (and ``check`` prints). Holds no key material."""

    base_url: str
    region: str
    discovered_via: str
    key_id: str
    fingerprint: str
    pin: str | None
    pin_source: str | None
    limits: Limits
    server_limits: ServerLimits
    supports_multipart: bool


@dataclass(eq=False, slots=True)
class Session:
    """A live AES session. ``generation`` increases with every handshake of one client."""

    base_url: str
    key_id: str
    fingerprint: str
    server_limits: ServerLimits
    supports_multipart: bool
    created: float
    generation: int
    max_entries: int
    _key: bytearray = field(repr=False)
    _prefix: bytes = field(repr=False)
    # The RSA-wrapped key sent in handshake/complete (protocol §3): kept so the spool can store
    # it with its ciphertext and register it again after a restart. Useless without the
    # server's private key; still never shown.
    encrypted_secret: str = field(default="", repr=False)
    _aead: AESGCM | None = field(init=False, repr=False, default=None)
    _counter: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._aead = AESGCM(bytes(self._key))

    def __repr__(self) -> str:
        return (
            f"Session(base_url={self.base_url!r}, key_id={self.key_id!r}, "
            f"generation={self.generation}, used={self._counter})"
        )

    @property
    def used(self) -> int:
        """Nonces (entries) handed out so far."""
        return self._counter

    @property
    def destroyed(self) -> bool:
        return self._aead is None

    def has_room(self, n: int) -> bool:
        """True if ``n`` more entries fit within ``max_entries`` (a fresh session always fits:
        the 64-bit counter cannot wrap, the limit is a key-usage policy)."""
        if self._aead is None:
            return False
        return self._counter == 0 or self._counter + n <= self.max_entries

    def reserve(self, n: int) -> int:
        """Claim ``n`` consecutive nonce counters; returns the first."""
        start = self._counter
        if start + n > MAX_COUNTER:
            raise OverflowError("nonce counter exhausted")
        self._counter = start + n
        return start

    @property
    def aead(self) -> AESGCM:
        if self._aead is None:
            raise RuntimeError("session key destroyed")
        return self._aead

    @property
    def nonce_prefix(self) -> bytes:
        return self._prefix

    def key_copy(self) -> bytearray:
        """A copy of the key for a worker process; the caller zeroes it when the job is done."""
        if self._aead is None:
            raise RuntimeError("session key destroyed")
        return bytearray(self._key)

    def destroy(self) -> None:
        """Zero the key. Bodies already encoded under it stay valid (they need no key)."""
        zero(self._key)
        self._aead = None
