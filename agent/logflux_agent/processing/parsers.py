"""Line parsers: ``json``, ``logfmt`` and ``regex`` turn a line's text into fields.

Each is a function over a Rows column (one loop per emitted list, C-level parsing inside).
A line a parser cannot read is left exactly as it was (it ships as text) and counted by reason;
nothing here raises on any input. Fields of several parsers on one line merge, later wins.
``message_key`` takes that field out of the fields and makes it the entry's message.
"""

from __future__ import annotations

import json
import re
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from logflux_agent.config.processors import JsonProcessor, LogfmtProcessor, RegexProcessor
from logflux_agent.processing.attributes import as_text
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Fields, Rows, slices

# Nested objects deeper than this stay one field holding their JSON text.
MAX_FLATTEN_DEPTH = 8
_loads = json.loads
# The C scanner behind json.loads, called directly: loads adds two Python frames and two
# regex matches per line around it. Same parser, same results; raises StopIteration when the
# text does not start with a JSON value.
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_SPACE = " \t\r\n"
_OBJ, _END = itemgetter(0), itemgetter(1)
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

    def fast(self, rows: Rows) -> bool:
        """Column-wise parsing of a list of object lines without nesting, on rows that have no
        fields yet (the usual case: every line of an app logging JSON); False: not that case,
        nothing changed. Each step is one C-level map over the column."""
        if rows.fields is not None or rows.message is not None:
            return False
        texts = rows.text
        objs: list[Any] = []  # dicts once checked below
        ends: list[int] = []
        for part in slices(texts):  # the scanner's (object, end) tuples live for one slice
            try:
                parsed = list(map(_scan, part, repeat(0)))
            except (StopIteration, ValueError, RecursionError):
                return False  # a line that is not JSON: the general way counts it
            objs += map(_OBJ, parsed)
            ends += map(_END, parsed)
        if ends != list(map(len, texts)) or set(map(type, objs)) != {dict}:
            return False
        if dict in set(map(type, chain.from_iterable(map(_values, objs)))):
            return False  # nested objects are flattened the general way
        key = self.message_key
        if key is not None:
            found = list(map(dict.pop, objs, repeat(key), repeat(_MISSING)))
            if set(map(type, found)) == {str}:
                rows.message = found
            else:
                rows.message = [None if m is _MISSING else as_text(m) for m in found]
        rows.fields = objs
        return True

    def __call__(self, rows: Rows) -> Rows:
        if self.fast(rows):
            return rows
        invalid = not_object = 0
        key = self.message_key
        fields = rows.field_column()
        messages = rows.message_column() if key is not None else None
        for i, text in enumerate(rows.text):
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
        return rows


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
