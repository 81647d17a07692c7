"""What one ingest answer means: (status, headers, body) → an outcome, as plain data.

This is protocol.md §4's status table and nothing else, as a pure function: no I/O, no
logging, no clock (the caller passes wall time for an HTTP-date Retry-After). The delivery loop
(``delivery.py``) turns each outcome into actions — commit, resend, pause, split, re-handshake,
dead-letter — so the table can be tested row by row without a network.

| answer                        | outcome                                              |
|-------------------------------|------------------------------------------------------|
| 2xx, nothing failed           | ``Delivered``                                        |
| 2xx with ``failed``/failures  | ``Partial`` (listed indexes, retryable or permanent) |
| 429                           | ``RetryAfter`` (header seconds / HTTP-date / body)   |
| 401, 403                      | ``Rehandshake``                                      |
| 507                           | ``QuotaPaused``                                      |
| 413, 400, other 4xx (> 1 part)| ``Split``                                            |
| 413, 400, other 4xx (1 part)  | ``Rejected`` (too_large / bad_request / rejected)    |
| 5xx, anything else            | ``Backoff``                                          |

No answer at all (timeout, refused, reset) is ``transport_failure``: also a ``Backoff``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from logflux_agent.credentials import mask_secrets
from logflux_agent.ingest.retry import parse_retry_after

_MAX_ERROR_CHARS = 500
_SNIPPET_CHARS = 200
# Per-entry failure texts that mean "try again later" rather than "this entry is bad".
_TRANSIENT_WORDS = (
    "timeout",
    "timed out",
    "unavailable",
    "temporar",
    "try again",
    "retry",
    "overload",
    "busy",
    "internal",
)
UNLISTED_ERROR = "failed (index not reported)"


@dataclass(frozen=True, slots=True)
class Delivered:
    """Every part was accepted. ``invalid_indexes``: failure indexes outside the request.
    ``request_id``: the server's id of the request (body or ``X-Request-ID``), if it sent one."""

    invalid_indexes: tuple[str, ...] = ()
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class PartFailure:
    """One part the server did not take; ``retryable`` when its error text says "later"."""

    index: int
    error: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class Partial:
    """A 2xx with failed parts; the others were accepted.

    ``unlisted``: the server said how many failed but not which, so every part is listed
    (resending all is at-least-once). ``invalid_indexes``: listed indexes outside the request.
    """

    failures: tuple[PartFailure, ...]
    status: int = 200
    unlisted: int = 0
    invalid_indexes: tuple[str, ...] = ()
    request_id: str | None = None

    @property
    def indexes(self) -> tuple[int, ...]:
        return tuple(f.index for f in self.failures)


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """429: every sender waits ``seconds`` (clamped to [0, 1 h]); not counted as a retry."""

    seconds: float
    error: str = ""

    @property
    def status(self) -> int:
        return 429


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry the same entries after a backoff. ``reason`` is the send-failure metric label:
    ``5xx``, ``other`` (an unexpected status), ``timeout`` or ``connection``."""

    reason: str
    error: str = ""
    status: int | None = None
    kind: str = ""  # for no answer: TransportError.kind (dns, tls, refused, timeout, ...)

    @property
    def transport(self) -> bool:
        """True when no HTTP answer arrived (counts towards re-discovery)."""
        return self.status is None


@dataclass(frozen=True, slots=True)
class Split:
    """A 4xx for a request of several parts: halve it to isolate the entry at fault."""

    status: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class Rehandshake:
    """401/403: the session key (or the API key) was refused."""

    status: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class QuotaPaused:
    """507: storage or quota exhausted; stop sending, keep the data, probe slowly."""

    error: str = ""

    @property
    def status(self) -> int:
        return 507


@dataclass(frozen=True, slots=True)
class Rejected:
    """A one-part request the ingestor will never take; ``reason`` is the dead-letter reason."""

    status: int
    reason: str
    error: str = ""


Outcome = Delivered | Partial | RetryAfter | Backoff | Split | Rehandshake | QuotaPaused | Rejected


def classify(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    parts: int,
    now_wall: float,
    truncated: bool = False,
) -> Outcome:
    """The outcome of one ingest answer for a request of ``parts`` parts."""
    doc = _json(body, truncated)
    if 200 <= status < 300:
        return _success(status, doc, parts, request_id(doc, headers))
    error = error_text(doc, body)
    if status == 429:
        delay = parse_retry_after(_header(headers, "Retry-After"), doc, now_wall)
        return RetryAfter(delay, error)
    if status in (401, 403):
        return Rehandshake(status, error)
    if status == 507:
        return QuotaPaused(error)
    if 400 <= status < 500:
        if parts > 1:
            return Split(status, error)
        return Rejected(status, _rejection(status), error)
    return Backoff("5xx" if status >= 500 else "other", error, status)


def transport_failure(kind: str, message: str) -> Backoff:
    """No HTTP answer: ``kind`` as ``TransportError.kind`` (timeout, refused, dns, ...)."""
    return Backoff("timeout" if kind == "timeout" else "connection", message, kind=kind)


def is_transient(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _TRANSIENT_WORDS)


def error_text(doc: object, body: bytes) -> str:
    """The error envelope's code/message/details, else the body's start; secrets masked."""
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            pieces = [str(err.get(k)) for k in ("code", "message", "details") if err.get(k)]
            if pieces:
                return mask_secrets(": ".join(pieces))[:_MAX_ERROR_CHARS]
        message = doc.get("message")
        if isinstance(message, str) and message:
            return mask_secrets(message)[:_MAX_ERROR_CHARS]
    text = body[:_SNIPPET_CHARS].decode("utf-8", "replace")
    return mask_secrets(" ".join(text.split()))


def _rejection(status: int) -> str:
    if status == 413:
        return "too_large"
    if status == 400:
        return "bad_request"
    return "rejected"


def request_id(doc: object, headers: Mapping[str, str]) -> str | None:
    """The request id of an answer (the receipt ledger records it); None when it has none."""
    value = doc.get("request_id") if isinstance(doc, dict) else None
    if not isinstance(value, str) or not value:
        value = _header(headers, "X-Request-ID")
    return mask_secrets(value)[:128] if value else None


def _success(status: int, doc: object, parts: int, rid: str | None) -> Delivered | Partial:
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        return Delivered(request_id=rid)
    failed, invalid = _listed_failures(data.get("failures"), parts)
    count = data.get("failed")
    if isinstance(count, int) and not isinstance(count, bool) and count > 0 and not failed:
        # The server says some failed but not which: resend all (at-least-once).
        everything = tuple(PartFailure(i, UNLISTED_ERROR, False) for i in range(parts))
        return Partial(everything, status, unlisted=count, invalid_indexes=invalid, request_id=rid)
    if not failed:
        return Delivered(invalid, rid)
    failures = tuple(failed[i] for i in sorted(failed))
    return Partial(failures, status, invalid_indexes=invalid, request_id=rid)


def _listed_failures(
    failures: object, parts: int
) -> tuple[dict[int, PartFailure], tuple[str, ...]]:
    found: dict[int, PartFailure] = {}
    invalid: list[str] = []
    if not isinstance(failures, list):
        return found, ()
    for item in failures:
        if not isinstance(item, dict):
            continue
        index = item.get("index")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < parts:
            text = str(item.get("error") or "entry failed")[:_MAX_ERROR_CHARS]
            found[index] = PartFailure(index, text, is_transient(text))
        else:
            invalid.append(repr(index)[:40])
    return found, tuple(invalid)


def _json(body: bytes, truncated: bool) -> object:
    if truncated or not body:
        return None
    try:
        doc: object = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)  # aiohttp's headers are case-insensitive already
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)
