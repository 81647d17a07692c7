"""The ``attributes`` JSON of many distinct attributes dicts at once, column by column.

A processor chain (``cri`` + ``kubernetes`` + ``json``) gives every entry its own attributes
dict, nearly always with the same keys in the same order. plaintext.py would serialise each
with a dict comprehension and ``json.dumps``; here the dicts are grouped by their key tuple
and each group is written as columns: the key fragments (and the top-level labels an entry
does not override, values included) are constant text written once per group, each value
column is one ``map(encode_basestring, ...)``, and each entry's pieces are joined with one
``map("".join, zip(...))``. The text is byte-identical to ``json.dumps(..., ensure_ascii=False,
separators=(",", ":"))`` of the merged dict (plaintext.merge_labels, ``_json_object``).

Dicts this does not take (returned for the per-dict path): groups smaller than
``MIN_GROUP``, keys that hold the search-token key or a non-``str`` name, labels that would
not all fit (``MAX_LABELS``: the merge drops some), and groups with a non-``str`` value
(``_json_object`` converts those with ``str()``; ``encode_basestring`` refuses them).
"""

from __future__ import annotations

from itertools import repeat
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

from logflux_agent.ingest.limits import MAX_LABELS
from logflux_agent.record import TOKENS_KEY

# Below this many dicts with one key tuple the per-dict path is as quick (measured: the
# column set-up is a few µs, json.dumps ~1 µs per small dict).
MIN_GROUP = 8

# One group's dicts and their texts, one list per requested ending (same order as dicts).
Group = tuple[list[dict[str, str]], list[list[str]]]


def column_texts(
    dicts: list[dict[str, str]], labels: dict[str, str], lead: str, ends: list[str]
) -> tuple[list[Group], list[dict[str, str]]]:
    """Per group of ``dicts`` sharing a key tuple: ``lead``, the ``,"attributes":{...}``
    fragment of each dict merged under ``labels`` (none when the merge is empty) and each of
    ``ends``. Returns the groups and the dicts left to the per-dict path."""
    groups = _by_keys(dicts)
    done: list[Group] = []
    rest: list[dict[str, str]] = []
    for keys, members in groups.items():
        texts = (
            _group_texts(keys, members, labels, lead, ends) if len(members) >= MIN_GROUP else None
        )
        if texts is None:
            rest.extend(members)
        else:
            done.append((members, texts))
    return done, rest


def _by_keys(dicts: list[dict[str, str]]) -> dict[tuple[str, ...], list[dict[str, str]]]:
    keysets = list(map(tuple, dicts))
    if keysets and keysets.count(keysets[0]) == len(keysets):  # the usual batch: one shape
        return {keysets[0]: dicts}
    groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for keys, attrs in zip(keysets, dicts, strict=True):
        groups.setdefault(keys, []).append(attrs)
    return groups


def _group_texts(
    keys: tuple[str, ...],
    members: list[dict[str, str]],
    labels: dict[str, str],
    lead: str,
    ends: list[str],
) -> list[list[str]] | None:
    if TOKENS_KEY in keys or not all(type(k) is str for k in (*keys, *labels)):
        return None
    if labels and len(keys) + len(labels) > MAX_LABELS:
        return None
    own = set(keys)
    # {**labels, **own}: the labels' order first (own values win), then own's other keys.
    names = [*labels, *(k for k in keys if k not in labels)] if labels else list(keys)
    if not names:
        return [[lead + end] * len(members) for end in ends]
    columns: list[Any] = []
    text = lead + ',"attributes":{'
    for index, name in enumerate(names):
        text += ("," if index else "") + encode_basestring(str(name)) + ":"
        if name in own:
            columns.append(repeat(text))
            columns.append(map(encode_basestring, map(itemgetter(name), members)))
            text = ""
        else:
            text += encode_basestring(str(labels[name]))
    text += "}"
    if not columns:  # only labels: the same text for every dict
        return [[text + end] * len(members) for end in ends]
    try:
        if len(ends) == 1:
            return [list(map("".join, zip(*columns, repeat(text + ends[0]), strict=False)))]
        bodies = list(map("".join, zip(*columns, repeat(text), strict=False)))
    except TypeError:  # a value that is not a str: the per-dict path str()-converts it
        return None
    return [list(map(str.__add__, bodies, repeat(end))) for end in ends]
