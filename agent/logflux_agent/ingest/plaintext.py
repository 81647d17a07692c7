"""The v2 payload JSON (protocol.md §5) of a batch of entries, column by column.

Owns the plaintext an entry is encrypted from: the per-agent parts (``PayloadStatics``: the
top-level labels and the ``meta`` fragment), the merge of those labels under an entry's own
attributes within the attribute limit, and the entry's ``meta.record_id`` (docs/record-ids.md).
Python code runs once per batch, per run of neighbours sharing timestamp, level, source and
attributes object (``run_starts``), or per distinct attributes object (many of one shape, as a
processor chain leaves them, column-wise: attribute_columns.py); the per-entry work is
``map`` over columns or C-level passes over a run's joined text: a run of ASCII messages
without control characters (access logs, most application logs) is escaped as one string, as
``json.dumps`` would escape each message (runs.py writes a run). Record ids given as spans (a
file input's prefix and offsets) keep that run path: the digits go into the run's text in one
format. Entries that each carry their own timestamp and level (a socket's) get the JSON before
the message as fragment columns (``_head_columns``); the timestamps' texts are stamps.py's.
encode.py compresses, encrypts and frames what this builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from json.encoder import encode_basestring
from operator import is_, is_not, itemgetter, mul, ne, or_, sub
from typing import Any, cast

from logflux_agent.ingest.attribute_columns import MIN_GROUP, column_texts
from logflux_agent.ingest.limits import MAX_LABELS
from logflux_agent.ingest.runs import (
    IdSpan,
    escaped_batch,
    id_run_json,
    id_strings,
    plain,
    run_ids,
    run_json,
    split_runs,
    utf8,
)

# Re-exported: the encoder and its tests import them from here (stamps.py owns them).
from logflux_agent.ingest.stamps import TS_OF as TS_OF
from logflux_agent.ingest.stamps import format_timestamp as format_timestamp
from logflux_agent.ingest.stamps import second_texts as second_texts
from logflux_agent.ingest.stamps import stamps_of as stamps_of
from logflux_agent.record import TOKENS_KEY, SearchTokens

# (message, timestamp as Unix seconds, level 1-8, source, attributes)
EntryTuple = tuple[str, float, int, str, dict[str, str]]


_LEVEL_FRAG = {n: f',"level":{n}' for n in range(1, 9)}


@dataclass(frozen=True, slots=True)
class PayloadStatics:
    """Per-agent payload parts, serialised once: config labels and the ``meta`` fragment."""

    labels: dict[str, str] = field(default_factory=dict)
    meta_fragment: str = ""

    def meta_open(self) -> str:
        """The ``meta`` fragment without its closing brace, ready for one more key."""
        if self.meta_fragment:
            return self.meta_fragment[:-1] + ","
        return ',"meta":{'

    @classmethod
    def build(
        cls, *, node: str, environment: str | None, agent: str, labels: dict[str, str] | None = None
    ) -> PayloadStatics:
        meta = {"node": node}
        if environment:
            meta["environment"] = environment
        meta["agent"] = agent
        return cls(labels=dict(labels or {}), meta_fragment=',"meta":' + _json_object(meta))


def entry_tuple(
    message: str, timestamp: float, level: int, source: str, attributes: dict[str, str]
) -> EntryTuple:
    return (message, timestamp, level, source, attributes)


def _json_object(obj: dict[str, str]) -> str:
    return json.dumps(
        {str(k): str(v) for k, v in obj.items()}, ensure_ascii=False, separators=(",", ":")
    )


_HEAD_KEY = itemgetter(1, 2, 3)  # (timestamp, level, source)
_MESSAGE = itemgetter(0)
ATTRIBUTES_OF = itemgetter(4)
_LEVEL_OF = itemgetter(2)
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_KEY_SOURCE = itemgetter(2)  # of a (timestamp, level, source) key
_SOURCE_OF = itemgetter(3)


def run_starts(entries: list[EntryTuple]) -> list[int]:
    """Where each run of neighbours with the same timestamp, level, source and attributes
    object starts, then the number of entries. A run shares all of its JSON but the message
    (and the record id), and its part headers. C-level comparisons of neighbours, per column;
    a column with one value (level and source, usually) is checked in one pass instead."""
    count = len(entries)
    if count < 2:
        return [0, count] if count else [0]
    stamps = list(map(TS_OF, entries))
    changed: Any = map(ne, stamps[1:], stamps[:-1])
    for getter in (_LEVEL_OF, _SOURCE_OF):
        column = list(map(getter, entries))
        if column.count(column[0]) != count:
            changed = map(or_, changed, map(ne, column[1:], column[:-1]))
    attributes = list(map(ATTRIBUTES_OF, entries))
    if not all(map(is_, attributes, repeat(attributes[0]))):  # by identity, as the JSON cache
        changed = map(or_, changed, map(is_not, attributes[1:], attributes[:-1]))
    return [0, *compress(range(1, count), changed), count]


def plaintexts(
    entries: list[EntryTuple],
    statics: PayloadStatics,
    stamps: dict[float, str],
    tokens: dict[int, bytes] | None = None,
    rids: list[str | None] | None = None,
    cut: list[int] | None = None,
    starts: list[int] | None = None,
    spans: list[IdSpan] | None = None,
) -> list[bytes]:
    """The v2 JSON of each entry; ``message`` sits between the per-entry and per-input parts.

    ``tokens`` collects search-token part headers by ``id(attributes)``; ``rids`` are the
    entries' record ids (None: none has one), ``spans`` more of them as columns (the entries
    they do not cover have none, or theirs in ``rids``); ``cut[0]`` grows by the labels left
    out; ``starts`` is ``run_starts(entries)`` when the caller has it.
    """
    if rids is not None and len(rids) != len(entries):
        raise ValueError("one record id (or None) per entry")
    if not entries:
        return []
    if starts is None:
        starts = run_starts(entries)
    if spans:
        texts = (
            None
            if rids is not None
            else _span_runs(entries, statics, stamps, tokens, spans, cut, starts)
        )
        if texts is not None:
            return texts
        rids = id_strings(spans, len(entries), rids)
    firsts = list(map(entries.__getitem__, starts[:-1]))
    run_attributes = list(map(ATTRIBUTES_OF, firsts))
    distinct = dict(zip(map(id, run_attributes), run_attributes, strict=True))
    if rids is None and len(firsts) * 8 <= len(entries) + 16:
        # Few runs (the usual batch): each run's JSON is built at once.
        tails, _, cuts = _attribute_parts(distinct, statics, tokens, "", (True, False))
        _count_cuts(cut, cuts, run_attributes, starts)
        heads = _heads(firsts, stamps, "")
        messages = list(map(_MESSAGE, entries))
        runs = map(
            run_json,
            map(messages.__getitem__, map(slice, starts[:-1], starts[1:])),
            map(heads.__getitem__, map(_HEAD_KEY, firsts)),
            map(tails.__getitem__, map(id, run_attributes)),
        )
        return b"".join(runs).split(b"\n")[:-1]
    messages = list(map(_MESSAGE, entries))
    escaped: Any = escaped_batch(messages)
    # Plain messages: the fragments around them carry their quotes.
    quote = '"' if escaped is not None else ""
    if escaped is None:
        escaped = map(encode_basestring, messages)
    # Which texts the tail columns read: the plain tail for an entry without an id, the one
    # open for its record id for one with.
    wanted = (rids is None or None in rids, rids is not None)
    tails, opened, cuts = _attribute_parts(distinct, statics, tokens, quote, wanted)
    _count_cuts(cut, cuts, run_attributes, starts)
    columns: list[Any] = [
        *_head_columns(entries, firsts, stamps, quote),
        escaped,
        *_tail_columns(list(map(id, map(ATTRIBUTES_OF, entries))), tails, opened, rids),
    ]
    # One string for the whole batch, encoded once and cut at the newlines: JSON text never
    # holds a raw newline (json escapes it in every string), so they separate entries exactly.
    # (Not strict: a constant column is endless; the others have one item per entry.)
    return utf8("".join(chain.from_iterable(zip(*columns, strict=False)))).split(b"\n")[:-1]


def _span_runs(
    entries: list[EntryTuple],
    statics: PayloadStatics,
    stamps: dict[float, str],
    tokens: dict[int, bytes] | None,
    spans: list[IdSpan],
    cut: list[int] | None,
    starts: list[int],
) -> list[bytes] | None:
    """The run path with ids as spans (runs.py); None when the batch is many short runs or
    a prefix needs JSON escapes (the caller then takes the per-entry columns)."""
    bounds = split_runs(starts, spans)
    if len(bounds) * 8 > len(entries) + 24 or not all(plain(s[1]) for s in spans):
        return None
    firsts = list(map(entries.__getitem__, bounds[:-1]))
    run_attributes = list(map(ATTRIBUTES_OF, firsts))
    distinct = dict(zip(map(id, run_attributes), run_attributes, strict=True))
    ids = run_ids(bounds, spans)
    tails, opened, cuts = _attribute_parts(distinct, statics, tokens, "", (None in ids, True))
    _count_cuts(cut, cuts, run_attributes, bounds)
    heads = _heads(firsts, stamps, "")
    messages = list(map(_MESSAGE, entries))
    texts: list[bytes] = []
    for lo, hi, first, run in zip(bounds[:-1], bounds[1:], firsts, ids, strict=False):
        head = heads[_HEAD_KEY(first)]
        if run is None:
            texts += run_json(messages[lo:hi], head, tails[id(first[4])]).split(b"\n")[:-1]
        else:
            texts += id_run_json(messages[lo:hi], head, opened[id(first[4])], run)
    return texts


def _count_cuts(
    cut: list[int] | None,
    cuts: dict[int, int],
    run_attributes: list[dict[str, str]],
    starts: list[int],
) -> None:
    """Add to ``cut[0]`` the labels each entry left out (per run: its length times its own)."""
    if cuts and cut is not None:
        per_entry = map(cuts.get, map(id, run_attributes), repeat(0))
        cut[0] += sum(map(mul, per_entry, map(sub, starts[1:], starts[:-1])))


def _heads(
    firsts: list[EntryTuple], stamps: dict[float, str], quote: str
) -> dict[tuple[float, int, str], str]:
    """The JSON up to the message (and ``quote``), per distinct (timestamp, level, source)."""
    keys = list(set(map(_HEAD_KEY, firsts)))
    sources = {source: _source_fragment(source) for source in set(map(_KEY_SOURCE, keys))}
    texts = zip(
        map(sources.__getitem__, map(_KEY_SOURCE, keys)),
        map(_LEVEL_FRAG.get, map(_SECOND, keys), repeat("")),
        map(stamps.__getitem__, map(_FIRST, keys)),
        strict=True,
    )
    form = '%s%s,"ts":"%s","message":' + quote
    return dict(zip(keys, map(form.__mod__, texts), strict=True))


def _head_columns(
    entries: list[EntryTuple], firsts: list[EntryTuple], stamps: dict[float, str], quote: str
) -> list[Any]:
    """The JSON up to each entry's message, as columns: one per distinct head when there are
    few, else (a socket's entries each carry their own timestamp and level) the source, level
    and timestamp fragments as three columns, without a key tuple or a format per entry."""
    if len(firsts) * 4 <= len(entries):
        heads = _heads(firsts, stamps, quote)
        return [map(heads.__getitem__, map(_HEAD_KEY, entries))]
    sources = list(map(_SOURCE_OF, entries))
    if sources.count(sources[0]) == len(sources):
        source_column: Any = repeat(_source_fragment(sources[0]))
    else:
        texts = {source: _source_fragment(source) for source in set(sources)}
        source_column = map(texts.__getitem__, sources)
    tail = '","message":' + quote
    stamp_texts = {ts: ',"ts":"' + text + tail for ts, text in stamps.items()}
    return [
        source_column,
        map(_LEVEL_FRAG.get, map(_LEVEL_OF, entries), repeat("")),
        map(stamp_texts.__getitem__, map(TS_OF, entries)),
    ]


def _source_fragment(source: str) -> str:
    return '{"v":"2.0","type":"log","source":' + encode_basestring(source)


def _attribute_parts(
    distinct: dict[int, dict[str, str]],
    statics: PayloadStatics,
    tokens: dict[int, bytes] | None,
    quote: str,
    wanted: tuple[bool, bool],
) -> tuple[dict[int, str], dict[int, str], dict[int, int]]:
    """Per distinct attributes object (``distinct``, by id): the JSON after the message
    (``tails``), the same up to the open meta object for an entry with a record id
    (``opened``), each only if ``wanted``, both after ``quote``, and the labels each leaves out
    (``cuts``, only those that leave some). Many dicts of one shape (a processor chain's
    output) are written column-wise (attribute_columns.py), the rest one by one."""
    tails: dict[int, str] = {}
    opened: dict[int, str] = {}
    cuts: dict[int, int] = {}
    meta_open = statics.meta_open()
    ends = list(compress((f"{statics.meta_fragment}}}\n", f'{meta_open}"record_id":'), wanted))
    outs = list(compress((tails, opened), wanted))
    rest = list(distinct.values())
    if len(rest) >= MIN_GROUP:
        groups, rest = column_texts(rest, statics.labels, quote, ends)
        for members, texts in groups:
            keys = list(map(id, members))
            for out, column in zip(outs, texts, strict=True):
                out.update(zip(keys, column, strict=True))
    for attrs in rest:
        shown = attrs
        found = attrs.get(TOKENS_KEY)
        if type(found) is SearchTokens:  # processing/tokens.py: a header, not payload
            shown = {k: v for k, v in attrs.items() if k != TOKENS_KEY}
            if tokens is not None:
                tokens[id(attrs)] = b"\r\nX-LF-Search-Tokens: " + found.encode("ascii")
        merged, dropped = merge_labels(statics.labels, shown)
        if dropped:
            cuts[id(attrs)] = dropped
        frag = quote + ',"attributes":' + _json_object(merged) if merged else quote
        for out, end in zip(outs, ends, strict=True):
            out[id(attrs)] = frag + end
    return tails, opened, cuts


def _tail_columns(
    ids: list[int],
    tails: dict[int, str],
    opened: dict[int, str],
    rids: list[str | None] | None,
) -> list[Any]:
    """The columns after the message: the attributes and meta, with the record id if any."""
    if rids is None:
        return [map(tails.__getitem__, ids)]
    if None in rids:  # a mixed batch (an input without ids): rare, per entry
        return [
            [
                tails[key] if rid is None else f"{opened[key]}{encode_basestring(rid)}}}}}\n"
                for key, rid in zip(ids, rids, strict=True)
            ]
        ]
    if plain("".join(cast("list[str]", rids))):
        # The usual ids (file, journald, stdin) need no JSON escapes: quoted as they are.
        quoted = {key: text + '"' for key, text in opened.items()}
        return [map(quoted.__getitem__, ids), rids, repeat('"}}\n')]
    return [
        map(opened.__getitem__, ids),
        map(encode_basestring, cast("list[str]", rids)),
        repeat("}}\n"),
    ]


def merge_labels(labels: dict[str, str], own: dict[str, str]) -> tuple[dict[str, str], int]:
    """The top-level ``labels`` merged under an entry's own attributes, within ``MAX_LABELS``.

    The entry's own attributes win (on a name both have, and for room); labels are added in
    their configured order while there is room. Returns the attributes and how many labels were
    left out. ``labels`` first in the result, as before the limit was applied.
    """
    if not labels:
        return own, 0
    if len(own) + len(labels) <= MAX_LABELS:
        return {**labels, **own}, 0
    room = MAX_LABELS - len(own)
    kept: dict[str, str] = {}
    dropped = 0
    for name, value in labels.items():
        if name in own:
            continue
        if len(kept) < room:
            kept[name] = value
        else:
            dropped += 1
    return {**kept, **own}, dropped
