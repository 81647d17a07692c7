"""Session keys (key id -> AES key) and the bounded memory of (key id, nonce) pairs seen.

Sessions: a fresh UUID4 key id per completed handshake, bound to the API key that made it (a
key id used with another API key is unknown). At most ``max_sessions`` are kept; the oldest is
forgotten first. ``expire_all`` forgets them all (the "expire keys" fault).

Nonce memory: protocol §7.3 says a client may resend identical bytes, so an identical
(key id, nonce, body) is a duplicate to accept, while the same (key id, nonce) with a different
body is nonce misuse. Each entry is a 16-byte key (session number + nonce) mapped to an 8-byte
BLAKE2b digest of the part body, about 175 bytes of memory per entry (measured). Entries live in
generations (capacity / 4 each): when the newest is full a new one starts and, past four, the
oldest is dropped whole; a hit in an older generation is copied forward (approximate LRU). So at
most ``capacity`` pairs are remembered and a replay older than that is treated as new.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import deque
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_GENERATIONS = 4


@dataclass(frozen=True, slots=True)
class Session:
    """One handshake's result. ``number`` is a small unique id for the nonce memory."""

    key_id: str
    number: int
    api_key: str
    aead: AESGCM
    fingerprint: str


class SessionStore:
    """key id -> Session, bounded; ``expire_all`` forgets every key."""

    def __init__(self, max_sessions: int) -> None:
        self._max = max(1, max_sessions)
        self._by_id: dict[str, Session] = {}
        self._counter = 0
        self.expired_total = 0
        # Digests of the wrapped secrets completed so far (bounded like the sessions, x4), so
        # the "refuse reused secret" switch can tell a re-registration from a new key.
        self._secrets: dict[bytes, None] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def create(self, aes_key: bytes, api_key: str, fingerprint: str) -> Session:
        self._counter += 1
        session = Session(str(uuid.uuid4()), self._counter, api_key, AESGCM(aes_key), fingerprint)
        self._by_id[session.key_id] = session
        while len(self._by_id) > self._max:
            del self._by_id[next(iter(self._by_id))]
        return session

    def seen_secret(self, wrapped: bytes) -> bool:
        """Remember ``wrapped``; True when it was completed before."""
        digest = hashlib.blake2b(wrapped, digest_size=16).digest()
        if digest in self._secrets:
            return True
        self._secrets[digest] = None
        while len(self._secrets) > 4 * self._max:
            del self._secrets[next(iter(self._secrets))]
        return False

    def get(self, key_id: str, api_key: str) -> Session | None:
        """The session for ``key_id`` if it exists and was made with ``api_key``."""
        session = self._by_id.get(key_id)
        if session is None or session.api_key != api_key:
            return None
        return session

    def expire_all(self) -> int:
        n = len(self._by_id)
        self._by_id.clear()
        self.expired_total += n
        return n


def body_digest(body: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "big")


def nonce_slot(session: Session, nonce: bytes) -> bytes:
    return session.number.to_bytes(4, "big") + nonce


class NonceMemory:
    """Bounded map (session, nonce) -> body digest; see the module docstring."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(_GENERATIONS, capacity)
        self._per_generation = self.capacity // _GENERATIONS
        self._gens: deque[dict[bytes, int]] = deque([{}])
        self.evicted = 0

    def __len__(self) -> int:
        return sum(len(g) for g in self._gens)

    def lookup(self, slot: bytes) -> int | None:
        newest = self._gens[-1]
        found = newest.get(slot)
        if found is not None:
            return found
        for gen in self._gens:
            found = gen.get(slot)
            if found is not None:
                self.remember(slot, found)  # keep recently replayed pairs longest
                return found
        return None

    def remember(self, slot: bytes, digest: int) -> None:
        newest = self._gens[-1]
        if len(newest) >= self._per_generation:
            newest = {}
            self._gens.append(newest)
            if len(self._gens) > _GENERATIONS:
                self.evicted += len(self._gens.popleft())
        newest[slot] = digest

    def clear(self) -> None:
        self._gens = deque([{}])
