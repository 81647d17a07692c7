"""One line of the local-agent protocol (protocol.md §10) → the fields of a Record: pure code.

This module owns the mapping of an SDK entry object, the shared-secret check of one entry and
the recovery of the invalid lines the C SDK writes. No I/O, no event loop.

Mapping (documented for operators in docs/socket-syslog.md):

- ``message`` → message (required, a string; else the line is shipped raw, ``parse_error``);
- ``level`` syslog severity 0-7 → LogFlux 1-8; an integer outside 0-7 is clamped (counted
  ``level_clamped``), a non-integer gives 7 "info" (counted ``bad_level``);
- ``timestamp`` Unix seconds → ts; missing or implausible → the time the line was read
  (counted ``bad_timestamp`` when present but unusable);
- ``labels`` (an object, or PHP's ``[]``/array read as index → value) → attributes through
  ``fit_attributes`` (``labels.payload_type`` travels as the attribute ``payload_type``);
- ``id`` (a string of 1-256 characters) → the entry's record id (``ident``; the encoder sends it
  as ``meta.record_id``, so consumers de-duplicate on it); any other ``id`` value is kept as the
  attribute ``id`` and the caller derives the record id (``rids.py``);
- ``entry_type`` 1 (or absent) is a log; 2-7 are shipped as logs too with the attribute
  ``entry_type`` = ``metric``/``trace``/… (the agent sends only entry type 1, protocol.md §4);
  anything else keeps its raw value in ``entry_type`` and is counted ``bad_entry_type``;
- ``source`` → source (default ``socket:<input id>``); unknown keys are ignored;
- ``shared_secret`` is checked by the caller's policy and never leaves this module.

C SDK lines (it does not escape ``message``): the fixed key order makes the message the text
between ``{"id":"…","message":"`` and the last ``","source":"`` after which the rest of the
line is the SDK's exact tail; such a line is *recovered* (counted, no ``parse_error``). A line
with the head but no tail (cut at 4,095 bytes, or the first half of a message split at its
newline) keeps the text after the head as its message with ``parse_error=truncated``. Anything
else is shipped as the raw line with ``parse_error=invalid_json`` (or ``not_an_object``,
``no_message``), a ``"shared_secret":"…"`` in it removed.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Mapping
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple, TypeGuard

ENTRY_TYPES = {2: "metric", 3: "trace", 4: "event", 5: "audit", 6: "telemetry", 7: "managed"}
LEVEL_DEFAULT = 7  # info, like the SDKs' default for a plain log
MAX_TS = 253_402_300_799.0  # 9999-12-31T23:59:59Z: the last second RFC 3339 can write
MAX_ID_CHARS = 256  # like an attribute value (protocol.md §10 sets no limit)

_HEAD_RE = re.compile(r'\{"id":"([^"\\]{0,64})","message":"')
_TAIL_RE = re.compile(
    r'","source":"([^"\\]*)","entry_type":(-?\d{1,9}),"level":(-?\d{1,9}),'
    r'"timestamp":(-?\d{1,19})(?:,"labels":(\{.*\}))?(?:,"shared_secret":"([^"]*)")?\}\s*'
)
_TAIL_MARK = '","source":"'
_SECRET_RE = re.compile(r',?\s*"shared_secret"\s*:\s*"(?:[^"\\]|\\.)*"?')
_MAX_TAIL_TRIES = 8


class Entry(NamedTuple):
    """What a line became. ``secret`` is the ``shared_secret`` it carried (None: none)."""

    message: str
    timestamp: float
    level: int
    source: str | None
    fields: list[tuple[str, object]]
    secret: str | None
    problems: tuple[str, ...]
    ident: str | None = None  # the SDK's usable ``id``: the record id


_DECODER = json.JSONDecoder()
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]  # the C scanner json itself uses
_VALUE = itemgetter(0)
_END = itemgetter(1)


def decode_lines(lines: list[str]) -> list[Any]:
    """Each line parsed as JSON, or None where it is not valid JSON.

    Fast path: the C scanner over every line in one ``map`` (no per-line Python code); it
    needs the value to start at offset 0 and to span the whole line, which the SDKs' lines
    do. Anything else (leading space, trailing bytes, invalid JSON) goes line by line.
    """
    try:
        scanned = list(map(_SCAN, lines, repeat(0)))
    except (StopIteration, ValueError, RecursionError):
        scanned = None
    if scanned is not None and list(map(_END, scanned)) == list(map(len, lines)):
        return list(map(_VALUE, scanned))
    out: list[Any] = []
    loads = json.loads
    for line in lines:
        try:
            out.append(loads(line))
        except (ValueError, RecursionError):
            out.append(None)
    return out


def map_object(obj: Mapping[str, Any], now: float) -> Entry:
    """A parsed entry object → Entry. ``obj`` must have a string ``message`` (see ``usable``)."""
    problems: list[str] = []
    level = obj.get("level")
    if type(level) is int:
        if 0 <= level <= 7:
            level += 1
        else:
            level = 1 if level < 0 else 8
            problems.append("level_clamped")
    else:
        if level is not None:
            problems.append("bad_level")
        level = LEVEL_DEFAULT
    ts: Any = obj.get("timestamp")
    if type(ts) in (int, float) and 0 <= ts <= MAX_TS and not math.isnan(ts):
        ts = float(ts)
    else:
        if ts is not None:
            problems.append("bad_timestamp")
        ts = now
    fields: list[tuple[str, object]] = []
    raw_id = obj.get("id")
    ident = raw_id if usable_id(raw_id) else None
    if raw_id is not None and ident is None:
        fields.append(("id", raw_id))  # kept, so nothing the client sent is lost
    kind = obj.get("entry_type")
    if kind is not None and kind != 1:
        name = ENTRY_TYPES.get(kind) if type(kind) is int else None
        if name is None:
            problems.append("bad_entry_type")
        fields.append(("entry_type", name or kind))
    labels = obj.get("labels")
    if isinstance(labels, dict):
        fields.extend(labels.items())
    elif isinstance(labels, list):
        # PHP json_encode writes an empty map as [] and a map keyed "0", "1", … as an array.
        fields.extend((str(i), v) for i, v in enumerate(labels))
    elif labels is not None:
        problems.append("bad_labels")
    source = obj.get("source")
    secret = obj.get("shared_secret")
    return Entry(
        obj["message"],
        ts,
        level,
        source if type(source) is str else None,
        fields,
        secret if type(secret) is str else ("" if secret is not None else None),
        tuple(problems),
        ident,
    )


def usable_id(ident: object) -> TypeGuard[str]:
    """An SDK ``id`` that can be the record id: a string of 1-256 characters."""
    return type(ident) is str and 0 < len(ident) <= MAX_ID_CHARS


def usable(obj: Any) -> str | None:
    """None when ``obj`` is an entry object, else the ``parse_error`` reason."""
    if not isinstance(obj, dict):
        return "not_an_object"
    if type(obj.get("message")) is not str:
        return "no_message"
    return None


def recover(line: str, now: float) -> Entry:
    """An invalid line: the C SDK's message where it is unambiguous, else the raw line."""
    head = _HEAD_RE.match(line)
    if head is not None:
        start = head.end()
        end = len(line)
        for _ in range(_MAX_TAIL_TRIES):
            at = line.rfind(_TAIL_MARK, start, end)
            if at < 0:
                break
            tail = _TAIL_RE.fullmatch(line, at)
            if tail is not None:
                return _from_tail(line[start:at], head.group(1), tail, now)
            end = at
        fields: list[tuple[str, object]] = [("parse_error", "truncated")]
        ident = head.group(1) or None
        return Entry(scrub_secret(line[start:]), now, LEVEL_DEFAULT, None, fields, None, (), ident)
    at = line.rfind(_TAIL_MARK)
    tail = _TAIL_RE.fullmatch(line, at) if at >= 0 else None
    if tail is not None:
        # The second half of a message the C SDK split at a newline: no head, the exact tail.
        entry = _from_tail(line[:at], "", tail, now)
        fields = [*entry.fields, ("parse_error", "continuation")]
        return entry._replace(fields=fields, problems=("continuation",), ident=None)
    return raw_entry(line, "invalid_json", now)


