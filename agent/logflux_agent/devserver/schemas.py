"""The fields each entry type adds to the common v2 payload (protocol §5), as the SDKs send them.

The common fields (``v``, ``type``, ``source``, ``level``, ``ts``, ``attributes``, ``meta``) are
checked in ``payload.py``; this module checks what is particular to a type. ``message`` belongs
to logs only: a metric, span, event, audit record or telemetry reading has none in any SDK.

Where the official SDKs disagree on a name the ingestor takes each spelling, because each is
real traffic: a metric's kind is ``kind`` (Go) or ``metric_type`` (JS, Java); a span's label is
``name`` (Go) or ``description`` (JS, Java). Numbers are JSON numbers (integers or fractions,
never booleans); times are RFC 3339 UTC with ``Z`` like ``ts``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# A rule returns None when the value is acceptable, else what was expected.
Rule = Callable[[Any], str | None]


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _nonempty(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "a non-empty string"


def _number(value: Any) -> str | None:
    return None if type(value) in (int, float) else "a number"


def _nonnegative(value: Any) -> str | None:
    return None if type(value) in (int, float) and value >= 0 else "a number >= 0"


def _timestamp(value: Any) -> str | None:
    from logflux_agent.devserver.payload import is_rfc3339_utc

    ok = isinstance(value, str) and is_rfc3339_utc(value)
    return None if ok else "an RFC 3339 UTC time with a Z suffix"


def _readings(value: Any) -> str | None:
    expected = "a list of {name: string, value: number, unit?: string}"
    if not isinstance(value, list):
        return expected
    for i, reading in enumerate(value):
        if (
            not isinstance(reading, dict)
            or _nonempty(reading.get("name")) is not None
            or _number(reading.get("value")) is not None
            or ("unit" in reading and not isinstance(reading["unit"], str))
        ):
            return f"{expected} (reading {i} is not)"
    return None


# type name -> field -> (rule, required)
SCHEMAS: Mapping[str, Mapping[str, tuple[Rule, bool]]] = {
    "log": {"message": (_string, True), "logger": (_string, False)},
    "metric": {
        "name": (_nonempty, True),
        "value": (_number, True),
        "unit": (_string, False),
        "kind": (_string, False),
        "metric_type": (_string, False),
    },
    "trace": {
        "trace_id": (_nonempty, True),
        "span_id": (_nonempty, True),
        "parent_span_id": (_string, False),
        "operation": (_string, True),
        "name": (_string, False),
        "description": (_string, False),
        "start_time": (_timestamp, True),
        "end_time": (_timestamp, True),
        "duration_ms": (_nonnegative, False),
        "status": (_string, False),
    },
    "event": {"event": (_nonempty, True)},
    "audit": {
        "action": (_nonempty, True),
        "actor": (_string, True),
        "actor_type": (_string, False),
        "resource": (_string, True),
        "resource_id": (_string, True),
        "outcome": (_string, False),
    },
    "telemetry": {"device_id": (_string, True), "readings": (_readings, True)},
}
# Optional on every type that does not define it itself.
_ANY_TYPE: Mapping[str, tuple[Rule, bool]] = {
    "message": (_string, False),
    "logger": (_string, False),
}


def type_problem(obj: Mapping[str, Any], kind: str) -> str | None:
    """What is wrong with the fields particular to ``kind``, or None (unknown kinds: None)."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return None
    entry = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} entry"
    for name, (rule, required) in {**_ANY_TYPE, **schema}.items():
        if name not in obj:
            if required:
                expected = rule(None) or "present"
                if name == "message":
                    return "message must be a string (present, may be empty)"
                return f"{name} is required in {entry} ({expected})"
            continue
        wrong = rule(obj[name])
        if wrong is not None:
            return f"{name} in {entry} must be {wrong}, got {_show(obj[name])}"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"
