"""Filters: ``include``, ``exclude``, ``min_level``, ``sample``, ``throttle``.

A filter decides per row whether the entry goes on, and drops the others through
``Rows.keep``: a dropped row's ack token moves to a kept row (or waits for the next one), so
its position is committed like any shipped entry's and a restart does not read it again.
With a receipt ledger the dropped rows are handed to its sink first (``rows.DROP_SINKS``), so
``audit`` knows which lines a filter dropped (by their record ids).
Every dropped entry is counted in
``logflux_agent_processing_dropped_entries_total{input,processor,reason}``; a filter never
waits and drops nothing but what its options say. Patterns are compiled once, at build time.
"""

from __future__ import annotations

import re
import zlib

from logflux_agent.config.privacy import (
    ExcludeProcessor,
    IncludeProcessor,
    MinLevelProcessor,
    SampleProcessor,
    ThrottleProcessor,
    level_number,
)
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import DROP_SINKS, Rows


def column(rows: Rows, name: str) -> list[str | None]:
    """The text a filter or token rule reads per row: ``message`` (the parser's message, else
    the line), or a field a parser extracted, else an attribute of that name (labels,
    Kubernetes metadata); None where the row has neither."""
    if name == "message":
        if rows.message is None:
            return list(rows.text)
        return [m if m is not None else t for m, t in zip(rows.message, rows.text, strict=True)]
    out: list[str | None] = []
    fields = rows.fields or [None] * len(rows)
    for found, attrs in zip(fields, rows.attrs, strict=True):
        if found and name in found:
            value = found[name]
            out.append(value if isinstance(value, str) else str(value))
        else:
            out.append(attrs.get(name))
    return out


def _apply(rows: Rows, keep: list[bool], reporter: Reporter, name: str, reason: str) -> Rows:
    dropped = keep.count(False)
    if not dropped:
        return rows
    reporter.dropped(name, reason, dropped)
    if DROP_SINKS:
        sink = DROP_SINKS.get(reporter.state_dir)
        if sink is not None:
            sink(rows, keep, f"{name} ({reason})")
    return rows.keep(keep, reporter.carry)


class PatternFilter:
    """``include`` keeps the rows that match; ``exclude`` drops them."""

    def __init__(self, cfg: IncludeProcessor | ExcludeProcessor, reporter: Reporter) -> None:
        self.include = isinstance(cfg, IncludeProcessor)
        self.name = "include" if self.include else "exclude"
        self.field = cfg.field
        self.every = cfg.match == "all"
        self.searches = [re.compile(p).search for p in cfg.patterns]
        self.reporter = reporter

    def matches(self, text: str | None) -> bool:
        if text is None:
            return False
        test = all if self.every else any
        return test(s(text) is not None for s in self.searches)

    def __call__(self, rows: Rows) -> Rows:
        if not len(rows):
            return rows
        hits = list(map(self.matches, column(rows, self.field)))
        keep = hits if self.include else [not h for h in hits]
        reason = "not_included" if self.include else "excluded"
        return _apply(rows, keep, self.reporter, self.name, reason)


class MinLevelFilter:
    """Keep entries at ``level`` or more severe (LogFlux levels: 1 is the most severe)."""

    name = "min_level"

    def __init__(self, cfg: MinLevelProcessor, reporter: Reporter) -> None:
        level = level_number(cfg.level)
        assert level is not None  # checked at load
        self.level = level
        self.reporter = reporter

    def __call__(self, rows: Rows) -> Rows:
        limit = self.level
        keep = [lv <= limit for lv in rows.level]
        return _apply(rows, keep, self.reporter, self.name, "below_min_level")


class SampleFilter:
    """Keep the entries whose message's CRC-32 is a multiple of ``every``: about 1 in N, and
    the same ones every time the same lines are read (a replay after a restart agrees)."""

    name = "sample"

    def __init__(self, cfg: SampleProcessor, reporter: Reporter) -> None:
        self.every = cfg.every
        self.reporter = reporter

    def __call__(self, rows: Rows) -> Rows:
        every = self.every
        if every == 1:
            return rows
        texts = column(rows, "message")
        keep = [zlib.crc32((t or "").encode("utf-8", "surrogatepass")) % every == 0 for t in texts]
        return _apply(rows, keep, self.reporter, self.name, "sampled_out")


class ThrottleFilter:
    """A token bucket per input: ``rate`` entries/s refill, up to ``burst`` at once. Time is
    the chain's (``Reporter.now``, from the stage's injectable clock)."""

    name = "throttle"

    def __init__(self, cfg: ThrottleProcessor, reporter: Reporter) -> None:
        self.rate = cfg.rate
        self.burst = float(cfg.burst or max(1, int(cfg.rate)))
        self.tokens = self.burst
        self.last: float | None = None
        self.reporter = reporter

    def __call__(self, rows: Rows) -> Rows:
        now = self.reporter.now
        if self.last is not None and now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        n = len(rows)
        allowed = min(n, int(self.tokens))
        self.tokens -= allowed
        if allowed == n:
            return rows
        keep = [True] * allowed + [False] * (n - allowed)
        return _apply(rows, keep, self.reporter, self.name, "throttled")
