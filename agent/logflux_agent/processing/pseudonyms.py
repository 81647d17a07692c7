"""``redact``'s ``replace: hash``: the local key and the pseudonyms made with it.

A pseudonym is ``[HASH:<rule>:<16 hex>]``, the first 64 bits of HMAC-SHA256(key, value): the
same value gives the same pseudonym in every entry. The 32-byte key is
``{state_dir}/redact.key`` (mode 0600), created on first use and never printed.

``Pseudonyms`` keeps the pseudonyms of recent values per rule, so a value seen again (a
client address on every line of its requests) costs a dict lookup instead of an HMAC, and a
whole column of values is replaced by one C-level ``map`` over the dict. Bounded: at most
``CACHE_ENTRIES`` values of at most ``CACHE_VALUE_CHARS`` characters per rule (longer values
are hashed each time), so ≲ 1024 x ~250 B ≈ 250 KiB per rule that hashes; the dict is
emptied when full (a new value then costs what it costs without the cache).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

KEY_FILE = "redact.key"
CACHE_ENTRIES = 1024
CACHE_VALUE_CHARS = 64


def load_key(state_dir: str | None) -> bytes:
    """The local HMAC key (created with mode 0600 on first use; never shown)."""
    if state_dir is None:  # tap without a state_dir, tests: a key for this process only
        return os.urandom(32)
    path = Path(state_dir) / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key


class Pseudonyms(dict[str, str]):
    """value → ``prefix`` + its pseudonym under ``rule``; made on first lookup (``__missing__``:
    a hit never leaves C). Never shown: the values are secrets (no repr of the contents)."""

    __slots__ = ("_key", "_prefix", "_rule")

    def __init__(self, key: bytes, rule: str, prefix: str = "") -> None:
        super().__init__()
        self._key = key
        self._rule = rule
        self._prefix = prefix

    def __missing__(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        out = f"{self._prefix}[HASH:{self._rule}:{digest.hexdigest()[:16]}]"
        if len(value) <= CACHE_VALUE_CHARS:
            if len(self) >= CACHE_ENTRIES:
                self.clear()
            self[value] = out
        return out

    def __repr__(self) -> str:
        return f"Pseudonyms({self._rule!r}, {len(self)} cached)"
