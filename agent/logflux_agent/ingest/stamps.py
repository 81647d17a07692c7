"""An entry's timestamp as the payload's and the part header's RFC 3339 text (protocol §4).

Owns the text of a timestamp: UTC, microseconds, ``Z``. ``format_timestamp`` is the
definition; ``stamps_of`` gives the same text for each distinct timestamp of a batch,
column-wise (each step one ``map``): an input that stamps each entry (a socket's SDK
timestamps, syslog) has one per entry, and a strftime and a ``%`` format per entry were
about 1.5 µs of the encode worker's time per entry. Whole seconds (what the SDKs send) take
no arithmetic and no format; the text of a second is made once per distinct minute plus one
concatenation (``second_texts``).
"""

from __future__ import annotations

import time
from itertools import repeat
from operator import add, itemgetter, mul
from typing import Any

TS_OF = itemgetter(1)  # of an entry tuple (plaintext.EntryTuple)
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


def format_timestamp(ts: float) -> str:
    """RFC 3339 UTC with microseconds and ``Z`` (protocol §4: the agent sends microseconds)."""
    sec, us = divmod(round(ts * 1_000_000), 1_000_000)
    return f"{_second_text(sec)}.{us:06d}Z"


def stamps_of(entries: list[Any]) -> dict[float, str]:
    """Each distinct timestamp as RFC 3339 text; each distinct second is formatted once."""
    distinct = list(set(map(TS_OF, entries)))
    if (
        distinct
        and all(map(float.is_integer, map(float, distinct)))
        and min(distinct) >= 0
        and max(distinct) < _EXACT_SECONDS
    ):  # whole seconds (an SDK's timestamps): no arithmetic, no format
        seconds = list(map(int, distinct))
        text = second_texts(set(seconds))
        whole = map(add, map(text.__getitem__, seconds), repeat(".000000Z"))
        return dict(zip(distinct, whole, strict=True))
    # Column-wise (an input that stamps each entry, e.g. syslog, has one per entry): the same
    # arithmetic and format as format_timestamp, each step one map.
    split = list(map(divmod, map(round, map(mul, distinct, repeat(1_000_000))), repeat(1_000_000)))
    seconds = list(map(_FIRST, split))
    text = second_texts(set(seconds))
    pairs = zip(map(text.__getitem__, seconds), map(_SECOND, split), strict=True)
    return dict(zip(distinct, map("%s.%06dZ".__mod__, pairs), strict=True))


# Seconds whose text the column-wise path gives (years 1970-9999: four digits, as strftime
# writes them), and the two-digit second of a minute.
_FIRST_SECOND, _END_SECOND = 0, 253_402_300_800
# Below 2**37 s a whole second times 10**6 is exact in a float: ``format_timestamp``'s
# arithmetic then leaves it a whole second with 0 microseconds.
_EXACT_SECONDS = 2**37
_SECONDS = tuple(f"{n:02d}" for n in range(60))


def second_texts(seconds: set[int]) -> dict[int, str]:
    """Each second as ``YYYY-MM-DDTHH:MM:SS`` (``_second_text``'s result), column-wise: the
    text up to the minute once per distinct minute, then one concatenation per second (no
    format: ``%02d`` costs about as much as the strftime it replaces). An input that stamps
    each entry (a socket's SDK timestamps) has one second per entry; a strftime call per
    second was about 1 µs of the encode worker's time per entry."""
    if not seconds:
        return {}
    if min(seconds) < _FIRST_SECOND or max(seconds) >= _END_SECOND:
        return {sec: _second_text(sec) for sec in seconds}
    listed = list(seconds)
    split = list(map(divmod, listed, repeat(60)))
    minutes = list(map(_FIRST, split))
    heads = {minute: _second_text(minute * 60)[:17] for minute in set(minutes)}
    texts = map(
        add, map(heads.__getitem__, minutes), map(_SECONDS.__getitem__, map(_SECOND, split))
    )
    return dict(zip(listed, texts, strict=True))


def _second_text(sec: int) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    except (OverflowError, OSError, ValueError):  # an absurd timestamp must not sink the batch
        return "1970-01-01T00:00:00"
