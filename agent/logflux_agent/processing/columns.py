"""The column-wise fast path of the mapping to the entry, for the usual parsed list.

When every row of a list has fields with the same names, in the same order (an app logging
JSON or logfmt writes the same keys on every line), the attribute rule (attributes.py) gives
the same answer for all of them, and it is checked once: names that travel as they are (1 to
64 characters, not reserved), no more than 20 with the shared attributes, values that are
``str``/``int``/``float`` (their text is ``str()``) of at most 256 characters. Then the rows'
attributes are built with one C-level ``map`` per step — the values of all rows stringified in
one pass, grouped back per row, zipped with the one names tuple (so every entry's names are the
same objects, which the pickling to the encode worker stores once per batch), merged onto the
shared dict — and the rows leave through ``rows.Fitter`` with nothing left to fit. Anything else
(one row different, a nested value, a name that must change, a value to cut) returns False and
the general per-row path decides, counting what it cuts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain, repeat
from operator import or_
from typing import cast

from logflux_agent.config.model import MAX_LABELS
from logflux_agent.processing.attributes import MAX_VALUE_CHARS, attribute_name
from logflux_agent.processing.rows import Fields, Rows

_PLAIN_TYPES = frozenset((str, int, float))
_values = dict.values
_NAMES_CACHE_MAX = 256


def _groups(items: Iterable[str], size: int) -> Iterator[tuple[str, ...]]:
    """``items`` in consecutive tuples of ``size`` (the same iterator ``size`` times, in C)."""
    return zip(*[iter(items)] * size, strict=True)


class UniformFitter:
    """``fit(rows)``: the fast path above; remembers which name tuples travel as they are."""

    def __init__(self) -> None:
        self._plain: dict[tuple[str, ...], bool] = {}

    def _names_ok(self, names: tuple[str, ...], base: dict[str, str]) -> bool:
        known = self._plain.get(names)
        if known is None:
            if len(self._plain) >= _NAMES_CACHE_MAX:
                self._plain.clear()
            known = self._plain[names] = all(
                type(n) is str and attribute_name(n) == n for n in names
            )
        return known and len(base.keys() | names) <= MAX_LABELS

    def fit(self, rows: Rows) -> bool:
        """Fields → attributes for every row at once, or False (nothing changed)."""
        fields = rows.fields
        if not fields or None in fields or rows.tokens is not None:
            return False
        found: list[Fields] = fields  # type: ignore[assignment]
        shapes = set(map(tuple, found))
        attrs = rows.attrs
        if len(shapes) != 1 or len(set(map(id, attrs))) != 1:
            return False
        (names,) = shapes
        if not names or not self._names_ok(names, attrs[0]):
            return False
        raw = list(chain.from_iterable(map(_values, found)))
        if not _PLAIN_TYPES.issuperset(map(type, raw)):
            return False
        text: list[str] = (
            cast("list[str]", raw) if set(map(type, raw)) == {str} else list(map(str, raw))
        )
        if max(map(len, text)) > MAX_VALUE_CHARS:
            return False
        base = attrs[0]
        if base.keys().isdisjoint(names):
            # One dict per row from one zip: the shared names then this row's values.
            every = (*base, *names)
            shared = tuple(base.values())
            flat = chain.from_iterable(map(chain, repeat(shared), _groups(text, len(names))))
            rows.attrs = list(map(dict, map(zip, repeat(every), _groups(flat, len(every)))))
        else:  # a field overrides a shared attribute's value, in its place
            per_row = map(dict, map(zip, repeat(names), _groups(text, len(names))))
            rows.attrs = list(map(or_, attrs, per_row))
        messages = rows.message
        if messages is not None:
            rows.text = [t if m is None else m for t, m in zip(rows.text, messages, strict=True)]
        rows.fields = rows.message = None
        return True
