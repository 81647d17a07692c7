"""The v2 payload JSON (protocol.md §5) of a batch of entries, column by column.

Owns the plaintext an entry is encrypted from: the per-agent parts (``PayloadStatics``: the
top-level labels and the ``meta`` fragment), the merge of those labels under an entry's own
attributes within the attribute limit, and the entry's ``meta.record_id`` (docs/record-ids.md).
Python code runs once per batch or per distinct timestamp, (timestamp, level, source) and
attributes object; the per-entry work is ``map`` over columns. encode.py compresses, encrypts
and frames what this builds.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, repeat
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any, cast

from logflux_agent.config.model import MAX_LABELS
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


def format_timestamp(ts: float) -> str:
    """RFC 3339 UTC with microseconds and ``Z`` (protocol §4: the agent sends microseconds)."""
    sec, us = divmod(round(ts * 1_000_000), 1_000_000)
    return f"{_second_text(sec)}.{us:06d}Z"


def _json_object(obj: dict[str, str]) -> str:
    return json.dumps(
        {str(k): str(v) for k, v in obj.items()}, ensure_ascii=False, separators=(",", ":")
    )


TS_OF = itemgetter(1)
_HEAD_KEY = itemgetter(1, 2, 3)  # (timestamp, level, source)
_MESSAGE = itemgetter(0)
ATTRIBUTES_OF = itemgetter(4)


def stamps_of(entries: list[EntryTuple]) -> dict[float, str]:
    """Each distinct timestamp as RFC 3339 text; each distinct second is formatted once."""
    seconds: dict[int, str] = {}
    stamps: dict[float, str] = {}
    for ts in set(map(TS_OF, entries)):
        sec, us = divmod(round(ts * 1_000_000), 1_000_000)
        text = seconds.get(sec)
        if text is None:
            text = seconds[sec] = _second_text(sec)
        stamps[ts] = f"{text}.{us:06d}Z"
    return stamps


def plaintexts(
    entries: list[EntryTuple],
    statics: PayloadStatics,
    stamps: dict[float, str],
    tokens: dict[int, bytes] | None = None,
    rids: list[str | None] | None = None,
    cut: list[int] | None = None,
) -> list[bytes]:
    """The v2 JSON of each entry; ``message`` sits between the per-entry and per-input parts."""
    heads: dict[tuple[float, int, str], str] = {}
    sources: dict[str, str] = {}
    for ts, level, source in set(map(_HEAD_KEY, entries)):
        frag = sources.get(source)
        if frag is None:
            frag = sources[source] = '{"v":"2.0","type":"log","source":' + encode_basestring(source)
        heads[ts, level, source] = (
            f'{frag}{_LEVEL_FRAG.get(level, "")},"ts":"{stamps[ts]}","message":'
        )
    attributes = list(map(ATTRIBUTES_OF, entries))
    # Per distinct attributes object: the JSON after the message (``tails``), and the same up
    # to the open meta object for entries with a record id (``opened``).
    tails: dict[int, str] = {}
    opened: dict[int, str] = {}
    cuts: dict[int, int] = {}
    meta_open = statics.meta_open()
    for attrs in {id(a): a for a in attributes}.values():
        shown = attrs
        found = attrs.get(TOKENS_KEY)
        if type(found) is SearchTokens:  # processing/tokens.py: a header, not payload
            shown = {k: v for k, v in attrs.items() if k != TOKENS_KEY}
            if tokens is not None:
                tokens[id(attrs)] = b"\r\nX-LF-Search-Tokens: " + found.encode("ascii")
        merged, dropped = merge_labels(statics.labels, shown)
        if dropped:
            cuts[id(attrs)] = dropped
        frag = ',"attributes":' + _json_object(merged) if merged else ""
        tails[id(attrs)] = f"{frag}{statics.meta_fragment}}}\n"
        opened[id(attrs)] = frag + meta_open
    if cuts and cut is not None:
        per_set = Counter(map(id, attributes))
        cut[0] += sum(dropped * per_set[key] for key, dropped in cuts.items())
    ids = map(id, attributes)
    if rids is not None and len(rids) != len(entries):
        raise ValueError("one record id (or None) per entry")
    columns: list[Any] = [
        map(heads.__getitem__, map(_HEAD_KEY, entries)),
        map(encode_basestring, map(_MESSAGE, entries)),
    ]
    if rids is None:
        columns.append(map(tails.__getitem__, ids))
    elif None in rids:  # a mixed batch (an input without ids): rare, per entry
        columns.append(
            [
                tails[key]
                if rid is None
                else f"{opened[key]}{_RID_KEY}{encode_basestring(rid)}}}}}\n"
                for key, rid in zip(ids, rids, strict=True)
            ]
        )
    else:  # the per-entry meta tail, built column-wise like the rest
        columns += [
            map(opened.__getitem__, ids),
            repeat(_RID_KEY),
            map(encode_basestring, cast("list[str]", rids)),
            repeat("}}\n"),
        ]
    # One string for the whole batch, encoded once and cut at the newlines: JSON text never
    # holds a raw newline (json escapes it in every string), so they separate entries exactly.
    # (Not strict: the constant columns are endless; the others have one item per entry.)
    text = "".join(chain.from_iterable(zip(*columns, strict=False)))
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates: keep the entries, replace the bad code points
        data = text.encode("utf-8", "replace")
    return data.split(b"\n")[:-1]


_RID_KEY = '"record_id":'


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


def _second_text(sec: int) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    except (OverflowError, OSError, ValueError):  # an absurd timestamp must not sink the batch
        return "1970-01-01T00:00:00"
