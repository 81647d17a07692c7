"""Rows: one emitted list of records, column-wise, while it goes through a processor chain.

A processor works on columns (one Python list per entry field), so the per-line work of a step
is one loop or one ``map`` over a list and everything shared by many lines (a file's Kubernetes
metadata, the stream attribute, the static labels) is computed once per distinct value:
``attrs`` holds the *shared* attribute dicts (one object for many rows), ``fields`` the
per-line fields a parser extracted (created only when a parser runs).

``rid`` is the stable record id column (record.py): a processor that only changes fields keeps
it (nothing to do: the column stays), a filter drops it with its row (``keep``), a joiner gives
the joined entry its first row's (``append`` copies it; container.py keeps it with the held
pieces).

``DROP_SINKS`` is where the rows a filter drops are told about, before ``keep`` removes them:
the receipt ledger registers one per ``state_dir`` (ledger/drops.py records their record ids,
so ``audit`` names the exact lines). Empty (tap, tests, ledger off): a filter looks it up
only when it drops something, so a chain that drops nothing pays nothing.

``to_records`` is the mapping to the entry (protocol.md §5): ``message`` is the row's
``message`` (set by a parser's ``message_key``) or else its text; ``level`` and ``ts`` are the
columns (set by the ``level`` and ``timestamp`` processors, else what the input gave); fields
become ``attributes`` through ``fit_attributes``, on top of the shared ones. When fields did not
fit (too many, a name too long, a value cut), the entry keeps the whole line as ``message`` (so
nothing extracted is lost, only not indexed) and the cut is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import repeat
from operator import itemgetter
from typing import Any, TypeVar, cast

from logflux_agent.config.model import MAX_LABELS, RESERVED_LABELS
from logflux_agent.processing.attributes import (
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    as_text,
    fit_attributes,
)
from logflux_agent.record import AckToken, Record

Fields = dict[str, object]
T = TypeVar("T")
_new_tuple = tuple.__new__
_RESERVED = frozenset(RESERVED_LABELS)
_NAMES_CACHE_MAX = 4096
_STR = {str}
_PLAIN_TYPES = frozenset((str, int, float))
_FIELDS = tuple(map(itemgetter, range(7)))  # Record's fields, in order


# (rows before the filter, its keep flags, "<filter> (<reason>)") → None; never raises.
DropSink = Callable[["Rows", list[bool], str], None]
DROP_SINKS: dict[str | None, DropSink] = {}


def _plain_names(names: tuple[str, ...]) -> bool:
    """Every name travels as it is: a str of 1 to 64 characters, not reserved."""
    return all(
        type(n) is str and 1 <= len(n) <= MAX_NAME_CHARS and n.lower() not in _RESERVED
        for n in names
    )


class Rows:
    """Columns of equal length; ``fields``/``message`` are None until a parser fills them."""

    __slots__ = (
        "ack",
        "attrs",
        "fields",
        "level",
        "message",
        "rid",
        "source",
        "text",
        "tokens",
        "ts",
    )

    def __init__(
        self,
        text: list[str],
        ts: list[float],
        level: list[int],
        source: list[str],
        attrs: list[dict[str, str]],
        ack: list[AckToken | None],
        rid: list[str | None],
    ) -> None:
        self.text = text
        self.ts = ts
        self.level = level
        self.source = source
        self.attrs = attrs
        self.ack = ack
        self.rid = rid
        self.fields: list[Fields | None] | None = None
        self.message: list[str | None] | None = None
        # search_tokens' output (processing/tokens.py): None until that processor runs.
        self.tokens: list[str | None] | None = None

    @classmethod
    def empty(cls) -> Rows:
        return cls([], [], [], [], [], [], [])

    @classmethod
    def from_records(cls, records: list[Record]) -> Rows:
        # One C-level map per column. (Not zip(*records): it makes an iterator object per
        # record, alive for the whole read; see SLICE for why that costs.)
        text, ts, level, source, attrs, ack, rid = (list(map(g, records)) for g in _FIELDS)
        return cls(text, ts, level, source, attrs, ack, rid)

    def __len__(self) -> int:
        return len(self.text)

    def field_column(self) -> list[Fields | None]:
        if self.fields is None:
            self.fields = [None] * len(self.text)
        return self.fields

    def message_column(self) -> list[str | None]:
        if self.message is None:
            self.message = [None] * len(self.text)
        return self.message

    def keep(self, keep: list[bool], carry: dict[int, AckToken]) -> Rows:
        """The rows whose flag is true (a filter's output).

        A dropped row's ack token moves to the nearest kept row before it in this list when
        that row has no token or one of the same stream (the later position covers it), so the
        dropped row's position is committed with that row. Otherwise it waits in ``carry``
        (one per stream, the newest) for the next kept row without a token, in this list or a
        later one: that row is later in queue order, so committing then is just as safe.
        """
        out = Rows.empty()
        cols: list[tuple[list[Any], list[Any]]] = [(self.text, out.text), (self.ts, out.ts)]
        cols += [(self.level, out.level), (self.source, out.source), (self.attrs, out.attrs)]
        cols.append((self.rid, out.rid))
        extra: list[tuple[list[Any], list[Any]]] = [
            (src, []) for src in (self.fields, self.message, self.tokens) if src is not None
        ]
        acks = out.ack
        for i, flag in enumerate(keep):
            token = self.ack[i]
            if not flag:
                if token is not None:
                    if acks and (acks[-1] is None or acks[-1].stream is token.stream):
                        acks[-1] = token
                    else:
                        carry[id(token.stream)] = token
                continue
            for src, dst in cols:
                dst.append(src[i])
            if token is None and carry:
                token = carry.pop(next(iter(carry)))
            elif token is not None:
                carry.pop(id(token.stream), None)  # its own, later position covers it
            acks.append(token)
            for src_col, dst_col in extra:
                dst_col.append(src_col[i])
        it = iter(extra)
        if self.fields is not None:
            out.fields = next(it)[1]
        if self.message is not None:
            out.message = next(it)[1]
        if self.tokens is not None:
            out.tokens = next(it)[1]
        return out

    def append(self, other: Rows, i: int) -> None:
        """Copy row ``i`` of ``other`` (the joiners build their output row by row)."""
        self.text.append(other.text[i])
        self.ts.append(other.ts[i])
        self.level.append(other.level[i])
        self.source.append(other.source[i])
        self.attrs.append(other.attrs[i])
        self.ack.append(other.ack[i])
        self.rid.append(other.rid[i])


# Lists of a read are cut into slices of this many lines where a fast path makes one container
# object per line (the lists of str.split, the tuples of the JSON scanner): those live for one
# slice only. Alive across a whole read (8,192 lines), most of them would be promoted to the
# garbage collector's oldest generation before they die, and every such promotion brings the
# next full collection (a pass over every container object of the agent) nearer: measured
# in-process with a bounded queue, full collections were 7.5 of the 11 µs/line of
# ``cri + kubernetes + json``.
SLICE = 512


def slices(items: list[T]) -> Iterator[list[T]]:
    """``items`` in consecutive lists of at most ``SLICE``."""
    if len(items) <= SLICE:
        yield items
        return
    for start in range(0, len(items), SLICE):
        yield items[start : start + SLICE]


def map_shared(
    attrs: list[dict[str, str]], change: Callable[[dict[str, str]], dict[str, str]]
) -> list[dict[str, str]]:
    """``change`` applied once per distinct shared dict (by identity), the column rebuilt."""
    if not attrs:
        return attrs
    if len(set(map(id, attrs))) == 1:  # the usual case: one file, one labels dict
        return [change(attrs[0])] * len(attrs)
    done: dict[int, dict[str, str]] = {}
    out = []
    for a in attrs:
        new = done.get(id(a))
        if new is None:
            new = done[id(a)] = change(a)
        out.append(new)
    return out


class Fitter:
    """Fields → attributes for one input; counts what was cut (see ``to_records``)."""

    def __init__(self, on_cut: Callable[[int, int, int], None]) -> None:
        # on_cut(dropped names, truncated values, reserved names renamed): counted and logged.
        self._on_cut = on_cut
        # Lines of one app repeat the same field names: whether a name tuple can travel as it
        # is, cached, so the common line skips the per-name checks of fit_attributes.
        self._plain: dict[tuple[str, ...], tuple[bool, tuple[str, ...]]] = {}

    def to_records(self, rows: Rows) -> list[Record]:
        if rows.fields is None and rows.message is None:
            return _records(rows.text, rows, rows.attrs)
        text = rows.text
        msgs = rows.message or [None] * len(text)
        per_row = rows.fields or [None] * len(text)
        attrs = rows.attrs
        out_attrs = list(attrs) if rows.fields is not None else attrs
        out_msgs = list(text) if rows.message is not None else text
        counts = [0, 0, 0]  # dropped names, truncated values, reserved names renamed
        fit = self._fit
        for i, f in enumerate(per_row):
            m = msgs[i]
            if f:
                out_attrs[i], lossy = fit(f, attrs[i], counts)
                if lossy:  # the whole line stays the message: nothing extracted is lost
                    continue
            if m is not None:
                out_msgs[i] = m
        if any(counts):
            self._on_cut(*counts)
        return _records(out_msgs, rows, out_attrs)

    def _fit(
        self, f: Fields, base: dict[str, str], counts: list[int]
    ) -> tuple[dict[str, str], bool]:
        """One row's fields on top of its shared attributes; True when something was cut."""
        plain = self._plain
        names = tuple(f)
        known = plain.get(names)
        if known is None:
            if len(plain) >= _NAMES_CACHE_MAX:
                plain.clear()
            known = plain[names] = (_plain_names(names), names)
        # The first-seen tuple's str objects: equal names are then the same objects in every
        # entry, which the pickling of batches to the encode worker shares.
        ok, names = known
        if ok and len(base) + len(names) <= MAX_LABELS:
            raw = list(f.values())
            kinds = set(map(type, raw))
            values: list[str] = (
                cast("list[str]", raw)
                if kinds == _STR
                else list(map(str, raw))  # str() of str/int/float is as_text's text
                if kinds <= _PLAIN_TYPES
                else list(map(as_text, raw))
            )
            if max(map(len, values)) <= MAX_VALUE_CHARS:
                fast = base.copy()
                fast.update(zip(names, values, strict=True))
                return fast, False
        if not _RESERVED.isdisjoint(map(str.lower, f)):
            counts[2] += sum(1 for name in f if name.lower() in _RESERVED)
        fitted = fit_attributes(f, base)
        if fitted.dropped or fitted.truncated:
            counts[0] += fitted.dropped
            counts[1] += fitted.truncated
            return fitted.attributes, True
        return fitted.attributes, False


def _records(messages: list[str], rows: Rows, attrs: list[dict[str, str]]) -> list[Record]:
    """The rows as records (one C-level pass), with ``messages`` and ``attrs`` as given."""
    fields = zip(messages, rows.ts, rows.level, rows.source, attrs, rows.ack, rows.rid, strict=True)
    return cast("list[Record]", list(map(_new_tuple, repeat(Record), fields)))
