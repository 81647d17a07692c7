"""Level detection and record building: lines → Records, shared by the inputs.

``detect_level`` guesses a LogFlux level from a line (a level word such as ``ERROR`` or
``[warn]`` among its first tokens, else a ``level=``/``"level":`` field; ``find_level`` is the
same without the default, used by the ``detect_level`` processor too); ``make_records``
builds the Records of a list of lines, with detected levels when the input asks for them, else
``LEVEL_INFO`` for all (built in one C-level pass, see record.py).
"""

from __future__ import annotations

import re

from logflux_agent.record import Record, records_for

LEVEL_INFO = 7

_LEVELS = {
    "EMERG": 1,
    "EMERGENCY": 1,
    "PANIC": 1,
    "ALERT": 2,
    "CRIT": 3,
    "CRITICAL": 3,
    "FATAL": 3,
    "ERR": 4,
    "ERROR": 4,
    "SEVERE": 4,
    "WARN": 5,
    "WARNING": 5,
    "NOTICE": 6,
    "INFO": 7,
    "DEBUG": 8,
    "TRACE": 8,
}


def _level_tokens() -> dict[str, int]:
    """Whitespace-separated tokens that name a level: ``ERROR``, ``[WARN]``, ``error:``, ….

    Upper case counts bare or decorated; lower/title case only decorated (``[error]`` as nginx
    writes it, ``error:`` / ``Warning:`` as compilers and Go programs do), because a bare
    lower-case "error" is as likely to be part of the message.
    """
    tokens: dict[str, int] = {}
    for word, level in _LEVELS.items():
        for form in (word, word.lower(), word.title()):
            decorated = [
                f"[{form}]",
                f"{form}:",
                f"[{form}]:",
                f"<{form}>",
                f"({form})",
                f"{form}|",
                f"|{form}|",
                f"{form},",
            ]
            if form == word:
                decorated.append(form)
            for token in decorated:
                tokens.setdefault(token, level)
    return tokens


_LEVEL_TOKENS = _level_tokens()
# level=error, "level":"warn", severity: info, lvl=dbg … (any case; only tried when present).
_LEVEL_FIELD_RE = re.compile(
    r"""(?i)\b(?:level|lvl|severity|loglevel)["']?\s*[=:]\s*["']?([a-z]+)"""
)
_LEVEL_WINDOW = 160
_LEVEL_MAX_TOKENS = 5
_LEVEL_ALIASES = {"WARNING": 5, "DBG": 8, "INF": 7, "WRN": 5, "ERR": 4, "CRT": 3, "FTL": 3}


def detect_level(text: str) -> int:
    """Guess a LogFlux level (1 emergency .. 8 debug) from tokens near the start; 7 if none."""
    return find_level(text) or LEVEL_INFO


def find_level(text: str) -> int | None:
    """The LogFlux level (1 emergency .. 8 debug) ``text`` states near its start, or None.

    Looks at the first few whitespace-separated tokens (``2026-… ERROR …``, ``[warn]``,
    ``INFO:root:…``), then at a ``level=``/``"level":``/``severity:`` field. Kept to splits and
    dict look-ups: a regex over the line costs several microseconds.
    """
    head = text[:_LEVEL_WINDOW]
    tokens = _LEVEL_TOKENS
    parts = head.split(None, _LEVEL_MAX_TOKENS)
    for token in parts[:_LEVEL_MAX_TOKENS]:
        level = tokens.get(token)
        if level is not None:
            return level
    if parts and ":" in parts[0]:
        # Python logging's default format: "WARNING:root:message".
        level = tokens.get(parts[0].partition(":")[0] + ":")
        if level is not None:
            return level
    if "evel" in head or "EVEL" in head or "lvl" in head or "everity" in head or "EVERITY" in head:
        match = _LEVEL_FIELD_RE.search(head)
        if match is not None:
            word = match.group(1).upper()
            return _LEVELS.get(word) or _LEVEL_ALIASES.get(word)
    return None


def make_records(
    lines: list[str],
    timestamp: float,
    source: str,
    attributes: dict[str, str],
    *,
    detect: bool = False,
    rids: list[str] | None = None,
) -> list[Record]:
    """One Record per line, sharing ``timestamp``, ``source`` and the ``attributes`` dict
    (``rids``: each line's record id, see record.py)."""
    if detect:
        ids = rids if rids is not None else [None] * len(lines)
        return [
            Record(line, timestamp, detect_level(line), source, attributes, None, rid)
            for line, rid in zip(lines, ids, strict=True)
        ]
    return records_for(lines, timestamp, LEVEL_INFO, source, attributes, rids)
