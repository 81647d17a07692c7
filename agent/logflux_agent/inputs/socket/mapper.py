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
from typing import Any, NamedTuple

from logflux_agent.inputs.socket.entry import (
    MAX_TS,
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

_FITTED_CACHE = 256


class Policy(NamedTuple):
    """``secret`` None: no check (Unix socket). ``require``: refuse entries without one."""

    secret: bytes | None = None
    require: bool = True


class LineMapper:
    """One connection's decoder. ``counts`` accumulates problems until the caller takes them."""

    __slots__ = (
        "_fitted",
        "_held",
        "counts",
        "default_source",
        "labels",
        "max_line_bytes",
        "policy",
    )

    def __init__(
        self,
        default_source: str,
        labels: dict[str, str],
        policy: Policy,
        max_line_bytes: int | None = None,
    ) -> None:
        self.max_line_bytes = max_line_bytes
        self.default_source = default_source
        self.labels = labels
        self.policy = policy
        self.counts: Counter[str] = Counter()
        # A C SDK head-only line, held until the next line says whether it continues it.
        self._held: tuple[str, Entry] | None = None
        # Label set (as given) -> its fitted attributes; entries of one client share them.
        self._fitted: dict[tuple[Any, ...], dict[str, str]] = {}

    @property
    def held_bytes(self) -> int:
        return len(self._held[0]) if self._held is not None else 0

    def map_lines(self, lines: list[str], now: float) -> list[Record]:
        out: list[Record] = []
        fast = self._fast
        for line, obj in zip(lines, decode_lines(lines), strict=True):
            if type(obj) is dict:
                rec = fast(obj)
                if rec is not None:
                    self._release(out)
                    out.append(rec)
                    continue
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

    def _fast(self, obj: dict[str, Any]) -> Record | None:
        """The usual entry (what every SDK writes when nothing is wrong) without building an
        Entry, its labels fitted once per distinct label set; None: take the general path,
        which handles (and counts) everything unusual."""
        message = obj.get("message")
        level = obj.get("level")
        ts = obj.get("timestamp")
        if (
            type(message) is not str
            or type(level) is not int
            or not 0 <= level <= 7
            or type(ts) is not int
            or not 0 <= ts <= MAX_TS
            or obj.get("entry_type", 1) != 1
        ):
            return None
        policy = self.policy
        if policy.secret is not None:
            given = obj.get("shared_secret")
            if given is None:
                if policy.require:
                    return None
            elif type(given) is not str or not secret_matches(given, policy.secret):
                return None
        labels = obj.get("labels")
        if labels:
            if type(labels) is not dict:
                return None
            try:
                key: tuple[Any, ...] = tuple(labels.items())
                attrs = self._fitted.get(key)
            except TypeError:  # a list or object value: not hashable
                return None
        else:
            key = ()
            attrs = self._fitted.get(key)
        if attrs is None:
            fitted = fit_attributes(labels or {}, self.labels)
            if fitted.lossy:
                return None
            if len(self._fitted) >= _FITTED_CACHE:
                self._fitted.clear()
            attrs = self._fitted[key] = fitted.attributes
        ident = obj.get("id")
        if ident is not None:
            if type(ident) is not str or len(ident) > 256 or "id" in attrs or len(attrs) >= 20:
                return None
            attrs = {**attrs, "id": ident}
        source = obj.get("source")
        return Record(
            message,
            float(ts),
            level + 1,
            source if type(source) is str else self.default_source,
            attrs,
        )

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
        # A head as long as the line limit is a piece of a split long line, not a message the
        # C SDK cut at its newline: joining it to the next piece would insert a newline.
        limit = self.max_line_bytes
        if is_head_only(entry) and (limit is None or len(line.encode()) < limit):
            self._held = (line, entry)
            return
        if is_head_only(entry):
            self.counts["truncated"] += 1
            self._emit(entry, out)
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
