"""Counting and logging what processors could not do, without flooding the log.

Every processor of one input reports through one ``Reporter``: a problem is counted in
``logflux_agent_parse_errors_total{input,processor,reason}`` (or, for fields that did not fit,
``logflux_agent_attributes_truncated_total{input,reason}``; for multiline entries completed at
a cap, ``logflux_agent_multiline_splits_total{input,reason}``) and logged at most once per
``LOG_INTERVAL`` seconds per (processor, reason), with how many happened since the last line.
The line itself is never logged (it may hold what the operator redacts; ``tap`` shows it).
Reasons come from the fixed vocabulary below, so labels stay bounded.

``tap --explain`` sets ``Reporter.explain`` and feeds the chain one entry at a time
(``one_entry_at_a_time``), so each line it prints is about one entry: what a filter dropped
and what redact replaced in it, printed just before the entry itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from logflux_agent.observe import metrics
from logflux_agent.record import AckToken, Record

log = structlog.get_logger(__name__)

LOG_INTERVAL = 60.0
REASONS = frozenset(
    {
        "invalid_json",  # json/docker: not JSON at all
        "not_object",  # json: valid JSON, but not an object
        "not_logfmt",  # logfmt: no key=value pair
        "no_match",  # regex: the pattern did not match
        "not_cri",  # cri: not "<time> <stream> <P|F> <text>"
        "not_docker",  # docker: JSON without a string "log"
        "bad_timestamp",  # cri/docker/timestamp: the time did not parse
        "timestamp_out_of_range",  # timestamp: more than a year old or in the future
        "unknown_level",  # level: a value no mapping knows
        "partial_timeout",  # cri/docker: a partial line whose end never came in time
        "partial_split",  # cri/docker: a joined line reached max_bytes and was cut
        "not_kubernetes_path",  # kubernetes: the file path has neither known layout
        "redact_failed",  # redact: a line over max_chars, or a rule that raised
        "not_syslog",  # syslog: no valid <PRI> at the start
        "syslog_malformed",  # syslog: a header or structured data partly wrong
    }
)
# Why a filter or redact dropped an entry (logflux_agent_processing_dropped_entries_total).
DROP_REASONS = frozenset(
    {"excluded", "not_included", "below_min_level", "sampled_out", "throttled", "redact_failed"}
)
CUT_REASONS = ("dropped", "value_too_long", "reserved_name")
# Which cap completed a multiline entry early (logflux_agent_multiline_splits_total).
SPLIT_REASONS = frozenset({"max_lines", "max_bytes"})


Emit = Callable[[Sequence[Record]], Awaitable[None]]


def one_entry_at_a_time(emit: Emit) -> Emit:
    """``emit`` called with one record per list (``tap --explain``: per-entry counts)."""

    async def each(records: Sequence[Record]) -> None:
        for record in records:
            await emit([record])

    return each


class Reporter:
    """Counts and rate-limited logs for one input's chain."""

    def __init__(self, input_id: str, *, now: Callable[[], float] = time.monotonic) -> None:
        self.input_id = input_id
        self._now = now
        self._last: dict[tuple[str, str], float] = {}
        self._since: dict[tuple[str, str], int] = {}
        self.counts: dict[tuple[str, str], int] = {}
        # Shared by the processors of one chain (set by chain.py): the chain's monotonic time
        # for this call (throttle), where the hash key of redact lives, the ack tokens of
        # dropped rows waiting for a kept row (rows.Rows.keep), and tap --explain's callback.
        self.now = 0.0
        self.state_dir: str | None = None
        self.carry: dict[int, AckToken] = {}
        self.explain: Callable[[str], None] | None = None
        self._drop_counters: dict[tuple[str, str], Any] = {}
        self._redact_counters: dict[str, Any] = {}
        self._split_counters: dict[str, Any] = {}

    def dropped(self, processor: str, reason: str, count: int) -> None:
        """``count`` entries dropped on purpose (counted; never logged: it was configured)."""
        if count <= 0:
            return
        assert reason in DROP_REASONS, reason
        key = (processor, reason)
        self.counts[key] = self.counts.get(key, 0) + count
        counter = self._drop_counters.get(key)
        if counter is None:
            counter = self._drop_counters[key] = metrics.PROCESSING_DROPPED.labels(
                input=self.input_id, processor=processor, reason=reason
            )
        counter.inc(count)
        if self.explain is not None:
            self.explain(f"{processor}: dropped {count} ({reason})")

    def redacted(self, rule: str, count: int) -> None:
        """``count`` values replaced by ``rule`` (the rule's name only: never the value)."""
        counter = self._redact_counters.get(rule)
        if counter is None:
            counter = self._redact_counters[rule] = metrics.REDACTIONS.labels(
                input=self.input_id, rule=rule
            )
        counter.inc(count)
        key = ("redact", rule)
        self.counts[key] = self.counts.get(key, 0) + count
        if self.explain is not None:
            self.explain(f"redact: replaced {count} x {rule}")

    def problem(self, processor: str, reason: str, count: int = 1) -> None:
        """``count`` lines of ``processor`` hit ``reason``; they are shipped as they were."""
        if count <= 0:
            return
        assert reason in REASONS, reason
        key = (processor, reason)
        self.counts[key] = self.counts.get(key, 0) + count
        metrics.PARSE_ERRORS.labels(input=self.input_id, processor=processor, reason=reason).inc(
            count
        )
        self._maybe_log("processing.problem", key, count)

    def split(self, processor: str, reason: str, count: int) -> None:
        """``count`` entries completed at a cap (``reason``): the next line began a new one."""
        if count <= 0:
            return
        assert reason in SPLIT_REASONS, reason
        key = (processor, reason)
        self.counts[key] = self.counts.get(key, 0) + count
        counter = self._split_counters.get(reason)
        if counter is None:
            counter = self._split_counters[reason] = metrics.MULTILINE_SPLITS.labels(
                input=self.input_id, reason=reason
            )
        counter.inc(count)
        self._maybe_log("processing.multiline_split", key, count)

    def cut(self, dropped: int, truncated: int, reserved: int = 0) -> None:
        """Fields that did not fit the attribute limits (or were renamed off a reserved name)."""
        for reason, n in zip(CUT_REASONS, (dropped, truncated, reserved), strict=True):
            if n:
                key = ("attributes", reason)
                self.counts[key] = self.counts.get(key, 0) + n
                metrics.ATTRIBUTES_TRUNCATED.labels(input=self.input_id, reason=reason).inc(n)
                self._maybe_log("processing.attributes_cut", key, n)

    def _maybe_log(self, event: str, key: tuple[str, str], count: int) -> None:
        self._since[key] = self._since.get(key, 0) + count
        now = self._now()
        last = self._last.get(key)
        if last is not None and now - last < LOG_INTERVAL:
            return
        self._last[key] = now
        fields: dict[str, object] = {
            "input": self.input_id,
            "processor": key[0],
            "reason": key[1],
            "count": self._since.pop(key),
        }
        log.warning(event, **fields)
