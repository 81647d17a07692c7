"""The column-wise fast path of the mapping to the entry, for the usual parsed list.

When every row of a list has fields with the same names, in the same order (an app logging
JSON or logfmt writes the same keys on every line), the attribute rule (attributes.py) gives
the same answer for all of them, and it is checked once: names that travel as they are (1 to
64 characters, not reserved), no more than 20 with the shared attributes, values that are
``str``/``int``/``float`` (their text is ``str()``) of at most 256 characters. Then the rows'
attributes are built with one C-level ``map`` per step — each name's values taken from every
row as one column, checked and stringified per column (a name's values have one type in an
app's lines), the rows' dicts copies of one template (the shared attributes and the names, so
every entry's names are the same objects, which the pickling to the encode worker stores once
per batch) whose values are then set one column at a time — and the rows leave through
``rows.Fitter`` with nothing left to fit. Anything else
(one row different, a nested value, a name that must change, a value to cut) returns False and
the general per-row path decides, counting what it cuts.
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter
from typing import cast

from logflux_agent.config.model import MAX_LABELS
from logflux_agent.processing.attributes import MAX_VALUE_CHARS, attribute_name
from logflux_agent.processing.rows import Fields, Rows

_PLAIN_TYPES = frozenset((str, int, float))
_STR = {str}
_setitem = dict.__setitem__
_NAMES_CACHE_MAX = 256


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
        attrs = rows.attrs
        if len(set(map(tuple, found))) != 1 or len(set(map(id, attrs))) != 1:
            return False
        names = tuple(found[0])
        base = attrs[0]
        if not names or not self._names_ok(names, base):
            return False
        # One column per name (the values of every row), checked and stringified column-wise.
        columns: list[list[str]] = []
        for name in names:
            column = list(map(itemgetter(name), found))
            kinds = set(map(type, column))
            if kinds != _STR:
                if not _PLAIN_TYPES.issuperset(kinds):
                    return False
                column = list(map(str, column))  # str() of str/int/float is as_text's text
            if max(map(len, column)) > MAX_VALUE_CHARS:
                return False
            columns.append(column)
        # Every row's dict is a copy of one template (the shared attributes, then the names: a
        # field named like a shared attribute takes its place, fit_attributes' rule), its
        # values then set one column at a time; every entry's names are the same objects.
        template = {**base, **dict.fromkeys(names, "")}
        out = list(map(dict.copy, repeat(template, len(found))))
        for name, column in zip(names, columns, strict=True):
            any(map(_setitem, out, repeat(name), column))  # (any: runs the map; all None)
        rows.attrs = out
        messages = rows.message
        if messages is not None and None not in messages:  # every line had its message key
            rows.text = cast("list[str]", messages)
        elif messages is not None:
            rows.text = [t if m is None else m for t, m in zip(rows.text, messages, strict=True)]
        rows.fields = rows.message = None
        return True
