"""Timestamps in log lines → Unix epoch seconds: RFC 3339 (fast), Unix numbers, strptime.

RFC 3339 is what container runtimes and most JSON loggers write, so it has a fast path: the
``YYYY-MM-DDTHH:MM:SS`` prefix is converted once and cached (lines of one chunk share a handful
of seconds), the fraction and the offset are read by slicing. Anything that is not a valid time
gives ``None``; nothing here raises.
"""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime
from operator import add, itemgetter

_CACHE_MAX = 4096
_seconds: dict[str, int] = {}
_DIGITS = frozenset("0123456789")
_UNIX_SCALE = {"unix": 1.0, "unix_ms": 1e3, "unix_us": 1e6, "unix_ns": 1e9}
_PREFIX = itemgetter(slice(0, 19))
_DOT = itemgetter(19)
_FRACTION = itemgetter(slice(19, -1))  # ".123456789"
_LAST = itemgetter(-1)


def _prefix_seconds(prefix: str) -> int | None:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM:SS`` (UTC), or None."""
    cached = _seconds.get(prefix)
    if cached is not None:
        return cached
    if (
        len(prefix) != 19
        or prefix[4] != "-"
        or prefix[7] != "-"
        or prefix[10] not in "Tt "
        or prefix[13] != ":"
        or prefix[16] != ":"
    ):
        return None
    parts = (prefix[0:4], prefix[5:7], prefix[8:10], prefix[11:13], prefix[14:16], prefix[17:19])
    if not all(_DIGITS.issuperset(p) for p in parts):
        return None
    year, month, day, hour, minute, second = map(int, parts)
    try:
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    value = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if len(_seconds) >= _CACHE_MAX:
        _seconds.clear()
    _seconds[prefix] = value
    return value


def parse_rfc3339(text: str) -> float | None:
    """``2026-12-01T06:00:00.123456789Z`` (or ``+02:00``, ``-0500``) → epoch seconds, or None."""
    base = _seconds.get(text[:19])
    if base is None:
        base = _prefix_seconds(text[:19])
        if base is None:
            return None
    rest = text[19:]
    # The common form first (what runtimes write): ".<digits>Z".
    if rest[-1:] == "Z" and rest[:1] == ".":
        digits = rest[1:-1]
        if digits.isdigit() and digits.isascii():
            return base + float(rest[:-1])
    frac = 0.0
    if rest[:1] in (".", ","):
        end = 1
        while end < len(rest) and rest[end] in _DIGITS:
            end += 1
        if end == 1:
            return None
        frac = float("0." + rest[1:end])
        rest = rest[end:]
    if rest in ("Z", "z"):
        return base + frac
    if len(rest) in (5, 6) and rest[0] in "+-":
        hh, mm = rest[1:3], rest[-2:]
        if (len(rest) == 6 and rest[3] != ":") or not (hh.isdigit() and mm.isdigit()):
            return None
        offset = int(hh) * 3600 + int(mm) * 60
        if int(hh) > 23 or int(mm) > 59:
            return None
        return base + frac - offset if rest[0] == "+" else base + frac + offset
    return None


def parse_rfc3339_column(stamps: list[str]) -> list[float] | None:
    """``parse_rfc3339`` of every stamp when all have the runtimes' form (``…SS.<digits>Z``),
    computed column-wise (one C-level map per step); None when one does not: use the per-item
    function then."""
    if not stamps or min(map(len, stamps)) < 22:
        return None
    if set(map(_DOT, stamps)) != {"."} or set(map(_LAST, stamps)) != {"Z"}:
        return None
    # Each fraction is ".<digits>": its dot is checked above, and the fractions joined hold
    # no other dot and nothing but ASCII digits besides (three C calls over one string).
    fractions = list(map(_FRACTION, stamps))
    joined = "".join(fractions)
    if joined.count(".") != len(fractions) or not joined.isascii():
        return None
    if not joined.replace(".", "").isdigit():
        return None
    prefixes = list(map(_PREFIX, stamps))
    bases = list(map(_seconds.get, prefixes))
    if None in bases:
        for prefix in set(prefixes).difference(_seconds):
            if _prefix_seconds(prefix) is None:
                return None
        bases = list(map(_seconds.__getitem__, prefixes))
    return list(map(add, bases, map(float, fractions)))


def parse_unix(value: object, scale: float) -> float | None:
    """A number (or numeric text) in seconds/ms/µs/ns since the epoch → seconds, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and 0 < len(value) <= 32:
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number / scale


def parse_time(value: object, formats: tuple[str, ...]) -> float | None:
    """``value`` read with the first of ``formats`` that fits (see TimestampProcessor)."""
    for fmt in formats:
        result: float | None = None
        scale = _UNIX_SCALE.get(fmt)
        if scale is not None:
            result = parse_unix(value, scale)
        elif not isinstance(value, str):
            continue
        elif fmt == "rfc3339":
            result = parse_rfc3339(value)
        else:
            try:
                parsed = datetime.strptime(value, fmt)
            except (ValueError, OverflowError):
                continue
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            try:
                result = parsed.timestamp()
            except (OverflowError, OSError, ValueError):
                continue
        if result is not None:
            return result
    return None
