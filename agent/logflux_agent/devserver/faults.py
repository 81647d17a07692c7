"""Fault injection: rules set through ``POST /_ref/faults`` (or the Python API) and consumed by
the requests they target.

A spec is one JSON object. It may ``clear`` every rule first, run actions (``expire_keys``),
and set rules: each rule has a *kind* (status, partial, delay, close, reset, slow_read), a
*target* group (ingest, handshake, discovery) and lasts ``count`` matching requests and/or
``duration`` seconds. Setting a kind again for the same group replaces the previous rule, so
re-posting a delay does not stack delays. Each matching request consumes one count of every
active rule of its group. See docs/dev-ingestor.md for the full format.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from logflux_agent.clock import Clock

GROUPS = ("ingest", "handshake", "discovery")
KINDS = ("status", "partial", "delay", "close", "reset", "slow_read")
_KEYS = frozenset(
    {
        "clear",
        "target",
        "group",
        "count",
        "duration",
        "status",
        "retry_after",
        "retry_after_date",
        "retry_after_body",
        "code",
        "message",
        "fail_indexes",
        "partial",
        "fail_error",
        "delay",
        "delay_random",
        "close",
        "close_after_store",
        "reset",
        "slow_read",
        "expire_keys",
        "handshake_fail",
        "discovery_down",
    }
)


class FaultSpecError(ValueError):
    """The fault spec is malformed; the message says which field and why."""


@dataclass(slots=True)
class Rule:
    kind: str
    group: str
    remaining: int | None
    expires_at: float | None
    params: dict[str, Any]

    def live(self, now: float) -> bool:
        return (self.remaining is None or self.remaining > 0) and (
            self.expires_at is None or now < self.expires_at
        )

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.group,
            "remaining": self.remaining,
            "expires_in": None if self.expires_at is None else round(self.expires_at - now, 3),
            **self.params,
        }


@dataclass(slots=True)
class RequestFaults:
    """What applies to one request (all empty when nothing is injected)."""

    status: dict[str, Any] | None = None
    fail_indexes: frozenset[int] = frozenset()
    fail_error: str = "injected failure"
    delay: float = 0.0
    close: bool = False
    close_after_store: bool = False
    reset: bool = False
    slow_read: int = 0
    kinds: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Actions:
    """One-shot effects a spec asks for, done by the server right away."""

    expire_keys: bool = False


class Faults:
    """The active rules. Not thread-safe: used from the server's event loop only."""

    def __init__(self, clock: Clock, rng: random.Random | None = None) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self._rules: dict[tuple[str, str], Rule] = {}
        self.discovery_down = False

    def clear(self) -> None:
        self._rules.clear()
        self.discovery_down = False

    def apply(self, spec: dict[str, Any]) -> Actions:
        """Validate ``spec`` completely, then apply it (all or nothing)."""
        if not isinstance(spec, dict):
            raise FaultSpecError("a fault spec is a JSON object")
        unknown = sorted(set(spec) - _KEYS)
        if unknown:
            raise FaultSpecError(f"unknown fault field(s) {unknown}; known: {sorted(_KEYS)}")
        groups = _groups(spec)
        count = _opt_int(spec, "count", 1)
        duration = _opt_float(spec, "duration")
        if duration is not None and duration <= 0:
            raise FaultSpecError("duration must be > 0 seconds")
        rules = self._parse_rules(spec, groups)
        if "handshake_fail" in spec:
            n = _opt_int(spec, "handshake_fail", 1)
            status = spec.get("status", 503)
            rules.append(("status", "handshake", n, _status_params(spec, status)))
        discovery_down = spec.get("discovery_down")
        if discovery_down is not None and not isinstance(discovery_down, bool):
            raise FaultSpecError("discovery_down must be true or false")
        expire = spec.get("expire_keys", False)
        if not isinstance(expire, bool):
            raise FaultSpecError("expire_keys must be true or false")
        # Valid: apply.
        if spec.get("clear"):
            self.clear()
        now = self._clock.monotonic()
        for kind, group, explicit, params in rules:
            remaining = (
                explicit
                if explicit is not None
                else (None if duration is not None and "count" not in spec else count)
            )
            expires = None if duration is None else now + duration
            self._rules[(kind, group)] = Rule(kind, group, remaining, expires, params)
        if discovery_down is not None:
            self.discovery_down = discovery_down
        return Actions(expire_keys=expire)

    def _parse_rules(
        self, spec: dict[str, Any], groups: list[str]
    ) -> list[tuple[str, str, int | None, dict[str, Any]]]:
        """One rule per (kind the spec sets, group); checked in the order of ``_KIND_PARSERS``."""
        out: list[tuple[str, str, int | None, dict[str, Any]]] = []
        for parse in _KIND_PARSERS:
            found = parse(spec)
            if found is not None:
                kind, params = found
                out.extend((kind, g, None, params) for g in groups)
        return out

    def take(self, group: str) -> RequestFaults:
        """The faults for one request of ``group``; consumes one count of each live rule."""
        got = RequestFaults()
        if not self._rules:
            return got
        now = self._clock.monotonic()
        for key, rule in list(self._rules.items()):
            if rule.group != group:
                continue
            if not rule.live(now):
                del self._rules[key]
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            got.kinds.append(rule.kind)
            self._fill(got, rule.kind, rule.params)
            if not rule.live(now):
                del self._rules[key]
        return got

    def _fill(self, got: RequestFaults, kind: str, p: dict[str, Any]) -> None:
        """Set on ``got`` what one rule of ``kind`` with params ``p`` does to a request."""
        if kind == "status":
            got.status = p
        elif kind == "partial":
            got.fail_indexes = frozenset(p["fail_indexes"])
            got.fail_error = p["fail_error"]
        elif kind == "delay":
            spread = p["delay_random"]
            got.delay = p["delay"] + (self._rng.uniform(0, spread) if spread else 0.0)
        elif kind == "close":
            got.close = True
            got.close_after_store = p["after_store"]
        elif kind == "reset":
            got.reset = True
        elif kind == "slow_read":
            got.slow_read = p["bytes_per_second"]

    def snapshot(self) -> dict[str, Any]:
        now = self._clock.monotonic()
        return {
            "rules": [r.as_json(now) for r in self._rules.values() if r.live(now)],
            "discovery_down": self.discovery_down,
        }


