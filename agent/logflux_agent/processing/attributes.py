"""Fitting extracted fields into an entry's ``attributes`` within the protocol's limits.

protocol.md §4 (the Go SDK's client-side checks, which the ingestor enforces too): at most 20
attributes, names of 1 to 64 characters, values of at most 256 characters, and the names
``customer``, ``application``, ``node``, ``timestamp``, ``loglevel``, ``key_uuid`` (any case)
reserved. Every input and processor that turns data into attributes (a parser's fields, an SDK's
labels) goes through ``fit_attributes`` so the rule is the same everywhere:

- values become strings: ``str`` as is, ``None`` → ``""``, ``bool`` → ``true``/``false``, numbers
  by ``str``, lists and objects as compact JSON;
- a reserved name is kept under ``field.<name>`` (it is data the operator wants, not the
  ingestor's own field), an empty name is dropped, a name over 64 characters is dropped;
- a value over 256 characters is cut to 256;
- attributes already present (the static ``labels``) come first and are never displaced; new
  names are added in order until there are 20.

Nothing is cut silently: the result says how many names were dropped and how many values were
cut, so the caller can count it and keep the full original text in ``message`` when anything
was lost (see docs/processing.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from logflux_agent.config.model import MAX_LABELS, RESERVED_LABELS

MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 256
RESERVED_PREFIX = "field."
_RESERVED = frozenset(RESERVED_LABELS)


class Fitted(NamedTuple):
    """The attributes to send, and what did not fit."""

    attributes: dict[str, str]
    dropped: int  # names left out: over the count limit, empty or too long
    truncated: int  # values cut to MAX_VALUE_CHARS

    @property
    def lossy(self) -> bool:
        return bool(self.dropped or self.truncated)


def as_text(value: object) -> str:
    """The string form of a field value, as it travels in ``attributes``."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def attribute_name(name: str) -> str | None:
    """The name a field travels under, or None if it cannot travel (empty or too long)."""
    if name.lower() in _RESERVED:
        name = RESERVED_PREFIX + name
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        return None
    return name


def fit_attributes(
    fields: Mapping[str, object] | Iterable[tuple[str, object]],
    base: Mapping[str, str] | None = None,
) -> Fitted:
    """``base`` (already valid, e.g. static labels) plus ``fields``, within the protocol's limits.

    A field whose name is already in ``base`` replaces its value (the line's own data is more
    specific than a static label) without taking another slot.
    """
    out: dict[str, str] = dict(base) if base else {}
    dropped = truncated = 0
    items = fields.items() if isinstance(fields, Mapping) else fields
    for raw_name, raw_value in items:
        name = attribute_name(str(raw_name))
        if name is None or (name not in out and len(out) >= MAX_LABELS):
            dropped += 1
            continue
        value = as_text(raw_value)
        if len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS]
            truncated += 1
        out[name] = value
    return Fitted(out, dropped, truncated)
