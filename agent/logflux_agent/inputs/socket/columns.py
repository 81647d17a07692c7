"""The usual chunk of SDK lines → entries column by column: pure code, no I/O.

What every SDK writes when nothing is wrong (a string ``message``, an integer ``level`` 0-7 and
``timestamp``, ``entry_type`` 1, an object of plain ``labels``, a string ``id``) is mapped here
one field at a time, each step one ``map`` over the chunk, so no Python code runs per entry.
``map_columns`` returns None as soon as any entry of the chunk is unusual; the caller then maps
the chunk line by line (``mapper.py``), which handles and counts everything. For the chunks it
accepts the result is the same as the line path's, as a packed ``Entries`` (packed.py).

``FittedLabels`` is the bounded cache label set → fitted attribute dict shared by all the
connections of a listener: entries with equal labels share one dict object, which the encoder
serialises once per batch (it caches per distinct object) and pickles once to its worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any, NamedTuple, cast

from logflux_agent.inputs.socket.entry import MAX_ID_CHARS, MAX_TS, secret_matches
from logflux_agent.inputs.socket.rids import RecordIds
from logflux_agent.packed import Entries
from logflux_agent.processing.attributes import fit_attributes

_FITTED_CACHE = 256
_GET = dict.get
_NONE = type(None)
_LEVELS = (1, 2, 3, 4, 5, 6, 7, 8)  # syslog severity 0-7 → LogFlux level
_EMPTY: dict[str, Any] = {}


class Policy(NamedTuple):
    """``secret`` None: no check (Unix socket). ``require``: refuse entries without one."""

    secret: bytes | None = None
    require: bool = True


class FittedLabels:
    """Label set (as given, in order) → its fitted attributes, at most 256 sets (then reset)."""

    __slots__ = ("_cache", "base", "by_text")

    def __init__(self, base: Mapping[str, str]) -> None:
        self.base = dict(base)
        self._cache: dict[tuple[Any, ...], dict[str, str]] = {}
        # The same dicts by the labels' JSON text as sent ("" when absent; ``sdkline.py``):
        # at most 256 texts of at most 1 KiB.
        self.by_text: dict[str, dict[str, str]] = {}

    def remember_text(self, text: str, attrs: dict[str, str]) -> None:
        if len(self.by_text) >= _FITTED_CACHE:
            self.by_text.clear()
        self.by_text[text] = attrs

    def get(self, key: tuple[Any, ...]) -> dict[str, str] | None:
        """The attributes of label items ``key``; None when they do not fit without loss.

        Raises TypeError when a value is not hashable (a list or object: not the usual entry).
        """
        attrs = self._cache.get(key)
        if attrs is None:
            fitted = fit_attributes(key, self.base)
            if fitted.lossy:
                return None
            if len(self._cache) >= _FITTED_CACHE:
                self._cache.clear()
            attrs = self._cache[key] = fitted.attributes
        return attrs

    def column(self, labels: list[Any]) -> list[dict[str, str]] | None:
        """One attribute dict per entry, or None when any label set is unusual."""
        try:
            keys = list(map(tuple, map(dict.items, labels)))
        except TypeError:  # PHP's [] or array form among them (or labels of another type)
            keys = list(map(_label_key, labels))
        attrs = list(map(self._cache.get, keys))
        if None in attrs:
            for key in set(keys):
                if self.get(key) is None:
                    return None
            attrs = list(map(self._cache.get, keys))
            if None in attrs:  # more distinct sets than the cache holds
                return None
        return cast("list[dict[str, str]]", attrs)


def _label_key(labels: Any) -> tuple[Any, ...]:
    """Label items of an object, or of PHP's array form read as index → value."""
    if type(labels) is dict:
        return tuple(labels.items())
    if type(labels) is list:
        return tuple((str(i), v) for i, v in enumerate(labels))
    raise TypeError("labels are neither an object nor an array")


def map_columns(
    objs: list[Any], labels: FittedLabels, policy: Policy, source: str, rids: RecordIds
) -> Entries | None:
    """The chunk's records, or None when any entry needs the line-by-line path."""
    try:
        return _map_columns(objs, labels, policy, source, rids)
    except TypeError:  # an unhashable value, labels that are not an object, …
        return None


def _map_columns(
    objs: list[Any], labels: FittedLabels, policy: Policy, source: str, rids: RecordIds
) -> Entries | None:
    if not objs or set(map(type, objs)) != {dict}:
        return None
    messages = _column(objs, "message")
    levels = _column(objs, "level")
    stamps = _column(objs, "timestamp")
    if (
        set(map(type, messages)) != {str}
        or not _ints_within(levels, 0, 7)
        or not _ints_within(stamps, 0, MAX_TS)
        or set(_column(objs, "entry_type", 1)) != {1}
        or not _secrets_pass(_column(objs, "shared_secret"), policy)
    ):
        return None
    attrs = labels.column(_column(objs, "labels", _EMPTY))
    if attrs is None:
        return None
    ids = _ids(_column(objs, "id"), rids)  # last: it advances the connection's sequence
    if ids is None:
        return None
    sources = _sources(_column(objs, "source"), source)
    return Entries(
        messages,
        list(map(float, stamps)),
        list(map(_LEVELS.__getitem__, levels)),
        sources,
        attrs,
        ids,
    )


def _column(objs: list[dict[str, Any]], key: str, default: Any = None) -> list[Any]:
    return list(map(_GET, objs, repeat(key), repeat(default)))


def _ints_within(values: list[Any], low: float, high: float) -> bool:
    return set(map(type, values)) == {int} and min(values) >= low and max(values) <= high


def _secrets_pass(given: list[Any], policy: Policy) -> bool:
    """Every entry's secret is right (each distinct value compared once, in constant time)."""
    if policy.secret is None:
        return True  # a Unix socket: no check, and the secret never reaches a Record
    distinct = set(given)
    if None in distinct:
        if policy.require:
            return False
        distinct.discard(None)
    return all(type(s) is str and secret_matches(s, policy.secret) for s in distinct)


def _sources(given: list[Any], default: str) -> str | Sequence[str]:
    kinds = set(map(type, given))
    if kinds == {str}:
        return one_source(given)
    if kinds == {_NONE}:
        return default
    return one_source([s if type(s) is str else default for s in given])


def one_source(sources: Sequence[str]) -> str | Sequence[str]:
    """The chunk's one source when every entry has the same (the usual case), else the column."""
    first = sources[0]
    return first if sources.count(first) == len(sources) else sources


def _ids(given: list[Any], rids: RecordIds) -> list[str] | None:
    """Record ids: the SDK ids when all are usable, derived ones when none is sent."""
    kinds = set(map(type, given))
    if kinds == {_NONE}:
        return rids.take(len(given))
    if kinds != {str} or not 0 < min(map(len, given)) <= max(map(len, given)) <= MAX_ID_CHARS:
        return None  # mixed or unusable ids: the line path keeps an unusable one as attribute
    rids.next += len(given)
    return cast("list[str]", given)
