"""One part's checks and decoding: part headers (§4), AES-GCM, gunzip, plaintext JSON v2 (§5).

The common payload fields are checked here, each type's own fields in ``schemas.py``.

Each check failure is a ``PartFailure`` with a short stable ``reason`` (counted in the stats)
and a message for the batch envelope's ``failures``. Size limits raise ``EntryTooLarge``,
which the ingest handler turns into a 413 or a part failure (the ``entry_limit`` switch).
"""

from __future__ import annotations

import binascii
import json
import re
import zlib
from base64 import b64decode
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.devserver.schemas import type_problem

ENTRY_TYPE_NAMES = {
    1: "log",
    2: "metric",
    3: "trace",
    4: "event",
    5: "audit",
    6: "telemetry",
    7: "managed telemetry",
}
PAYLOAD_TYPE_ENCRYPTED = 1
PAYLOAD_TYPE_PLAIN_GZIP = 3
GZIP_MAGIC = b"\x1f\x8b"
NONCE_B64_CHARS = 16
NONCE_BYTES = 12
TAG_BYTES = 16
# RFC 3339, UTC with a "Z", 0-9 fraction digits (Go trims zeros, JS writes 3, the agent 6).
_RFC3339_UTC = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z", re.ASCII
)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_SMALL_DECIMALS = {str(i): i for i in range(10)}


class PartFailure(Exception):
    """This part is rejected (listed in ``failures``); the rest of the request goes on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EntryTooLarge(PartFailure):
    """A part body or its decompressed plaintext is over ``max_payload_size``."""

    def __init__(self, message: str) -> None:
        super().__init__("entry_too_large", message)


def parse_type(headers: dict[str, str], name: str) -> int:
    """A decimal ASCII type header (``X-LF-Entry-Type`` / ``X-LF-Payload-Type``)."""
    raw = headers.get(name.lower())
    if raw is None:
        raise PartFailure("missing_header", f"missing {name}")
    value = _SMALL_DECIMALS.get(raw)
    if value is not None:
        return value
    if not _DIGITS.fullmatch(raw) or len(raw) > 3:
        raise PartFailure("bad_header", f"{name} {raw[:20]!r} is not a decimal number")
    return int(raw)


def check_types(headers: dict[str, str]) -> tuple[int, int]:
    """Entry type 1-7 and the payload type that goes with it (1 for 1-6, 3 for 7)."""
    entry_type = parse_type(headers, "X-LF-Entry-Type")
    if not 1 <= entry_type <= 7:
        raise PartFailure("bad_entry_type", f"X-LF-Entry-Type {entry_type} is not 1-7")
    payload_type = parse_type(headers, "X-LF-Payload-Type")
    expected = PAYLOAD_TYPE_PLAIN_GZIP if entry_type == 7 else PAYLOAD_TYPE_ENCRYPTED
    if payload_type != expected:
        raise PartFailure(
            "bad_payload_type",
            f"X-LF-Payload-Type {payload_type} does not go with entry type "
            f"{entry_type} ({ENTRY_TYPE_NAMES[entry_type]}): expected {expected}",
        )
    return entry_type, payload_type


def check_content_type(headers: dict[str, str]) -> None:
    value = headers.get("content-type")
    if value == "application/octet-stream":
        return
    if value is None:
        raise PartFailure("missing_header", "missing part Content-Type")
    if value.partition(";")[0].strip().lower() != "application/octet-stream":
        raise PartFailure(
            "bad_header", f"part Content-Type {value[:60]!r} is not application/octet-stream"
        )


def check_timestamp_header(headers: dict[str, str]) -> str | None:
    value = headers.get("x-lf-timestamp")
    if value is not None and not is_rfc3339_utc(value):
        raise PartFailure(
            "bad_timestamp", f"X-LF-Timestamp {value[:40]!r} is not RFC 3339 UTC with a Z suffix"
        )
    return value


def search_tokens(headers: dict[str, str]) -> list[str]:
    value = headers.get("x-lf-search-tokens")
    return value.split(",") if value else []


def decode_nonce(headers: dict[str, str]) -> tuple[str, bytes]:
    raw = headers.get("x-lf-nonce")
    if raw is None:
        raise PartFailure("missing_header", "missing X-LF-Nonce")
    if len(raw) != NONCE_B64_CHARS:
        raise PartFailure(
            "bad_nonce", f"X-LF-Nonce must be {NONCE_B64_CHARS} base64 characters, got {len(raw)}"
        )
    try:
        nonce = b64decode(raw, validate=True)
    except binascii.Error:
        raise PartFailure("bad_nonce", f"X-LF-Nonce {raw!r} is not standard base64") from None
    if len(nonce) != NONCE_BYTES:  # 16 chars with padding decode to fewer bytes
        raise PartFailure("bad_nonce", f"X-LF-Nonce decodes to {len(nonce)} bytes, not 12")
    return raw, nonce


def decrypt(aead: AESGCM, nonce: bytes, body: bytes, alt_body: bytes | None) -> bytes:
    """AES-256-GCM open (ciphertext || 16-byte tag, no AAD); ``alt_body`` is a second reading."""
    if len(body) < TAG_BYTES and alt_body is None:
        raise PartFailure(
            "decrypt_failed", f"part body is {len(body)} bytes, shorter than the 16-byte GCM tag"
        )
    try:
        return aead.decrypt(nonce, body, None)
    except InvalidTag:
        if alt_body is not None:
            try:
                return aead.decrypt(nonce, alt_body, None)
            except InvalidTag:
                pass
    raise PartFailure(
        "decrypt_failed", "AES-GCM authentication failed (wrong key, nonce or corrupted body)"
    )


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress every gzip member of ``data``, refusing to produce more than ``limit`` bytes."""
    out: list[bytes] = []
    produced = 0
    rest = data
    while rest:
        d = zlib.decompressobj(wbits=31)
        try:
            chunk = d.decompress(rest, limit - produced + 1)
        except zlib.error as exc:
            raise PartFailure("bad_gzip", f"gzip data is corrupt: {exc}") from None
        produced += len(chunk)
        if produced > limit or d.unconsumed_tail:
            raise EntryTooLarge(f"the entry decompresses to more than {limit} bytes")
        if not d.eof:
            raise PartFailure("bad_gzip", "gzip data is truncated")
        out.append(chunk)
        rest = d.unused_data
        if rest and not rest.startswith(GZIP_MAGIC):
            raise PartFailure("bad_gzip", "trailing bytes after the gzip member")
    return b"".join(out) if len(out) != 1 else out[0]


