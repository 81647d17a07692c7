"""Journal entry (one line of ``journalctl -o json``) → Record.

Field mapping:

- ``MESSAGE`` → message. journalctl prints a value that is not valid UTF-8 (or has control
  characters) as a JSON array of byte values; it is decoded as UTF-8 with replacement
  characters (and counted). A field present several times in one entry is printed as an array
  of values; those are joined with newlines.
- ``PRIORITY`` (syslog 0 emerg .. 7 debug) → level 1..8; missing or malformed → 7 (info).
- ``__REALTIME_TIMESTAMP`` (µs since the epoch) → timestamp; missing → the time it was read.
- ``_SYSTEMD_UNIT``, ``SYSLOG_IDENTIFIER``, ``_HOSTNAME``, ``_PID``, ``_COMM`` and every
  ``include_fields`` entry → attributes under their journal field names, then the input's
  ``labels`` (labels win on a clash). Attribute values are cut to 256 characters (the SDKs'
  label value limit).
- source = ``_SYSTEMD_UNIT``, else ``SYSLOG_IDENTIFIER``, else ``"journald"``.
"""

from __future__ import annotations

import json
from typing import Any

from logflux_agent.clock import Clock
from logflux_agent.record import Record

DEFAULT_LEVEL = 7
ATTRIBUTE_VALUE_MAX = 256
BASE_ATTRIBUTE_FIELDS = ("_SYSTEMD_UNIT", "SYSLOG_IDENTIFIER", "_HOSTNAME", "_PID", "_COMM")
# Attribute keys the ingest protocol forbids (compared case-insensitively).
FORBIDDEN_KEYS = frozenset({"customer", "application", "node", "timestamp", "loglevel", "key_uuid"})
_raw_decode = json.JSONDecoder().raw_decode
# Syslog priority text → LogFlux level; precomputed so the hot path is one dict lookup.
_LEVELS = {str(p): p + 1 for p in range(8)}


class BadEntry(ValueError):
    """A journalctl output line that is not a JSON object."""


def field_text(value: Any) -> tuple[str, bool] | None:
    """(text, had_invalid_utf8) of one JSON field value; None for null or unknown shapes."""
    if isinstance(value, str):
        return value, False
    if isinstance(value, list):
        if all(isinstance(b, int) for b in value):
            try:
                raw = bytes(value)
            except ValueError:
                return None
            try:
                return raw.decode("utf-8"), False
            except UnicodeDecodeError:
                return raw.decode("utf-8", "replace"), True
        parts: list[str] = []
        invalid = False
        for item in value:
            decoded = field_text(item)
            if decoded is not None:
                parts.append(decoded[0])
                invalid = invalid or decoded[1]
        return "\n".join(parts), invalid
    return None


class EntryMapper:
    """Turns parsed journal entries into records for one input."""

    def __init__(
        self, *, labels: dict[str, str], include_fields: tuple[str, ...], clock: Clock
    ) -> None:
        wanted = [
            f
            for f in (*BASE_ATTRIBUTE_FIELDS, *include_fields)
            if f not in ("MESSAGE", "PRIORITY") and f.lower() not in FORBIDDEN_KEYS
        ]
        self.attribute_fields = tuple(dict.fromkeys(wanted))
        self.labels = dict(labels)
        self.clock = clock
        self.invalid_utf8 = 0

    def parse(self, line: str) -> tuple[Record, str | None]:
        """(record, cursor) for one JSON line; raises BadEntry for anything but an object."""
        try:
            # raw_decode skips loads()' encoding sniffing and whitespace regexes (~20% of the
            # per-entry cost); journalctl writes one compact object per line.
            entry, end = _raw_decode(line)
        except ValueError as exc:
            raise BadEntry(str(exc)) from exc
        if type(entry) is not dict or end != len(line):
            raise BadEntry("not a single JSON object")
        cursor = entry.get("__CURSOR")
        return self.record(entry), cursor if type(cursor) is str and cursor else None

    def record(self, entry: dict[str, Any]) -> Record:
        get = entry.get
        message = get("MESSAGE")
        if type(message) is not str:
            message = self._text(message) or ""

        priority = get("PRIORITY")
        level = _LEVELS.get(priority, DEFAULT_LEVEL) if type(priority) is str else DEFAULT_LEVEL

        timestamp: float
        realtime: Any = get("__REALTIME_TIMESTAMP")
        try:
            timestamp = int(realtime) / 1_000_000
        except (TypeError, ValueError):
            timestamp = self.clock.wall()

        attributes: dict[str, str] = {}
        for name in self.attribute_fields:
            value = get(name)
            if value is None:
                continue
            if type(value) is not str:
                value = _text_only(value)
                if value is None:
                    continue
            attributes[name] = (
                value if len(value) <= ATTRIBUTE_VALUE_MAX else value[:ATTRIBUTE_VALUE_MAX]
            )
        source = (
            attributes.get("_SYSTEMD_UNIT") or attributes.get("SYSLOG_IDENTIFIER") or "journald"
        )
        if self.labels:
            attributes.update(self.labels)
        return Record(
            message=message, timestamp=timestamp, level=level, source=source, attributes=attributes
        )

    def _text(self, value: Any) -> str | None:
        decoded = field_text(value)
        if decoded is None:
            return None
        if decoded[1]:
            self.invalid_utf8 += 1
        return decoded[0]


def _text_only(value: Any) -> str | None:
    decoded = field_text(value)
    return None if decoded is None else decoded[0]
