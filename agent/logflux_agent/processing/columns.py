"""The column-wise fast path of the mapping to the entry, for the usual parsed list.

Lines of one app repeat the same field names, in the same order (an app logging JSON or
logfmt writes the same keys on every line), so the rows of a list are taken in groups with
the same names: for a group the attribute rule (attributes.py) gives the same answer for every
row, and it is checked once — names that travel as they are (1 to 64 characters, not
reserved), no more than 20 with the shared attributes, values that are ``str``/``int``/
``float`` (their text is ``str()``) of at most 256 characters. Then the group's attributes are
built with one C-level ``map`` per step — each name's values taken from every row as one
column, checked and stringified per column (a name's values have one type in an app's lines),
the rows' dicts copies of one template (the shared attributes and the names, so every entry's
names are the same objects, which the pickling to the encode worker stores once per batch)
whose values are then set one column at a time. A list whose rows all have the same names is
one group and needs no per-row Python at all; otherwise grouping is one short loop per row.
The rows done leave through ``rows.Fitter`` with nothing left to fit. Anything else (a group
with a nested value, a name that must change, a value to cut, a group of fewer than
``MIN_GROUP`` rows) is left to the general per-row path, which decides and counts what it cuts.
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter, setitem
from typing import cast

from logflux_agent.config.model import MAX_LABELS
from logflux_agent.processing.attributes import MAX_VALUE_CHARS, attribute_name
from logflux_agent.processing.rows import Fields, Rows, slices

_PLAIN_TYPES = frozenset((str, int, float))
_STR = {str}
_NAMES_CACHE_MAX = 256
# A group of rows with the same names smaller than this takes the per-row path: the column-wise
# one costs a few µs per group, whatever its size.
MIN_GROUP = 16


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
        """Fields → attributes column-wise; True when every row was done (the fields and
        messages are then cleared), False when some rows are left to the per-row path."""
        fields = rows.fields
        if not fields or rows.tokens is not None or len(set(map(id, rows.attrs))) != 1:
            return False
        base = rows.attrs[0]
        if None in fields:
            return self._grouped(rows, fields, base)
        found: list[Fields] = fields  # type: ignore[assignment]
        shapes = set(map(tuple, found))
        if len(shapes) != 1:
            return self._grouped(rows, fields, base)
        (names,) = shapes
        out = self._dicts(found, names, base)
        if out is None:
            return False
        rows.attrs = out
        _messages_done(rows)
        return True

    def _grouped(self, rows: Rows, fields: list[Fields | None], base: dict[str, str]) -> bool:
        """Rows grouped by their names (in order), each group of ``MIN_GROUP`` rows or more
        done column-wise; the rows of the others (and rows without fields) keep theirs."""
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, found in enumerate(fields):
            if found:
                groups.setdefault(tuple(found), []).append(i)
        attrs = list(rows.attrs)
        left = False
        for names, at in groups.items():
            group = cast("list[Fields]", [fields[i] for i in at])  # (rows with fields only)
            out = self._dicts(group, names, base) if len(at) >= MIN_GROUP else None
            if out is None:
                left = True
                continue
            for i, done in zip(at, out, strict=True):
                attrs[i] = done
                fields[i] = None  # done: the per-row path only sets this row's message
        rows.attrs = attrs
        if left:
            return False
        _messages_done(rows)
        return True

    def _dicts(
        self, found: list[Fields], names: tuple[str, ...], base: dict[str, str]
    ) -> list[dict[str, str]] | None:
        """The attributes of rows that all have fields ``names``, or None: not this path."""
        if not names or not self._names_ok(names, base):
            return None
        # Slice by slice (rows.SLICE: the slice's dicts stay in the CPU's caches while each
        # column is set; over a whole read every column pass missed them), one column per
        # name, checked and stringified column-wise. Every row's dict is a copy of one
        # template (the shared attributes, then the names: a field named like a shared
        # attribute takes its place, fit_attributes' rule), its values then set one column
        # at a time; every entry's names are the same objects.
        template = {**base, **dict.fromkeys(names, "")}
        getters = list(map(itemgetter, names))
        out: list[dict[str, str]] = []
        for part in slices(found):
            dicts = list(map(dict.copy, repeat(template, len(part))))
            for name, getter in zip(names, getters, strict=True):
                column = list(map(getter, part))
                kinds = set(map(type, column))
                if kinds != _STR:
                    if not _PLAIN_TYPES.issuperset(kinds):
                        return None
                    column = list(map(str, column))  # str() of str/int/float is as_text's
                if max(map(len, column)) > MAX_VALUE_CHARS:
                    return None
                any(map(setitem, dicts, repeat(name), column))  # (any: runs the map; all None)
            out += dicts
        return out


def _messages_done(rows: Rows) -> None:
    """Every row's attributes are done: its message (if a parser set one) becomes its text."""
    messages = rows.message
    if messages is not None and None not in messages:  # every line had its message key
        rows.text = cast("list[str]", messages)
    elif messages is not None:
        rows.text = [t if m is None else m for t, m in zip(rows.text, messages, strict=True)]
    rows.fields = rows.message = None