def is_rfc3339_utc(value: str) -> bool:
    m = _RFC3339_UTC.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = map(int, m.group(1, 2, 3, 4, 5, 6))
    if hour > 23 or minute > 59 or second > 60 or not 1 <= month <= 12 or day < 1:
        return False
    if day > 28:  # only then can the day be past the end of its month
        try:
            datetime(year, month, day)
        except ValueError:
            return False
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def parse_plaintext(
    data: bytes, entry_type: int, valid_ts: str | None = None
) -> tuple[str, dict[str, Any]]:
    """UTF-8 JSON object validated against §5; the decoded text and the object.
    ``valid_ts`` is a timestamp already checked (the part's header), not checked again."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PartFailure("bad_json", "the plaintext is not UTF-8") from None
    try:
        obj = _DECODER.decode(text)
    except ValueError as exc:
        raise PartFailure("bad_json", f"the plaintext is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise PartFailure("bad_json", "the plaintext is not a JSON object")
    problem = payload_problem(obj, entry_type, valid_ts)
    if problem:
        raise PartFailure("bad_payload", problem)
    return text, obj


def payload_problem(
    obj: dict[str, Any], entry_type: int, valid_ts: str | None = None
) -> str | None:
    """What breaks protocol §5 in ``obj``, or None (the first problem, in field order)."""
    problem = _common_problem(obj, entry_type) or _optional_problem(obj, valid_ts)
    if problem:
        return problem
    # Then the fields of its type: message for a log, name/value for a metric, ...
    return type_problem(obj, obj["type"])


def _common_problem(obj: dict[str, Any], entry_type: int) -> str | None:
    """The fields every payload has: ``v``, ``type`` (matching the entry type), ``source``."""
    if obj.get("v") != "2.0":
        return f'v must be "2.0", got {obj.get("v")!r}'
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        return "type must be a non-empty string"
    if entry_type <= 6 and kind != ENTRY_TYPE_NAMES[entry_type]:
        return (
            f"type {kind!r} does not match entry type {entry_type} "
            f"(expected {ENTRY_TYPE_NAMES[entry_type]!r})"
        )
    if not isinstance(obj.get("source"), str):
        return "source must be a string (present, may be empty)"
    return None


def _optional_problem(obj: dict[str, Any], valid_ts: str | None) -> str | None:
    """The common fields that may be absent: ``level``, ``ts``, ``attributes``, ``meta``."""
    if "level" in obj:
        level = obj["level"]
        if type(level) is not int or not 1 <= level <= 8:
            return f"level must be an integer 1-8 when present, got {level!r}"
    if "ts" in obj:
        ts = obj["ts"]
        if not isinstance(ts, str) or (ts != valid_ts and not is_rfc3339_utc(ts)):
            return f"ts must be RFC 3339 UTC with a Z suffix, got {ts!r}"
    for name in ("attributes", "meta"):
        if name in obj:
            problem = _strings_problem(name, obj[name])
            if problem:
                return problem
    return None


def _strings_problem(name: str, value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"{name} must be an object of strings"
    for k, v in value.items():
        if not isinstance(v, str):
            return f"{name}[{k!r}] must be a string, got {type(v).__name__}"
    return None
