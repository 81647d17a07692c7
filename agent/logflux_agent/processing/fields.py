"""Field processors: ``timestamp`` and ``level`` (a field → the entry's ts/level),
``detect_level`` (a level guessed from the text), ``set``, ``rename`` and ``drop_fields``.

``timestamp`` and ``level`` read a field a parser extracted; when the value is understood the
field is consumed (it becomes ``ts``/``level``, not an attribute), otherwise the line keeps its
read time / level, the field stays an attribute, and the reason is counted. ``set``, ``rename``
and ``drop_fields`` also act on the shared attributes (labels, Kubernetes metadata, stream),
once per distinct shared dict, not per line.
"""

from __future__ import annotations

from collections.abc import Callable

from logflux_agent.config.processors import (
    LEVEL_NAMES,
    DetectLevelProcessor,
    DropFieldsProcessor,
    LevelProcessor,
    RenameProcessor,
    SetProcessor,
    TimestampProcessor,
)
from logflux_agent.inputs.levels import find_level
from logflux_agent.processing.attributes import fit_attributes
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Rows, map_shared
from logflux_agent.processing.timefmt import parse_time

# protocol.md §4: the ingestor refuses entries more than a year old or a minute ahead.
MAX_AGE = 365 * 86_400.0 - 3_600.0
MAX_AHEAD = 60.0
_SHARED_CACHE_MAX = 1024

# Level words as loggers write them (any case) → LogFlux level (syslog severity + 1).
LEVEL_WORDS: dict[str, int] = {
    **LEVEL_NAMES,
    "emerg": 1,
    "panic": 1,
    "crit": 3,
    "fatal": 3,
    "dpanic": 3,
    "err": 4,
    "eror": 4,
    "severe": 4,
    "warn": 5,
    "information": 7,
    "informational": 7,
    "trace": 8,
    "verbose": 8,
    "dbg": 8,
    "fine": 8,
    "finer": 8,
    "finest": 8,
}


def number_level(value: float, scale: str) -> int | None:
    """A numeric level: ``syslog`` severity 0 to 7, ``logflux`` 1 to 8, or ``auto`` (0 to 7
    syslog, 10 to 60 the pino/bunyan scale: 10 trace … 60 fatal)."""
    if value != int(value):
        return None
    n = int(value)
    if scale == "logflux":
        return n if 1 <= n <= 8 else None
    if 0 <= n <= 7:
        return n + 1
    if scale == "auto" and 10 <= n <= 100:
        return 8 if n <= 20 else 7 if n <= 30 else 5 if n <= 40 else 4 if n <= 50 else 3
    return None