def is_head_only(entry: Entry) -> bool:
    """A C SDK line cut after its head: the next line may be the rest of its message."""
    return ("parse_error", "truncated") in entry.fields


def is_continuation(entry: Entry) -> bool:
    return "continuation" in entry.problems


def _from_tail(message: str, ident: str, tail: re.Match[str], now: float) -> Entry:
    obj: dict[str, Any] = {
        "message": message,
        "source": tail.group(1),
        "entry_type": int(tail.group(2)),
        "level": int(tail.group(3)),
        "timestamp": int(tail.group(4)),
    }
    if ident:
        obj["id"] = ident
    problems: tuple[str, ...] = ("recovered",)
    if tail.group(5) is not None:
        try:
            obj["labels"] = json.loads(tail.group(5))
        except ValueError:
            problems += ("bad_labels",)
    if tail.group(6) is not None:
        obj["shared_secret"] = tail.group(6)
    entry = map_object(obj, now)
    return entry._replace(problems=entry.problems + problems)


def raw_entry(line: str, reason: str, now: float) -> Entry:
    """The line itself as the message, with ``parse_error`` saying why."""
    fields: list[tuple[str, object]] = [("parse_error", reason)]
    return Entry(scrub_secret(line), now, LEVEL_DEFAULT, None, fields, None, ())


def scrub_secret(text: str) -> str:
    """``text`` without any ``"shared_secret":"…"`` it holds (the secret never travels)."""
    if "shared_secret" not in text:
        return text
    return _SECRET_RE.sub("", text)


def secret_matches(given: str, expected: bytes) -> bool:
    """Constant-time comparison (the time taken does not depend on where they differ)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected)
