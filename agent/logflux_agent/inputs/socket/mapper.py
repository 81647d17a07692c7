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
from typing import Any

from logflux_agent.inputs.socket.columns import FittedLabels, Policy, map_columns
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
    usable_id,
)
from logflux_agent.inputs.socket.rids import RecordIds
from logflux_agent.inputs.socket.sdkline import map_sdk_text, sdk_text
from logflux_agent.packed import Entries
from logflux_agent.processing.attributes import fit_attributes
from logflux_agent.record import Record

__all__ = ["FittedLabels", "LineMapper", "Policy"]

# After a chunk the regular expression did not take, the next chunks of the connection skip
# it: a client whose lines never match (another key order, levels outside 0-7, ...) then pays
# for a failed match only once every 16 chunks, not on every chunk.
SDK_RETRY_CHUNKS = 16


class LineMapper:
    """One connection's decoder. ``counts`` accumulates problems until the caller takes them.

    A chunk of lines exactly as the SDKs write them is mapped by one regular expression
    (``sdkline.py``), else a chunk of usual entries column-wise (``columns.py``), both giving a
    packed ``Entries``, else line by line: ``_fast`` for each usual entry, the general path
    (``entry.py``) for the rest. Every record
        gets a record id: the SDK's ``id``, else one from ``rids`` (``rids.py``).
    """

    __slots__ = (
        "_held",
        "_sdk_skip",
        "counts",
        "default_source",
        "labels",
        "max_line_bytes",
        "policy",
        "rids",
    )

    def __init__(
        self,
        default_source: str,
        labels: FittedLabels,
        policy: Policy,
        rids: RecordIds,
        max_line_bytes: int | None = None,
    ) -> None:
        self.max_line_bytes = max_line_bytes
        self.default_source = default_source
        self.labels = labels
        self.policy = policy
        self.rids = rids
        self.counts: Counter[str] = Counter()
        # A C SDK head-only line, held until the next line says whether it continues it.
        self._held: tuple[str, Entry] | None = None
        self._sdk_skip = 0

    @property
    def held_bytes(self) -> int:
        return len(self._held[0]) if self._held is not None else 0

    def map_lines(self, lines: list[str], now: float) -> list[Record] | Entries:
        """The chunk's entries: packed (``Entries``) when the regex or the column path took
        it, else a record list."""
        if self._held is None:
            packed = self._by_regex(lines)
            if packed is not None:
                return packed
        objs = decode_lines(lines)
        if self._held is None:
            packed = map_columns(objs, self.labels, self.policy, self.default_source, self.rids)
            if packed is not None:
                return packed
        out: list[Record] = []
        fast = self._fast
        for line, obj in zip(lines, objs, strict=True):
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

    def _by_regex(self, lines: list[str]) -> Entries | None:
        text = sdk_text(lines)
        if text is None:
            return None
        if self._sdk_skip:
            self._sdk_skip -= 1
            return None
        records = map_sdk_text(text, len(lines), self.labels, self.policy, self.rids)
        if records is None:
            self._sdk_skip = SDK_RETRY_CHUNKS
        return records

    def _fast(self, obj: dict[str, Any]) -> Record | None:
        """A usual entry without building an Entry; None: take the general path, which
        handles (and counts) everything unusual."""
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
            or not self._secret_ok(obj.get("shared_secret"))
        ):
            return None
        attrs = self._attributes(obj.get("labels"))
        ident = obj.get("id")
        if attrs is None or not (ident is None or usable_id(ident)):
            return None
        source = obj.get("source")
        if type(source) is not str:
            source = self.default_source
        return Record(message, float(ts), level + 1, source, attrs, None, self.rids.one(ident))

    def _secret_ok(self, given: Any) -> bool:
        secret = self.policy.secret
        if secret is None:
            return True
        if given is None:
            return not self.policy.require
        return type(given) is str and secret_matches(given, secret)

    def _attributes(self, labels: Any) -> dict[str, str] | None:
        """The shared attribute dict of plain ``labels``; None when they are unusual."""
        if not labels:  # absent, {} or PHP's []
            return self.labels.get(())
        if type(labels) is not dict:
            return None
        try:
            return self.labels.get(tuple(labels.items()))
        except TypeError:  # a list or object value: not hashable
            return None

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
        fitted = fit_attributes(entry.fields, self.labels.base)
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
                None,
                self.rids.one(entry.ident),
            )
        )
