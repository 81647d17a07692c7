"""The SDKs' own line shape, matched by one regular expression over a whole chunk: pure code.

The Ruby, PHP and C SDKs write every entry with the same keys in the same order and no spaces
(protocol.md §10)::

    {"id":"…","message":"…","source":"…","entry_type":1,"level":6,"timestamp":1796000000,
     "labels":{…}}                          (labels optional; C over TCP adds "shared_secret")

For a chunk of such lines ``map_sdk_lines`` builds the entries without decoding JSON objects:
one ``findall`` over the joined chunk yields the fields of every line as strings, each column
is converted with one ``map``, and the ``labels`` text goes through a per-listener cache
(raw text → shared attribute dict), so no Python code and no dict is created per entry. The
result is a packed ``Entries`` (packed.py): columns, no Record per entry. It is
about half the cost of decoding each line and mapping the objects column-wise (``columns.py``).

It returns None, and the caller takes the JSON path, unless the result is certainly the same:

- every line matches (matches are anchored at a line start and end at a line end, so N
  matches over N lines means each line is one match, none spans two);
- no backslash anywhere (an escape would have to be decoded) except PHP's ``\\/``, replaced by
  ``/`` first (any backslash left over: None), and no control character (JSON forbids them
  raw in strings). Without backslashes a ``"`` always ends a string, so ``[^"]*`` is exactly
  a JSON string's content;
- ``level`` 0-7, ``entry_type`` exactly 1, ``timestamp`` a plain integer below 10^11, ``id``
  1-256 characters (what the JSON path accepts, narrowed);
- every distinct labels text decodes to an object (or PHP's array form) that fits the
  attribute limits without loss (``FittedLabels``), and every secret passes the policy.
"""

from __future__ import annotations

import json
import re
from itertools import compress
from typing import Any, cast

from logflux_agent.inputs.socket.columns import FittedLabels, Policy, one_source
from logflux_agent.inputs.socket.entry import secret_matches
from logflux_agent.inputs.socket.rids import RecordIds
from logflux_agent.packed import Entries

# Labels: an object up to its first "}" (flat, as the SDKs send them; a "}" inside a value
# makes the line not match) or an array up to its first "]"; the text is then decoded as
# JSON, so whatever it holds, a line that matches is valid JSON with exactly these fields.
_LINE = re.compile(
    r'^\{"id":"([^"]{1,256})","message":"([^"]*)","source":"([^"]*)",'
    r'"entry_type":1,"level":([0-7]),"timestamp":(0|[1-9][0-9]{0,10})'
    r'(?:,"labels":(\{[^}]*\}|\[[^\]]*\]))?(,"shared_secret":"([^"]*)")?\}$',
    re.MULTILINE,
)
_CONTROL = bytes(c for c in range(32) if c != 10)  # \n separates the joined lines
_LEVELS = {str(n): n + 1 for n in range(8)}  # syslog severity 0-7 → LogFlux level
_MAX_LABELS_TEXT = 1024  # longer labels texts are not cached (the cache stays small)


def map_sdk_lines(
    lines: list[str], labels: FittedLabels, policy: Policy, rids: RecordIds
) -> Entries | None:
    """The chunk's records, or None when any line needs the JSON path (every line carries
    its ``source``, so the input's default never applies here)."""
    text = sdk_text(lines)
    return None if text is None else map_sdk_text(text, len(lines), labels, policy, rids)


def sdk_text(lines: list[str]) -> str | None:
    """The joined chunk the expression may be run on; None: an escape or control character
    (cheap: no match is tried)."""
    if not lines:
        return None
    text = "\n".join(lines)
    if "\\" in text:
        if "\\/" not in text:
            return None
        text = text.replace("\\/", "/")
        if "\\" in text:
            return None
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw.translate(None, _CONTROL)) != len(raw):
        return None
    return text


def map_sdk_text(
    text: str, lines: int, labels: FittedLabels, policy: Policy, rids: RecordIds
) -> Entries | None:
    """The records of ``text`` (from ``sdk_text``, ``lines`` lines); None: not all match."""
    found = _LINE.findall(text)
    if len(found) != lines:
        return None
    return _records(found, labels, policy, rids)


def _records(
    found: list[tuple[str, ...]], labels: FittedLabels, policy: Policy, rids: RecordIds
) -> Entries | None:
    ids, messages, sources, levels, stamps, label_texts, has_secret, secrets = zip(
        *found, strict=True
    )
    if not _secrets_pass(has_secret, secrets, policy):
        return None
    attrs = labels_column(labels, label_texts)
    if attrs is None:
        return None
    rids.next += len(ids)
    return Entries(
        messages,
        list(map(float, stamps)),
        list(map(_LEVELS.__getitem__, levels)),
        one_source(sources),
        attrs,
        ids,
    )


def _secrets_pass(has_secret: tuple[str, ...], secrets: tuple[str, ...], policy: Policy) -> bool:
    """Like ``columns._secrets_pass``: each distinct secret compared once, in constant time."""
    if policy.secret is None:
        return True  # a Unix socket: no check; the secret group never reaches a Record
    if "" in has_secret:  # some entries carry none
        if policy.require:
            return False
        distinct = set(compress(secrets, has_secret))
    else:
        distinct = set(secrets)
    return all(secret_matches(s, policy.secret) for s in distinct)


def labels_column(labels: FittedLabels, texts: tuple[str, ...]) -> list[dict[str, str]] | None:
    """One shared attribute dict per labels text ("" when absent), or None if any is unusual."""
    cache = labels.by_text
    attrs = list(map(cache.get, texts))
    if None in attrs:
        for text in set(texts):
            if text not in cache and not _learn(labels, text):
                return None
        attrs = list(map(cache.get, texts))
        if None in attrs:  # more distinct texts than the cache holds
            return None
    return cast("list[dict[str, str]]", attrs)


def _learn(labels: FittedLabels, text: str) -> bool:
    """Decode one labels text and cache its attribute dict; False when it is unusual."""
    if len(text) > _MAX_LABELS_TEXT:
        return False
    try:
        value: Any = json.loads(text) if text else {}
    except ValueError:
        return False
    if type(value) is dict:
        key: tuple[Any, ...] = tuple(value.items())
    elif type(value) is list:  # PHP: [] for an empty map, an array for keys "0", "1", …
        key = tuple((str(i), v) for i, v in enumerate(value))
    else:
        return False
    try:
        attrs = labels.get(key)
    except TypeError:  # a list or object value: the JSON path handles it
        return False
    if attrs is None:
        return False
    labels.remember_text(text, attrs)
    return True
