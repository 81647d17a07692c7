"""``redact``: secrets and personal data replaced in the message and attribute values, before
encryption (docs/processing.md, "redact").

Speed: every pattern is compiled once. Per line, cheap triggers (``"lf_" in text``, ``"@" in
text``, at least 13 digits for a card, ``::`` or 7 colons for IPv6 …) pick the detectors that
can match at all; each of those is one ``subn`` with a literal replacement, run in C, or — when
a match needs a check a regex cannot make (the Luhn sum, IPv6 syntax), a capture group or a
keyed hash — a callback. A line with no trigger costs the triggers only. (One alternation of
every detector was tried first: each match called back into Python, and on access-log lines
it cost more than these passes.)

Safety: built-in patterns are linear (no nested unbounded repeats); custom rules passed the
same check at load (config/privacy.py) and run only on lines of at most ``max_chars`` — a
longer line, or a rule that raises, is dropped and counted (``on_error: drop``, the default)
or shipped with the attribute ``redaction=incomplete`` (``on_error: ship``). The replaced text
is never logged or counted by value: counters carry the rule name only.

``hash`` replaces a value by ``[HASH:<rule>:<16 hex>]``, the first 64 bits of
HMAC-SHA256(key, value): the same value gives the same pseudonym in every entry. The 32-byte
key is ``{state_dir}/redact.key`` (mode 0600), created on first use and never printed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from logflux_agent.config.privacy import RedactProcessor
from logflux_agent.processing.fields import SharedCache
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Rows, map_shared

KEY_FILE = "redact.key"
# A PEM block written line by line (one entry per line): after a BEGIN … PRIVATE KEY line with
# no END, the next entries of that source are replaced whole until the END line, for at most
# this many lines (a 4096-bit RSA key is ~50), so a stray BEGIN cannot swallow a file.
PEM_MAX_LINES = 200
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a string of digits (card numbers end in their check digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(value: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _secret_group(regex: str) -> str | None:
    return "secret" if "secret" in re.compile(regex).groupindex else None


@dataclass(frozen=True, slots=True)
class Pattern:
    """One regex of a rule; ``secret``: the group to replace (None: the whole match)."""

    rule: str
    regex: str
    triggers: tuple[str, ...] = ()  # any of these substrings must occur ("": always)
    secret: str | None = None
    valid: Callable[[str], bool] | None = None


_IP4 = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_B64 = r"[A-Za-z0-9+/]"
BUILTIN: dict[str, tuple[Pattern, ...]] = {
    # protocol.md §1: {region}-lf_{body}, lf_{body}, and the PAT forms lf_usr_… of both.
    "logflux_key": (
        Pattern(
            "logflux_key",
            r"(?<![A-Za-z0-9_])(?:(?:eu|us|ca|au|ap)-)?lf_[A-Za-z0-9_\-.+/=]+",
            ("lf_",),
        ),
    ),
    "authorization": (
        Pattern(
            "authorization",
            r"(?i:\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?:bearer|basic|token|digest)\s+)?)(?P<secret>[A-Za-z0-9\-._~+/]+=*)",
            ("uthorization", "UTHORIZATION"),
            "secret",
        ),
        Pattern(
            "authorization",
            # A bare "Bearer <token>": the token has a digit or a symbol (not a word).
            r"(?i:\b(?:bearer|basic)\s+)(?=[A-Za-z]*[0-9\-._~+/=])"
            r"(?P<secret>[A-Za-z0-9\-._~+/]{12,}=*)",
            ("earer", "EARER", "asic", "ASIC"),
            "secret",
        ),
    ),
    "jwt": (
        Pattern("jwt", r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", ("eyJ",)),
    ),
    "aws_access_key": (
        Pattern(
            "aws_access_key",
            r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])",
            ("AKIA", "ASIA", "ABIA", "ACCA"),
        ),
    ),
    "aws_secret_key": (
        Pattern(
            "aws_secret_key",
            r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?"
            rf"(?P<secret>{_B64}{{40}})(?![A-Za-z0-9+/=])",
            ("ecret", "ECRET"),
            "secret",
        ),
    ),
    "private_key": (
        Pattern(
            "private_key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
            r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[\s\S]*)",
            ("PRIVATE KEY",),
        ),
    ),
    "card": (
        Pattern(
            "card",
            r"(?<![0-9])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])(?![ -][0-9])",
            ("",),
            valid=_card,
        ),
    ),
    "email": (
        Pattern(
            "email",
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
            r"\.[A-Za-z]{2,}(?![A-Za-z0-9-])",
            ("@",),
        ),
    ),
    "ipv4": (
        Pattern(
            # A digit first, its lookbehind after it: the engine then scans for a digit in C
            # instead of trying the lookbehind at every position (2-3x faster). The first
            # octet is 1-3 digits (999.1.1.1 is masked too: over-redaction, harmless).
            "ipv4",
            rf"[0-9](?<![0-9.][0-9])[0-9]{{0,2}}\.(?:{_IP4}\.){{2}}{_IP4}(?![0-9]|\.[0-9])",
            (".",),
        ),
    ),
    "ipv6": (
        Pattern(
            "ipv6",
            r"(?<![A-Za-z0-9:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)[0-9A-Fa-f:.]{2,45}"
            r"(?![A-Za-z0-9:])",
            (":",),
            valid=_ipv6,
        ),
    ),
}


def load_key(state_dir: str | None) -> bytes:
    """The local HMAC key (created with mode 0600 on first use; never shown)."""
    if state_dir is None:  # tap without a state_dir, tests: a key for this process only
        return os.urandom(32)
    path = Path(state_dir) / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
# The shapes card numbers are written in: 13-19 digits in one run, or groups of four joined by
# one space or dash (the last group 1-4 digits), or American Express's 4-6-5.
_CARD_SHAPES: tuple[bytes, ...] = (b"0" * 13, b"0000 0000 0000 0", b"0000-0000-0000-0")
_CARD_SHAPES += (b"0000 000000 0000", b"0000-000000-0000")


def _card_possible(text: str) -> bool:
    # bytes.translate is a C table lookup (str.translate goes through a dict per character).
    shape = text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)
    return any(s in shape for s in _CARD_SHAPES)


def _ipv6_possible(text: str) -> bool:
    return "::" in text or text.count(":") >= 7  # either form of an address has one of these


# Triggers a substring test cannot express (otherwise: any of Pattern.triggers occurs).
_SPECIAL_TRIGGERS: dict[str, Callable[[str], bool]] = {
    "card": _card_possible,
    "ipv6": _ipv6_possible,
}


class _Pass:
    """One compiled pattern: its trigger, and a string replacement (applied in C by
    ``subn``) when neither a validator nor a group nor a hash needs Python per match."""

    __slots__ = ("compiled", "literal", "pattern", "special", "triggers")

    def __init__(self, pattern: Pattern, literal: str | None) -> None:
        self.pattern = pattern
        self.compiled = re.compile(pattern.regex)
        self.literal = literal
        self.special = _SPECIAL_TRIGGERS.get(pattern.rule) if pattern.rule in BUILTIN else None
        self.triggers = tuple(t for t in pattern.triggers if t)


class Redactor:
    """The compiled rules of one ``redact`` processor; ``text`` redacts one string.

    One pass per rule whose trigger the text has (the line-rate cost is the triggers; an
    access-log line runs two or three passes), each pass one ``subn`` in C unless matches need
    a check in Python (Luhn, IPv6 syntax), a capture group or a keyed hash.
    """

    def __init__(self, cfg: RedactProcessor, key: bytes | None) -> None:
        builtin = [p for name in cfg.detectors for p in BUILTIN[name]]
        custom = [
            Pattern(name, regex, ("",), _secret_group(regex)) for name, regex in cfg.custom.items()
        ]
        self.key = key
        self.max_chars = cfg.max_chars
        self.counts: dict[str, int] = {}
        self.failed = False
        self.counting = True

        def one(p: Pattern) -> _Pass:
            simple = key is None and p.secret is None and p.valid is None
            return _Pass(p, f"[REDACTED:{p.rule}]" if simple else None)

        self.builtin = [one(p) for p in builtin]
        self.custom = [one(p) for p in custom]

    def replacement(self, rule: str, value: str) -> str:
        if self.key is None:
            return f"[REDACTED:{rule}]"
        digest = hmac.new(self.key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"[HASH:{rule}:{digest.hexdigest()[:16]}]"

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
            if self.counting:
                self.counts[p.rule] = self.counts.get(p.rule, 0) + 1
            base = m.start()
            return whole[: start - base] + self.replacement(p.rule, value) + whole[end - base :]

        return sub

    def _run(self, passes: list[_Pass], text: str) -> str:
        for ps in passes:
            special = ps.special
            if special is not None:
                if not special(text):
                    continue
            elif ps.triggers:
                for t in ps.triggers:
                    if t in text:
                        break
                else:
                    continue
            if ps.literal is not None:
                text, n = ps.compiled.subn(ps.literal, text)
                if n and self.counting:
                    rule = ps.pattern.rule
                    self.counts[rule] = self.counts.get(rule, 0) + n
            else:
                text = ps.compiled.sub(self._callback(ps.pattern), text)
        return text

    def text(self, text: str) -> str:
        """``text`` redacted; sets ``failed`` when it could not be done completely (an
        over-long line gets the built-in detectors only; a rule that raised: nothing)."""
        try:
            text = self._run(self.builtin, text)
            if self.custom:
                if len(text) > self.max_chars:
                    # Custom rules do not run on over-long lines: their cost stays bounded.
                    self.failed = True
                else:
                    text = self._run(self.custom, text)
        except (RecursionError, MemoryError, re.error):
            self.failed = True
        return text


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
        r = self.redactor
        red = r.text
        failed: list[int] = []
        text, msgs, fields = rows.text, rows.message, rows.fields
        for i, t in enumerate(text):
            if self.pem and self._pem_line(rows, i, t):
                continue
            r.failed = False
            m = msgs[i] if msgs is not None else None
            # A parsed line's text holds the same values as its message and fields: it is
            # redacted too (it ships when fields did not fit) but counted once, from those.
            r.counting = m is None and not (fields is not None and fields[i])
            text[i] = red(t)
            r.counting = True
            if m is not None:
                msgs[i] = red(m)  # type: ignore[index]
            found = fields[i] if fields is not None else None
            if found:
                for k, v in found.items():
                    if isinstance(v, str):
                        found[k] = red(v)
                    elif isinstance(v, int) and abs(v) >= 10**12:  # a card as a JSON number
                        out = red(str(v))
                        if out != str(v):
                            found[k] = out
            if r.failed:
                failed.append(i)
        r.failed = False
        rows.attrs = map_shared(rows.attrs, self._shared)
        if r.failed:  # a shared attribute value (a label) failed: every row carries it
            failed = list(range(len(rows)))
        counts = r.counts
        for rule, n in counts.items():
            self.reporter.redacted(rule, n)
        counts.clear()
        return self._failures(rows, failed)

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
