"""The lines of one connection → Records, with the listener's shared-secret policy applied.

This module owns what happens between framing and the queue for a local-agent connection:
JSON decoding (``entry.py``), the secret policy of §10 (a wrong secret is always refused; a
missing one is refused unless the listener opts out; the secret never reaches a Record), the
re-joining of a C SDK message split at a newline, and fitting fields into attributes. It
counts every problem in ``counts`` (reason → n) for the caller's metrics and does no I/O.

Policy per listener: a Unix socket checks no secret (its file mode is the access control) and
strips any it finds; a TCP listener compares in constant time against the agent's secret.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from logflux_agent.inputs.socket.entry import (
    Entry,
    decode_lines,
    is_continuation,
    is_head_only,
    map_object,
    raw_entry,
    recover,
    secret_matches,
    usable,
)
from logflux_agent.processing.attributes import fit_attributes
from logflux_agent.record import Record


class Policy(NamedTuple):
    """``secret`` None: no check (Unix socket). ``require``: refuse entries without one."""

    secret: bytes | None = None
    require: bool = True


class LineMapper:
    """One connection's decoder. ``counts`` accumulates problems until the caller takes them."""

    __slots__ = ("_held", "counts", "default_source", "labels", "policy")

    def __init__(self, default_source: str, labels: dict[str, str], policy: Policy) -> None:
        self.default_source = default_source
        self.labels = labels
        self.policy = policy
        self.counts: Counter[str] = Counter()
        # A C SDK head-only line, held until the next line says whether it continues it.
        self._held: tuple[str, Entry] | None = None

    @property
    def held_bytes(self) -> int:
        return len(self._held[0]) if self._held is not None else 0

    def map_lines(self, lines: list[str], now: float) -> list[Record]:
        out: list[Record] = []
        for line, obj in zip(lines, decode_lines(lines), strict=True):
            reason = usable(obj) if obj is not None else "invalid_json"
            if reason is None:
                self._release(out)
                self._emit(map_object(obj, now), out)
            elif obj is None:
                if line.strip():  # an empty line carries nothing: not an entry
                    self._invalid(line, now, out)
            else:
                self._release(out)
                self.counts["parse_error"] += 1
                self._emit(raw_entry(line, reason, now), out)
        return out

    def flush(self, now: float) -> list[Record]:
        """The held line, if any (the connection ended, or the input stops)."""
        del now
        out: list[Record] = []
        self._release(out)
        return out

    def _invalid(self, line: str, now: float, out: list[Record]) -> None:
        if self._held is not None:
            held_line, _ = self._held
            joined = recover(held_line + "\n" + line, now)
            if "recovered" in joined.problems:
                self._held = None
                self.counts["recovered"] += 1
                self._emit(joined, out)
                return
            self._release(out)
        entry = recover(line, now)
        if is_head_only(entry):
            self._held = (line, entry)
            return
        self.counts[
            "recovered"
            if "recovered" in entry.problems
            else "continuation"
            if is_continuation(entry)
            else "parse_error"
        ] += 1
        self._emit(entry, out)

    def _release(self, out: list[Record]) -> None:
        if self._held is not None:
            _, entry = self._held
            self._held = None
            self.counts["truncated"] += 1
            self._emit(entry, out)

    def _emit(self, entry: Entry, out: list[Record]) -> None:
        for problem in entry.problems:
            if problem not in ("recovered", "continuation"):
                self.counts[problem] += 1
        policy = self.policy
        if policy.secret is not None:
            if entry.secret is None:
                if policy.require:
                    self.counts["refused_no_secret"] += 1
                    return
            elif not secret_matches(entry.secret, policy.secret):
                self.counts["refused_wrong_secret"] += 1
                return
        fitted = fit_attributes(entry.fields, self.labels)
        if fitted.dropped:
            self.counts["attributes_dropped"] += fitted.dropped
        if fitted.truncated:
            self.counts["attributes_truncated"] += fitted.truncated
        out.append(
            Record(
                entry.message,
                entry.timestamp,
                entry.level,
                entry.source if entry.source is not None else self.default_source,
                fitted.attributes,
            )
        )
