"""Line parsers: ``json``, ``logfmt`` and ``regex`` turn a line's text into fields.

Each is a function over a Rows column (one loop per emitted list, C-level parsing inside).
A line a parser cannot read is left exactly as it was (it ships as text) and counted by reason;
nothing here raises on any input. Fields of several parsers on one line merge, later wins.
``message_key`` takes that field out of the fields and makes it the entry's message.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from itertools import chain, repeat
from typing import Any

from logflux_agent.config.processors import JsonProcessor, LogfmtProcessor, RegexProcessor
from logflux_agent.processing.attributes import as_text
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import SLICE, Fields, Rows, slices

# Nested objects deeper than this stay one field holding their JSON text.
MAX_FLATTEN_DEPTH = 8
_loads = json.loads
# The C scanner behind json.loads, called directly: loads adds two Python frames and two
# regex matches per line around it. Same parser, same results; raises StopIteration when the
# text does not start with a JSON value.
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_SPACE = " \t\r\n"
_MISSING = object()
_values = dict.values


def flatten(obj: dict[str, object], depth: int = 0, prefix: str = "") -> Fields:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; empty objects and deep ones stay values."""
    out: Fields = {}
    for key, value in obj.items():
        if type(value) is dict and value and depth < MAX_FLATTEN_DEPTH:
            out.update(flatten(value, depth + 1, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


class _Parser:
    name = ""

    def __init__(self, message_key: str | None, reporter: Reporter) -> None:
        self.message_key = message_key
        self.reporter = reporter

    def _store(self, rows: Rows, i: int, found: Fields) -> None:
        """Merge ``found`` into row ``i``'s fields; ``message_key`` becomes the message."""
        key = self.message_key
        if key is not None and key in found:
            rows.message_column()[i] = as_text(found.pop(key))
        column = rows.field_column()
        existing = column[i]
        column[i] = found if existing is None else {**existing, **found}


class JsonParser(_Parser):
    """``json``: a JSON object line → fields; anything else is left alone and counted."""

    name = "json"

    def __init__(self, cfg: JsonProcessor, reporter: Reporter) -> None:
        super().__init__(cfg.message_key, reporter)

    def fast(self, rows: Rows) -> list[range] | None:
        """Column-wise parsing, one slice of the list at a time, of rows that have no fields
        yet (the usual case: every line of an app logging JSON). Returns the ranges of rows
        left to the per-line way — the slices holding a line that is not a flat JSON object,
        their fields None — so one such line costs its slice, not the whole read; ``[]``: all
        done. None: not this case, nothing changed. Each step is one C-level map."""
        if rows.fields is not None or rows.message is not None:
            return None
        key = self.message_key
        objs: list[Fields | None] = []
        messages: list[str | None] = []
        left: list[range] = []
        for part in slices(rows.text):
            done = _flat_objects(part)
            if done is None:
                left.append(range(len(objs), len(objs) + len(part)))
                objs += repeat(None, len(part))
                messages += repeat(None, len(part))
                continue
            objs += done
            if key is not None:
                messages += _messages(done, key)
        if sum(map(len, left)) == len(objs):
            return [range(len(objs))]  # no slice done: the per-line way makes its own columns
        rows.fields = objs
        if key is not None:
            rows.message = messages
        return left

    def __call__(self, rows: Rows) -> Rows:
        left = self.fast(rows)
        if left is None:
            left = [range(len(rows))]
        if left:
            self._per_line(rows, chain.from_iterable(left))
        return rows

    def _per_line(self, rows: Rows, indices: Iterable[int]) -> None:
        invalid = not_object = 0
        key = self.message_key
        fields = rows.field_column()
        messages = rows.message_column() if key is not None else None
        texts = rows.text
        for i in indices:
            text = texts[i]
            try:
                obj, end = _scan(text, 0)
            except (StopIteration, ValueError, RecursionError):
                if text[:1] in _SPACE:  # a value after blanks: the slow, general way
                    try:
                        obj, end = _loads(text), len(text)
                    except (ValueError, RecursionError):
                        invalid += 1
                        continue
                else:
                    invalid += 1
                    continue
            if end != len(text) and text[end:].strip(_SPACE):
                invalid += 1  # "extra data" after the value
                continue
            if type(obj) is not dict:
                not_object += 1
                continue
            if dict in set(map(type, obj.values())):
                obj = flatten(obj)
            if messages is not None and key in obj:
                messages[i] = as_text(obj.pop(key))
            existing = fields[i]
            fields[i] = obj if existing is None else {**existing, **obj}
        if invalid:
            self.reporter.problem(self.name, "invalid_json", invalid)
        if not_object:
            self.reporter.problem(self.name, "not_object", not_object)


def _flat_objects(texts: list[str]) -> list[Fields] | None:
    """Each of ``texts`` (at most ``SLICE``) parsed, when every one is exactly a JSON object
    without nested objects (blanks around it allowed, as the per-line way allows them); else
    None (the per-line way then parses and counts this slice).

    One call parses the slice: the lines as the values of one object whose keys are
    ``_NONCE`` and the line's index. That object has exactly those keys, in order, only when
    every line is exactly one JSON value: a line is cut from its neighbours by a comma and a
    key only the agent knows (random per process), so no line can write or swallow one of the
    keys without the result missing one or having one more. Within one call the scanner
    shares the key strings of all lines, and there is no call nor (object, end) tuple per line.
    """
    n = len(texts)
    if not 0 < n <= SLICE:
        return None
    parts = [""] * (2 * n + 1)
    parts[0 : 2 * n : 2] = _SEPARATORS[:n]
    parts[1 : 2 * n : 2] = texts
    parts[-1] = "}"
    try:
        found = _loads("".join(parts))
    except (ValueError, RecursionError):  # (one level deeper than a line alone: per line)
        return None
    if len(found) != n or list(found) != _KEYS[:n]:
        return None
    objs: list[Any] = list(found.values())
    if set(map(type, objs)) != {dict}:
        return None
    if dict in set(map(type, chain.from_iterable(map(_values, objs)))):
        return None  # nested objects are flattened the per-line way
    return objs


_NONCE = secrets.token_hex(16)
_SEPARATORS = [f'{{"{_NONCE}0":'] + [f',\n"{_NONCE}{i}":' for i in range(1, SLICE)]
_KEYS = [f"{_NONCE}{i}" for i in range(SLICE)]


def _messages(objs: list[Fields], key: str) -> list[str | None]:
    """``key`` taken out of each object: its text, or None where an object has none."""
    found = list(map(dict.pop, objs, repeat(key), repeat(_MISSING)))
    if set(map(type, found)) == {str}:
        return found  # type: ignore[return-value]
    return [None if m is _MISSING else as_text(m) for m in found]


# key=value, key="quoted \" value", key= (empty); a word without "=" is not a pair.
_PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')


def _unquote(value: str) -> str:
    if len(value) < 2 or value[0] != '"':
        return value
    try:
        text = _loads(value)
    except ValueError:  # an escape JSON does not know: keep the text, drop the quotes
        return value[1:-1].replace('\\"', '"')
    return text if isinstance(text, str) else value


def parse_logfmt(line: str) -> Fields:
    """The ``key=value`` pairs of ``line`` (quoted values unescaped); {} when there are none."""
    out: Fields = {}
    for key, value in _PAIR.findall(line):
        out[key] = _unquote(value) if value[:1] == '"' else value
    return out


def format_logfmt(fields: dict[str, str]) -> str:
    """The inverse of ``parse_logfmt`` for keys without spaces, ``=`` or quotes (for tests)."""
    parts = []
    for key, value in fields.items():
        plain = value and not any(c in value for c in ' "=\\') and value.isprintable()
        parts.append(f"{key}={value if plain else json.dumps(value, ensure_ascii=False)}")
    return " ".join(parts)


class LogfmtParser(_Parser):
    """``logfmt``: ``key=value`` pairs → fields; a line without any pair is counted."""

    name = "logfmt"

    def __init__(self, cfg: LogfmtProcessor, reporter: Reporter) -> None:
        super().__init__(cfg.message_key, reporter)

    def __call__(self, rows: Rows) -> Rows:
        missing = 0
        findall = _PAIR.findall
        for i, text in enumerate(rows.text):
            pairs = findall(text)
            if not pairs:
                missing += 1
                continue
            found: Fields = {}
            for key, value in pairs:
                found[key] = _unquote(value) if value[:1] == '"' else value
            self._store(rows, i, found)
        self.reporter.problem(self.name, "not_logfmt", missing)
        return rows


class RegexParser(_Parser):
    """``regex``: the named groups of ``pattern`` (``re.search``) → fields."""

    name = "regex"

    def __init__(self, cfg: RegexProcessor, reporter: Reporter) -> None:
        super().__init__(cfg.message_key, reporter)
        self._pattern = re.compile(cfg.pattern)

    def __call__(self, rows: Rows) -> Rows:
        missing = 0
        search = self._pattern.search
        for i, text in enumerate(rows.text):
            match = search(text)
            if match is None:
                missing += 1
                continue
            found: Fields = {k: v for k, v in match.groupdict().items() if v is not None}
            if found:
                self._store(rows, i, found)
        self.reporter.problem(self.name, "no_match", missing)
        return rows
