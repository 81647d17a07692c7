"""Multiline joining: physical lines → entries (stack traces, tracebacks), one rule for all.

This module owns *when* lines are joined: ``Rule`` (a line that begins an entry, and when an
entry is full) and ``Joining`` (one entry being built). Two callers use them:

- ``Multiline`` below, the input option ``multiline:`` of the file and stdin inputs: it takes
  the lines ``LineFramer`` (framing.py) returns, with their end positions, and hands back
  completed entries with the position each one ends at, so an entry's ack token never runs
  ahead of a line still held;
- the ``multiline`` processor (processing/multiline.py), which joins rows after ``cri`` or
  ``docker`` unwrapped them, per file and stream.

It knows nothing about files, metrics or the event loop: the caller passes ``now`` and services
``deadline``.
"""

from __future__ import annotations

import re
from typing import Protocol

from logflux_agent.errors import ConfigError


class MultilineOptions(Protocol):
    """What both the input option (MultilineConfig) and the processor's config provide."""

    @property
    def start_pattern(self) -> str | None: ...
    @property
    def continue_pattern(self) -> str | None: ...
    @property
    def max_lines(self) -> int: ...
    @property
    def timeout(self) -> float: ...


class Rule:
    """``start_pattern``: a line where it matches (``re.search``) begins a new entry; other
    lines join the current one. ``continue_pattern``: a line where it matches joins the current
    entry; other lines begin a new one. An entry is full at ``max_lines`` lines or ``max_bytes``
    characters (the next line then begins a new entry: nothing is dropped)."""

    __slots__ = ("_continue", "_start", "max_bytes", "max_lines", "timeout")

    def __init__(self, options: MultilineOptions, *, max_bytes: int) -> None:
        start, cont = options.start_pattern, options.continue_pattern
        if (start is None) == (cont is None):
            raise ConfigError("multiline: set exactly one of start_pattern or continue_pattern")
        try:
            self._start = re.compile(start).search if start is not None else None
            self._continue = re.compile(cont).search if cont is not None else None
        except re.error as exc:
            raise ConfigError(f"multiline: invalid regular expression: {exc}") from exc
        if options.max_lines < 1:
            raise ConfigError("multiline.max_lines must be at least 1")
        self.max_lines = options.max_lines
        self.max_bytes = max_bytes
        self.timeout = options.timeout

    def begins(self, line: str) -> bool:
        """Whether ``line`` begins a new entry."""
        if self._start is not None:
            return self._start(line) is not None
        assert self._continue is not None
        return self._continue(line) is None


class Joining:
    """The lines of one entry being joined, and its joined length."""

    __slots__ = ("last", "lines", "size")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = -1  # the joined length: the lines plus one "\n" between each two
        self.last = 0.0  # when its last line came (monotonic seconds)

    def ends_before(self, rule: Rule, line: str, begins: bool) -> bool:
        """Whether the entry is complete before ``line`` (which ``begins`` an entry or not)."""
        if not self.lines:
            return False
        full = len(self.lines) >= rule.max_lines or self.size + 1 + len(line) > rule.max_bytes
        return begins or full

    def add(self, line: str, now: float) -> None:
        self.lines.append(line)
        self.size += 1 + len(line)
        self.last = now

    def take(self) -> str:
        """The joined text; the entry is empty afterwards."""
        text = "\n".join(self.lines)
        self.lines = []
        self.size = -1
        return text


class Multiline:
    """The input option: joins one stream's physical lines into entries with ``\\n``.

    An entry is complete when the next one begins, when it is full (``Rule``), or when no line
    arrived for ``timeout`` seconds (see ``deadline``).
    """

    __slots__ = ("_end", "_entry", "_rule")

    def __init__(self, config: MultilineOptions, *, max_bytes: int) -> None:
        self._rule = Rule(config, max_bytes=max_bytes)
        self._entry = Joining()
        self._end = 0

    @property
    def held(self) -> int:
        """Lines held for the current entry."""
        return len(self._entry.lines)

    @property
    def deadline(self) -> float | None:
        """When the held entry is due for flushing (monotonic seconds), or None."""
        entry = self._entry
        return entry.last + self._rule.timeout if entry.lines else None

    def reset(self) -> None:
        self._entry = Joining()

    def push(
        self, lines: list[str], ends: list[int] | None, now: float
    ) -> tuple[list[str], list[int]]:
        """Add lines (and their end positions); return completed entries and their ends."""
        out: list[str] = []
        out_ends: list[int] = []
        if not lines:
            return out, out_ends
        rule, entry = self._rule, self._entry
        begins = rule.begins
        for idx, line in enumerate(lines):
            if entry.ends_before(rule, line, begins(line)):
                out.append(entry.take())
                out_ends.append(self._end)
            entry.add(line, now)
            self._end = ends[idx] if ends is not None else 0
        return out, out_ends

    def flush(self) -> tuple[list[str], list[int]]:
        """Complete the held entry (timeout or end of input)."""
        if not self._entry.lines:
            return [], []
        return [self._entry.take()], [self._end]