class SharedCache:
    """Results per shared attribute dict, kept with the dict so its id is never reused."""

    def __init__(self, change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        self._change = change
        self._done: dict[int, tuple[dict[str, str], dict[str, str]]] = {}

    def __call__(self, attrs: dict[str, str]) -> dict[str, str]:
        hit = self._done.get(id(attrs))
        if hit is not None:
            return hit[1]
        if len(self._done) >= _SHARED_CACHE_MAX:
            self._done.clear()
        result = self._change(attrs)
        self._done[id(attrs)] = (attrs, result)
        return result


class TimestampStep:
    name = "timestamp"

    def __init__(self, cfg: TimestampProcessor, reporter: Reporter) -> None:
        self.key = cfg.field
        self.formats = cfg.formats
        self.reporter = reporter

    def __call__(self, rows: Rows) -> Rows:
        if rows.fields is None:
            return rows
        key, formats, ts = self.key, self.formats, rows.ts
        bad = out_of_range = 0
        for i, found in enumerate(rows.fields):
            if not found or key not in found:
                continue
            value = parse_time(found[key], formats)
            if value is None:
                bad += 1
            elif not ts[i] - MAX_AGE <= value <= ts[i] + MAX_AHEAD:
                out_of_range += 1
            else:
                ts[i] = value
                del found[key]
        self.reporter.problem(self.name, "bad_timestamp", bad)
        self.reporter.problem(self.name, "timestamp_out_of_range", out_of_range)
        return rows


class LevelStep:
    name = "level"

    def __init__(self, cfg: LevelProcessor, reporter: Reporter) -> None:
        self.key = cfg.field
        self.words = {**LEVEL_WORDS, **cfg.map}
        self.scale = cfg.numbers
        self.reporter = reporter

    def level_of(self, value: object) -> int | None:
        if isinstance(value, str):
            word = value.strip().lower()
            found = self.words.get(word)
            if found is not None or not word[:1].isdigit():
                return found
            try:
                return number_level(float(word), self.scale)
            except (ValueError, OverflowError):
                return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return number_level(value, self.scale)
            except (ValueError, OverflowError):
                return None
        return None

    def __call__(self, rows: Rows) -> Rows:
        if rows.fields is None:
            return rows
        key, levels = self.key, rows.level
        unknown = 0
        for i, found in enumerate(rows.fields):
            if not found or key not in found:
                continue
            level = self.level_of(found[key])
            if level is None:
                unknown += 1
            else:
                levels[i] = level
                del found[key]
        self.reporter.problem(self.name, "unknown_level", unknown)
        return rows


class DetectLevelStep:
    """``detect_level``: the input option's guess (inputs/levels.py ``find_level``) on the
    row's message when a parser set one, else on its text (the unwrapped, joined line). A line
    that states no level keeps the one it had (the input's, 7)."""

    name = "detect_level"

    def __init__(self, cfg: DetectLevelProcessor, reporter: Reporter) -> None:
        del cfg, reporter

    def __call__(self, rows: Rows) -> Rows:
        texts: list[str] = rows.text
        if rows.message is not None:
            texts = [t if m is None else m for t, m in zip(texts, rows.message, strict=True)]
        levels = rows.level
        for i, found in enumerate(map(find_level, texts)):
            if found is not None:
                levels[i] = found
        return rows


class SetStep:
    name = "set"

    def __init__(self, cfg: SetProcessor, reporter: Reporter) -> None:
        values = cfg.fields
        self._shared = SharedCache(lambda a: fit_attributes(values, a).attributes)
        del reporter

    def __call__(self, rows: Rows) -> Rows:
        rows.attrs = map_shared(rows.attrs, self._shared)
        return rows


class RenameStep:
    name = "rename"

    def __init__(self, cfg: RenameProcessor, reporter: Reporter) -> None:
        self.pairs = tuple(cfg.fields.items())
        pairs = self.pairs

        def rename(attrs: dict[str, str]) -> dict[str, str]:
            out = dict(attrs)
            for old, new in pairs:
                if old in out:
                    out[new] = out.pop(old)
            return fit_attributes(out).attributes  # a new name may be a reserved one

        self._shared = SharedCache(rename)
        del reporter

    def __call__(self, rows: Rows) -> Rows:
        rows.attrs = map_shared(rows.attrs, self._shared)
        if rows.fields is not None:
            for found in rows.fields:
                if found:
                    for old, new in self.pairs:
                        if old in found:
                            found[new] = found.pop(old)
        return rows


class DropFieldsStep:
    name = "drop_fields"

    def __init__(self, cfg: DropFieldsProcessor, reporter: Reporter) -> None:
        names = self.names = frozenset(cfg.fields)
        self._shared = SharedCache(
            lambda a: {k: v for k, v in a.items() if k not in names} if names & a.keys() else a
        )
        del reporter

    def __call__(self, rows: Rows) -> Rows:
        rows.attrs = map_shared(rows.attrs, self._shared)
        if rows.fields is not None:
            names = self.names
            for found in rows.fields:
                if found and not names.isdisjoint(found):
                    for name in names & found.keys():
                        del found[name]
        return rows
