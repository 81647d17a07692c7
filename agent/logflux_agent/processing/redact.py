"""``redact``: secrets and personal data replaced in the message and attribute values, before
encryption (docs/processing.md, "redact").

Speed: a read chunk is redacted as one column, in pieces of ``PIECE_CHARS``. A piece's lines
are joined by a separator no detector matches, every gate (processing/detectors.py) tests the
joined text in C and names the few lines its detector can match, and the detector's regex
runs on those lines only; the ``ipv4`` detector, which matches on almost every line of an
access log, replaces in the joined text in two literal-prefix passes (processing/ipv4.py). A
match is replaced by a literal (``subn`` in C) unless it needs a check a regex cannot make
(the Luhn sum, IPv6 syntax), a capture group or a keyed hash: then a callback, on the matches
only — but for hashed addresses that begin a line, which go through the pseudonym cache in
one ``map`` (processing/pseudonyms.py). The detectors run in their configured order, each on
the output of the one before, exactly as if every line were redacted alone (``text``).

Safety: built-in patterns are linear (no nested unbounded repeats); custom rules passed the
same check at load (config/privacy.py) and run line by line, only on lines of at most
``max_chars`` — a longer line, or a rule that raises, is dropped and counted (``on_error:
drop``, the default) or shipped with the attribute ``redaction=incomplete`` (``on_error:
ship``). The replaced text is never logged or counted by value: counters carry the rule name.

``hash`` replaces a value by ``[HASH:<rule>:<16 hex>]``, the first 64 bits of
HMAC-SHA256(key, value): the same value gives the same pseudonym in every entry. The 32-byte
key is ``{state_dir}/redact.key`` (mode 0600), created on first use and never printed
(processing/pseudonyms.py, with the bounded cache of recent pseudonyms).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from logflux_agent.config.privacy import RedactProcessor
from logflux_agent.processing.detectors import (
    BUILTIN,
    EVERY_LINE,
    SEP,
    Chunk,
    Mixed,
    Pattern,
    luhn_ok,
)
from logflux_agent.processing.fields import SharedCache
from logflux_agent.processing.ipv4 import ipv4_elsewhere, ipv4_line_starts, ipv4_mask
from logflux_agent.processing.prefilter import EVERYTHING, possible
from logflux_agent.processing.pseudonyms import KEY_FILE, Pseudonyms, load_key
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Rows, map_shared

__all__ = ["BUILTIN", "KEY_FILE", "RedactStep", "Redactor", "load_key", "luhn_ok"]

# A PEM block written line by line (one entry per line): after a BEGIN … PRIVATE KEY line with
# no END, the next entries of that source are replaced whole until the END line, for at most
# this many lines (a 4096-bit RSA key is ~50), so a stray BEGIN cannot swallow a file.
PEM_MAX_LINES = 200
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_FAILURES = (RecursionError, MemoryError, re.error)
# A column is redacted in pieces of about this many characters: every pass makes a copy of
# its piece (joined, lower-cased, encoded, translated, replaced), and copies under malloc's
# mmap threshold (128 KiB) reuse heap memory, where a 256 KiB read's copies each paid ~65 page
# faults (~0.3 µs per line in all, measured); a piece costs ~20 µs of calls.
PIECE_CHARS = 1 << 16
# The prefilter hints that still hold after a pass of the rule replaced something. A masked or
# hashed IPv4 address cannot make an IPv6 one: its brackets end every run of hex digits, dots
# and colons, and no run inside it holds two colons; a run next to it was one before.
_KEPT = {"ipv4": frozenset({"ipv6"})}


def _secret_group(regex: str) -> str | None:
    return "secret" if "secret" in re.compile(regex).groupindex else None


class _Pass:
    """One compiled pattern: a literal replacement (``subn`` in C) when neither a validator,
    a group nor a hash needs Python per match, else a callback."""

    __slots__ = ("chunkwide", "compiled", "ipv4", "literal", "pattern")

    def __init__(self, pattern: Pattern, literal: str | None, builtin: bool) -> None:
        self.pattern = pattern
        self.compiled = re.compile(pattern.regex)
        self.literal = literal
        # A built-in without a gate runs over the joined chunk (its pattern cannot match the
        # separator); a custom rule runs line by line (its ^, $ or . must see one line).
        self.chunkwide = builtin and pattern.gate is EVERY_LINE
        self.ipv4 = builtin and pattern.rule == "ipv4"  # two passes instead of IPV4 (the same)


class Redactor:
    """The compiled rules of one ``redact`` processor; ``column`` redacts a list of strings,
    ``text`` one string (the same result)."""

    def __init__(self, cfg: RedactProcessor, key: bytes | None) -> None:
        self.key = key
        self.max_chars = cfg.max_chars
        self.counts: dict[str, int] = {}
        self.failed = False
        self.counting = True
        self._pseudonyms: dict[str, Pseudonyms] = {}

        def one(p: Pattern, builtin: bool) -> _Pass:
            simple = key is None and p.secret is None and p.valid is None
            return _Pass(p, f"[REDACTED:{p.rule}]" if simple else None, builtin)

        self.builtin = [one(p, True) for name in cfg.detectors for p in BUILTIN[name]]
        self.custom = [
            one(Pattern(name, regex, secret=_secret_group(regex)), False)
            for name, regex in cfg.custom.items()
        ]

    def replacement(self, rule: str, value: str) -> str:
        if self.key is None:
            return f"[REDACTED:{rule}]"
        return self.pseudonyms(rule)[value]

    def pseudonyms(self, rule: str, prefix: str = "") -> Pseudonyms:
        """The pseudonym cache of ``rule`` (hash mode), values prefixed with ``prefix``."""
        found = self._pseudonyms.get(prefix + rule)
        if found is None:
            assert self.key is not None
            found = self._pseudonyms[prefix + rule] = Pseudonyms(self.key, rule, prefix)
        return found

    def _count(self, rule: str, n: int) -> None:
        if n and self.counting:
            self.counts[rule] = self.counts.get(rule, 0) + n

    def _callback(self, p: Pattern) -> Callable[[re.Match[str]], str]:
        def sub(m: re.Match[str]) -> str:
            whole = m.group(0)
            if p.secret is not None:
                start, end = m.span(p.secret)
                if start < 0:
                    return whole
                value = m.group(p.secret)
            else:
                start, end, value = m.start(), m.end(), whole
            if p.valid is not None and not p.valid(value):
                return whole
            self._count(p.rule, 1)
            base = m.start()
            return whole[: start - base] + self.replacement(p.rule, value) + whole[end - base :]

        return sub

    def _apply(self, ps: _Pass, text: str, elsewhere: bool = True) -> str:
        rule = ps.pattern.rule
        if ps.literal is None:
            return ps.compiled.sub(self._callback(ps.pattern), text)
        if ps.ipv4:
            text, n = ipv4_mask(text, ps.literal, elsewhere)
        else:
            text, n = ps.compiled.subn(ps.literal, text)
        self._count(rule, n)
        return text

    def _builtins(self, chunk: Chunk) -> None:
        if not self.builtin:
            return
        # The hints found in the piece as given (processing/prefilter.py, one scan). A hint
        # not found skips its pattern while its finding still holds: until a pass replaces
        # something that could make it (``_KEPT``); after that every gate runs, as without it.
        found = possible(chunk.joined(), chunk.encoded())
        known = EVERYTHING
        for ps in self.builtin:
            hint = ps.pattern.hint
            maybe = hint is None or hint not in known or hint in found
            version = chunk.version
            if ps.ipv4 and ps.literal is None:
                self._ipv4_hashed(ps, chunk, maybe)
            elif ps.chunkwide:
                chunk.set_joined(self._apply(ps, chunk.joined(), maybe))
            elif maybe:
                todo = ps.pattern.gate.lines(chunk)
                if todo:
                    current = chunk.writable()
                    for i in todo:
                        current[i] = self._apply(ps, current[i])
            if chunk.version != version:
                known = known & _KEPT.get(ps.pattern.rule, frozenset())

    def _ipv4_hashed(self, ps: _Pass, chunk: Chunk, elsewhere: bool) -> None:
        """Hash mode: the addresses that begin a line through the pseudonym cache in one
        C-level map, then the pattern with a callback on the few lines with another
        (``elsewhere``: whether the prefilter found one possible)."""
        text, n = ipv4_line_starts(chunk.joined(), self.pseudonyms("ipv4", SEP))
        self._count("ipv4", n)
        chunk.set_joined(text)
        todo = chunk.line_numbers(text, ipv4_elsewhere(text)) if elsewhere else []
        if todo:
            current = chunk.writable()
            for i in todo:
                current[i] = self._apply(ps, current[i])

    def _customs(self, out: list[str]) -> list[int]:
        failed = []
        for i, t in enumerate(out):
            if len(t) > self.max_chars:
                # Custom rules do not run on over-long lines: their cost stays bounded.
                failed.append(i)
                continue
            try:
                for ps in self.custom:
                    t = self._apply(ps, t)
            except _FAILURES:
                failed.append(i)
            out[i] = t
        return failed

    def column(self, lines: list[str], joined: str | None = None) -> tuple[list[str], list[int]]:
        """``lines`` redacted (a new list) and the indexes of those that could not be done
        completely (over ``max_chars`` with custom rules, or a rule that raised).
        ``joined``: ``SEP.join(lines)`` when the caller has it already."""
        if not lines:
            return [], []
        total = len(joined) if joined is not None else sum(map(len, lines)) + len(lines)
        pieces = -(-total // PIECE_CHARS)
        if pieces <= 1 or len(lines) == 1:
            return self._piece(lines, joined)
        out: list[str] = []
        failed: list[int] = []
        step = -(-len(lines) // pieces)  # by line count: lines of one source are alike
        for start in range(0, len(lines), step):
            done, bad = self._piece(lines[start : start + step], None)
            out += done
            failed += [start + i for i in bad]
        return out, failed

    def _piece(self, lines: list[str], joined: str | None) -> tuple[list[str], list[int]]:
        before = dict(self.counts)
        chunk = Chunk(lines, joined)
        try:
            self._builtins(chunk)
        except (Mixed, *_FAILURES):
            if len(lines) == 1:  # a built-in raised on this line: what was done before stays
                return list(chunk.lines()), [0]
            self.counts = before
            return self._one_by_one(lines)  # to tell which line
        out = chunk.lines()
        if out is lines:
            out = list(lines)
        return out, self._customs(out) if self.custom else []

    def _one_by_one(self, lines: list[str]) -> tuple[list[str], list[int]]:
        out: list[str] = []
        failed: list[int] = []
        for i, t in enumerate(lines):
            done, bad = self.column([t])
            out.append(done[0])
            if bad:
                failed.append(i)
        return out, failed

    def text(self, text: str) -> str:
        """``text`` redacted; sets ``failed`` when it could not be done completely."""
        out, failed = self.column([text])
        if failed:
            self.failed = True
        return out[0]


class RedactStep:
    name = "redact"

    def __init__(self, cfg: RedactProcessor, reporter: Reporter) -> None:
        key = load_key(reporter.state_dir) if cfg.replace == "hash" else None
        self.redactor = Redactor(cfg, key)
        self.ship = cfg.on_error == "ship"
        self.reporter = reporter
        self._shared = SharedCache(self._attrs)
        self.pem = "private_key" in cfg.detectors
        self._in_pem: dict[str, int] = {}  # source → lines replaced so far inside a block

    def _attrs(self, attrs: dict[str, str]) -> dict[str, str]:
        return {k: self.redactor.text(v) for k, v in attrs.items()}

    def __call__(self, rows: Rows) -> Rows:
        if not len(rows):
            return rows
        text = rows.text
        joined = text[0] if len(text) == 1 else SEP.join(text)
        skip = self._pem_rows(rows, joined) if self.pem else set()
        failed: set[int] = set()
        self._texts(rows, skip, joined, failed)
        if rows.message is not None:
            msgs = rows.message
            self._redact(msgs, [i for i, m in enumerate(msgs) if m is not None], skip, failed)
        if rows.fields is not None:
            self._fields(rows.fields, skip, failed)
        r = self.redactor
        r.failed = False
        attrs = rows.attrs
        if attrs.count(attrs[0]) == len(attrs):  # one labels dict (C loop, identity first)
            rows.attrs = [self._shared(attrs[0])] * len(attrs)
        else:
            rows.attrs = map_shared(attrs, self._shared)
        if r.failed:  # a shared attribute value (a label) failed: every row carries it
            failed = set(range(len(rows)))
        for rule, n in r.counts.items():
            self.reporter.redacted(rule, n)
        r.counts.clear()
        return self._failures(rows, sorted(failed))

    def _texts(self, rows: Rows, skip: set[int], joined: str, failed: set[int]) -> None:
        msgs, fields = rows.message, rows.fields
        if msgs is None and fields is None and not skip:
            rows.text, bad = self.redactor.column(rows.text, joined)
            failed.update(bad)
            return
        # A parsed line's text holds the same values as its message and fields: it is
        # redacted too (it ships when fields did not fit) but counted once, from those.
        counted: list[int] = []
        quiet: list[int] = []
        for i in range(len(rows)):
            parsed = (msgs is not None and msgs[i] is not None) or (fields and fields[i])
            (quiet if parsed else counted).append(i)
        self._redact(rows.text, counted, skip, failed)
        self.redactor.counting = False
        try:
            self._redact(rows.text, quiet, skip, failed)
        finally:
            self.redactor.counting = True

    def _redact(self, column: list[Any], rows: list[int], skip: set[int], failed: set[int]) -> None:
        """Redact ``column[i]`` for ``i`` in ``rows`` (not in ``skip``), in one call."""
        if skip:
            rows = [i for i in rows if i not in skip]
        if not rows:
            return
        out, bad = self.redactor.column([column[i] or "" for i in rows])
        for i, value in zip(rows, out, strict=True):
            column[i] = value
        failed.update(rows[b] for b in bad)

    def _fields(
        self, fields: list[dict[str, object] | None], skip: set[int], failed: set[int]
    ) -> None:
        where: list[tuple[int, str, object]] = []
        for i, found in enumerate(fields):
            if found and i not in skip:
                for k, v in found.items():
                    if isinstance(v, str) or (isinstance(v, int) and abs(v) >= 10**12):
                        where.append((i, k, v))  # a big int: maybe a card as a JSON number
        if not where:
            return
        out, bad = self.redactor.column([v if isinstance(v, str) else str(v) for _, _, v in where])
        for (i, k, v), value in zip(where, out, strict=True):
            if isinstance(v, str) or value != str(v):
                found = fields[i]
                assert found is not None
                found[k] = value
        failed.update(where[b][0] for b in bad)

    def _pem_rows(self, rows: Rows, joined: str) -> set[int]:
        """Rows inside a PEM block printed line by line (replaced whole here)."""
        if not self._in_pem and not ("V" in joined and "PRIVATE KEY-----" in joined):
            return set()
        return {i for i, t in enumerate(rows.text) if self._pem_line(rows, i, t)}

    def _pem_line(self, rows: Rows, i: int, t: str) -> bool:
        """Whether row ``i`` is inside a line-by-line PEM block (then replaced whole)."""
        source = rows.source[i]
        inside = self._in_pem.get(source)
        if inside is None:
            if "PRIVATE KEY-----" in t:
                begins = list(_PEM_BEGIN.finditer(t))
                if begins and not _PEM_END.search(t, begins[-1].end()):
                    self._in_pem[source] = 0  # this line itself: the one-pass rule masks it
            return False
        if _PEM_END.search(t) or inside >= PEM_MAX_LINES:
            del self._in_pem[source]
        else:
            self._in_pem[source] = inside + 1
        mask = self.redactor.replacement("private_key", t)
        rows.text[i] = mask
        if rows.message is not None and rows.message[i] is not None:
            rows.message[i] = mask
        if rows.fields is not None and rows.fields[i]:
            rows.fields[i] = {}
        self.reporter.redacted("private_key", 1)
        return True

    def _failures(self, rows: Rows, failed: list[int]) -> Rows:
        if not failed:
            return rows
        self.reporter.problem(self.name, "redact_failed", len(failed))
        if self.ship:
            column = rows.field_column()
            for i in failed:
                column[i] = {**(column[i] or {}), "redaction": "incomplete"}
            return rows
        keep = [True] * len(rows)
        for i in failed:
            keep[i] = False
        self.reporter.dropped(self.name, "redact_failed", len(failed))
        return rows.keep(keep, self.reporter.carry)
