"""Multiline joining: physical lines → entries (stack traces, tracebacks), shared by the inputs.

It takes the lines ``LineFramer`` (framing.py) returns, with their end positions, and hands
back completed entries with the position each one ends at, so an entry's ack token never runs
ahead of a line still held. It knows nothing about files, metrics or the event loop: the caller
passes ``now`` and services ``deadline``.
"""

from __future__ import annotations

import re

from logflux_agent.config.model import MultilineConfig
from logflux_agent.errors import ConfigError


class Multiline:
    """Joins physical lines into entries (stack traces, tracebacks) with ``\\n``.

    ``start_pattern``: a line where it matches (``re.search``) begins a new entry; other lines
    join the current one. ``continue_pattern``: a line where it matches joins the current entry;
    other lines begin a new one. An entry is complete when the next one begins, when it reaches
    ``max_lines`` lines or ``max_bytes`` bytes (the next line then begins a new entry: nothing
    is dropped), or when no line arrived for ``timeout`` seconds (see ``deadline``).
    """

    __slots__ = (
        "_bytes",
        "_continue",
        "_end",
        "_last",
        "_lines",
        "_max_bytes",
        "_max_lines",
        "_start",
        "_timeout",
    )

    def __init__(self, config: MultilineConfig, *, max_bytes: int) -> None:
        if (config.start_pattern is None) == (config.continue_pattern is None):
            raise ConfigError("multiline: set exactly one of start_pattern or continue_pattern")
        try:
            self._start = (
                re.compile(config.start_pattern) if config.start_pattern is not None else None
            )
            self._continue = (
                re.compile(config.continue_pattern) if config.continue_pattern is not None else None
            )
        except re.error as exc:
            raise ConfigError(f"multiline: invalid regular expression: {exc}") from exc
        if config.max_lines < 1:
            raise ConfigError("multiline.max_lines must be at least 1")
        self._max_lines = config.max_lines
        self._max_bytes = max_bytes
        self._timeout = config.timeout
        self._lines: list[str] = []
        self._bytes = -1
        self._end = 0
        self._last = 0.0

    @property
    def held(self) -> int:
        """Lines held for the current entry."""
        return len(self._lines)

    @property
    def deadline(self) -> float | None:
        """When the held entry is due for flushing (monotonic seconds), or None."""
        return self._last + self._timeout if self._lines else None

    def reset(self) -> None:
        self._lines = []
        self._bytes = -1

    def push(
        self, lines: list[str], ends: list[int] | None, now: float
    ) -> tuple[list[str], list[int]]:
        """Add lines (and their end positions); return completed entries and their ends."""
        out: list[str] = []
        out_ends: list[int] = []
        if not lines:
            return out, out_ends
        start, cont = self._start, self._continue
        held = self._lines
        for idx, line in enumerate(lines):
            if start is not None:
                begins = start.search(line) is not None
            else:
                assert cont is not None
                begins = cont.search(line) is None
            if held and (
                begins
                or len(held) >= self._max_lines
                or self._bytes + 1 + len(line) > self._max_bytes
            ):
                out.append("\n".join(held))
                out_ends.append(self._end)
                held = self._lines = []
                self._bytes = -1
            held.append(line)
            # The joined entry's length: the lines plus one "\n" between each two.
            self._bytes += 1 + len(line)
            self._end = ends[idx] if ends is not None else 0
        self._last = now
        return out, out_ends

    def flush(self) -> tuple[list[str], list[int]]:
        """Complete the held entry (timeout or end of input)."""
        if not self._lines:
            return [], []
        text = "\n".join(self._lines)
        self._lines = []
        self._bytes = -1
        return [text], [self._end]