# ---- one parser per rule kind: (kind, params) when the spec sets it, else None -----------

_Found = tuple[str, dict[str, Any]] | None


def _status_rule(spec: dict[str, Any]) -> _Found:
    if "status" in spec and "handshake_fail" not in spec:
        return "status", _status_params(spec, spec["status"])
    return None


def _partial_rule(spec: dict[str, Any]) -> _Found:
    indexes = spec.get("fail_indexes", spec.get("partial"))
    if indexes is None:
        return None
    if (
        not isinstance(indexes, list)
        or not indexes
        or not all(type(i) is int and i >= 0 for i in indexes)
    ):
        raise FaultSpecError("fail_indexes must be a non-empty list of part indexes >= 0")
    error = spec.get("fail_error", "injected failure")
    if not isinstance(error, str):
        raise FaultSpecError("fail_error must be a string")
    return "partial", {"fail_indexes": sorted(set(indexes)), "fail_error": error}


def _delay_rule(spec: dict[str, Any]) -> _Found:
    if "delay" not in spec and "delay_random" not in spec:
        return None
    delay = _opt_float(spec, "delay") or 0.0
    spread = _opt_float(spec, "delay_random") or 0.0
    if delay < 0 or spread < 0:
        raise FaultSpecError("delay and delay_random must be >= 0 seconds")
    return "delay", {"delay": delay, "delay_random": spread}


def _close_rule(spec: dict[str, Any]) -> _Found:
    # All three flags are checked here, before either rule they set is made.
    for flag in ("close", "close_after_store", "reset"):
        value = spec.get(flag)
        if value is not None and not isinstance(value, bool):
            raise FaultSpecError(f"{flag} must be true or false")
    if spec.get("close") or spec.get("close_after_store"):
        return "close", {"after_store": bool(spec.get("close_after_store"))}
    return None


def _reset_rule(spec: dict[str, Any]) -> _Found:
    return ("reset", {}) if spec.get("reset") else None


def _slow_read_rule(spec: dict[str, Any]) -> _Found:
    if "slow_read" not in spec:
        return None
    rate = _opt_int(spec, "slow_read", 0)
    if rate <= 0:
        raise FaultSpecError("slow_read is a read rate in bytes per second, > 0")
    return "slow_read", {"bytes_per_second": rate}


_KIND_PARSERS = (
    _status_rule,
    _partial_rule,
    _delay_rule,
    _close_rule,
    _reset_rule,
    _slow_read_rule,
)


def _groups(spec: dict[str, Any]) -> list[str]:
    raw = spec.get("target", spec.get("group", "ingest"))
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        raise FaultSpecError(f"target must be one of {GROUPS}, 'all', or a list of them")
    out: list[str] = []
    for name in names:
        if name == "all":
            out.extend(GROUPS)
        elif name in GROUPS:
            out.append(name)
        else:
            raise FaultSpecError(f"unknown target {name!r}: expected one of {GROUPS} or 'all'")
    return list(dict.fromkeys(out))


def _status_params(spec: dict[str, Any], status: Any) -> dict[str, Any]:
    if type(status) is not int or not 400 <= status <= 599:
        raise FaultSpecError(f"status must be an HTTP error status 400-599, got {status!r}")
    if "retry_after" in spec:
        retry_after = spec["retry_after"]
        if retry_after is not None and (type(retry_after) is not int or retry_after < 0):
            raise FaultSpecError("retry_after must be whole seconds >= 0, or null for none")
    else:
        retry_after = 1 if status == 429 else None
    body_after = spec.get("retry_after_body")
    if body_after is not None and (type(body_after) is not int or body_after < 0):
        raise FaultSpecError("retry_after_body must be whole seconds >= 0")
    as_date = spec.get("retry_after_date", False)
    if not isinstance(as_date, bool):
        raise FaultSpecError("retry_after_date must be true or false")
    for name in ("code", "message"):
        if name in spec and not isinstance(spec[name], str):
            raise FaultSpecError(f"{name} must be a string")
    return {
        "status": status,
        "retry_after": retry_after,
        "retry_after_date": as_date,
        "retry_after_body": body_after,
        "code": spec.get("code"),
        "message": spec.get("message"),
    }


def _opt_int(spec: dict[str, Any], name: str, default: int) -> int:
    value = spec.get(name, default)
    if type(value) is not int:
        raise FaultSpecError(f"{name} must be an integer, got {value!r}")
    if name == "count" and value < 1:
        raise FaultSpecError("count must be >= 1")
    return value


def _opt_float(spec: dict[str, Any], name: str) -> float | None:
    value = spec.get(name)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise FaultSpecError(f"{name} must be a number of seconds, got {value!r}")
    return float(value)
