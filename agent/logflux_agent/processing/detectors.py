"""The built-in detectors of ``redact``, and the gates that pick, in one read chunk, the lines
each has to look at (processing/redact.py runs them; docs/processing.md, "redact").

A detector is one or more ``Pattern``: a regex, compiled once, and a ``Gate``. A gate tests
the whole chunk in C — its lines joined by ``SEP``, a character no built-in pattern matches
or runs across (``Chunk``) — and names the lines the regex can match: ``Finder`` tests a
rare anchor character with memchr and, when it is there, scans with a regex whose literal
first character lets the engine jump from one anchor to the next; ``Anchors`` finds the
case-insensitive words (``authorization``, ``bearer``, ``basic``, ``aws_secret``) and the
``lf_`` of keys in one such scan of a translated view of the chunk; ``CardShapes`` maps
digits to ``0`` with ``bytes.translate`` and looks for 13 in a row; ``Colons`` finds ``::``,
or six colons in what is left when every other byte is deleted. The regex then runs on those
lines only. A gate names exactly the lines its one-line test (``alone``) passes.

``ipv4`` is on nearly every line of an access log, so it has no gate: it replaces in the
joined chunk itself (processing/ipv4.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, AnyStr

from logflux_agent.processing.ipv4 import IPV4, SEP

__all__ = ["BUILTIN", "IPV4", "SEP", "Chunk", "Gate", "Mixed", "Pattern", "luhn_ok"]

_BSEP = SEP.encode()


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


def occurrences(text: AnyStr, needle: AnyStr, sep: AnyStr) -> list[int]:
    """Where ``needle`` occurs in a joined chunk, the first place per line (the next search
    starts at the following separator)."""
    out = []
    p = text.find(needle)
    while p >= 0:
        out.append(p)
        q = text.find(sep, p)
        if q < 0:
            break
        p = text.find(needle, q)
    return out


class Mixed(Exception):
    """A line of the chunk holds the separator: line numbers would be wrong."""


class Chunk:
    """The lines being redacted, as a list or joined by ``SEP``, each form made from the
    other only when a pass needs it (a pass that found nothing changes neither)."""

    __slots__ = ("_joined", "_lines", "_memo", "_own", "n", "version")

    def __init__(self, lines: list[str], joined: str | None) -> None:
        self.n = len(lines)
        self._lines: list[str] | None = lines
        self._joined = joined
        self._own = False  # whether _lines is our copy (the caller's list is never changed)
        self._memo: dict[str, Any] = {}  # what gates computed from the text as it is now
        self.version = 0  # counts the changes a pass may have made (prefilter hints go stale)

    def joined(self) -> str:
        if self._joined is None:
            assert self._lines is not None
            self._joined = self._lines[0] if self.n == 1 else SEP.join(self._lines)
        return self._joined

    def lines(self) -> list[str]:
        if self._lines is None:
            assert self._joined is not None
            self._lines = [self._joined] if self.n == 1 else self._joined.split(SEP)
            self._own = True
            if len(self._lines) != self.n:
                raise Mixed
        return self._lines

    def set_joined(self, joined: str) -> None:
        if joined is not self._joined:
            self._joined, self._lines, self._own = joined, None, False
            self._memo.clear()
            self.version += 1

    def writable(self) -> list[str]:
        lines = self.lines()
        if not self._own:
            lines = self._lines = list(lines)
            self._own = True
        self._joined = None
        self._memo.clear()
        self.version += 1
        return lines

    def encoded(self) -> bytes:
        """The joined text as UTF-8 (lone surrogates kept: the bytes are only looked at)."""
        enc = self._memo.get("encoded")
        if enc is None:
            enc = self._memo["encoded"] = self.joined().encode("utf-8", "surrogatepass")
        return enc

    def memo(self, name: str) -> Any:
        return self._memo.get(name)

    def remember(self, name: str, value: Any) -> None:
        self._memo[name] = value

    def line_numbers(self, view: str | bytes, positions: list[int]) -> list[int]:
        if not positions:
            return []
        if self.n == 1:
            return [0]
        sep: str | bytes = SEP if isinstance(view, str) else SEP.encode()
        out: list[int] = []
        line = last = 0
        for p in sorted(positions):
            line += view.count(sep, last, p)  # type: ignore[arg-type]
            last = p
            if not out or out[-1] != line:
                out.append(line)
        if out[-1] >= self.n or view.count(sep) != self.n - 1:  # type: ignore[arg-type]
            raise Mixed
        return out


class Gate:
    """Which lines of a chunk a pattern can match (the base class: all of them)."""

    def lines(self, chunk: Chunk) -> list[int]:
        """Line numbers to run the pattern on, in order."""
        return list(range(len(chunk.lines())))

    def alone(self, text: str) -> bool:
        """The test of one line: ``lines`` names exactly the lines that pass it."""
        return True


class Finder(Gate):
    """Lines where ``regex`` matches. It starts with the literal ``anchor``: the C scanner
    jumps from one to the next, and a chunk without any (a memchr) is not scanned at all."""

    def __init__(self, anchor: str, regex: str) -> None:
        self.anchor = anchor
        self.compiled = re.compile(regex)

    def lines(self, chunk: Chunk) -> list[int]:
        joined = chunk.joined()
        if self.anchor not in joined:
            return []
        return chunk.line_numbers(joined, [m.start() for m in self.compiled.finditer(joined)])

    def alone(self, text: str) -> bool:
        return self.compiled.search(text) is not None


class Anchors(Gate):
    """Lines holding one of the case-insensitive words (``authorization``; ``bearer``,
    ``basic``; ``aws_secret``) or the ``lf_`` of a key. One literal-prefix scan of the anchor
    view finds them all at once: the chunk's bytes with ASCII letters lower-cased and ``b``,
    ``w``, ``z``, ``_`` (rare in logs, one in each word) all turned into ``#``, so the engine
    jumps from one of them to the next and checks the word around it. The characters the
    case-insensitive patterns also take for an ``i`` or an ``s`` (U+0130, U+0131, U+017F) count as
    those letters; no other character lower-cases to one of the words' letters."""

    def __init__(self, *keys: str) -> None:
        self.keys = keys

    def lines(self, chunk: Chunk) -> list[int]:
        found: dict[str, list[int]] | None = chunk.memo("anchors")
        if found is None:
            joined = chunk.joined()
            exotic = "\u0130" in joined or "\u0131" in joined or "\u017f" in joined
            view = _anchor_view(joined) if exotic else chunk.encoded().translate(_ANCHOR_TABLE)
            positions: dict[str, list[int]] = {}
            if b"#" in view:
                for m in _ANCHORS.finditer(view):
                    positions.setdefault(_ANCHOR_KEYS[m.group()], []).append(m.start())
            found = {k: chunk.line_numbers(view, v) for k, v in positions.items()}
            chunk.remember("anchors", found)
        if len(self.keys) == 1:
            return list(found.get(self.keys[0], ()))
        return sorted({i for k in self.keys for i in found.get(k, ())})

    def alone(self, text: str) -> bool:
        found = {_ANCHOR_KEYS[m.group()] for m in _ANCHORS.finditer(_anchor_view(text))}
        return any(k in found for k in self.keys)


def _anchor_view(text: str) -> bytes:
    if "\u0130" in text or "\u0131" in text or "\u017f" in text:  # instant on 1-byte text
        text = text.replace("\u0130", "i").replace("\u0131", "i").replace("\u017f", "s")
    return text.encode("utf-8", "surrogatepass").translate(_ANCHOR_TABLE)


_ANCHOR_TABLE = bytes(
    35 if chr(b) in "bwzBWZ_" else 63 if b == 35 else b + 32 if 65 <= b <= 90 else b
    for b in range(256)
)  # the anchors → '#', '#' itself → '?', A-Z → a-z
# Alternatives by the byte after the '#' (the engine rejects those whose literal does not
# match at once); the match's text tells which it found.
_ANCHORS = re.compile(rb"#(?:earer|a(?:sic|(?<=authori#a)tion)|s(?<=a#s)#?secret|(?<=lf#))")
_ANCHOR_KEYS = {b"#earer": "bearer", b"#asic": "basic", b"#ation": "authorization", b"#": "lf"}
_ANCHOR_KEYS.update({b"#s#secret": "aws_secret", b"#ssecret": "aws_secret"})


# bytes.translate is a C table lookup (str.translate goes through a dict per character).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
# The shapes card numbers are written in: 13-19 digits in one run, or groups of four joined by
# one space or dash (the last group 1-4 digits), or American Express's 4-6-5.
_CARD_SHAPES: tuple[bytes, ...] = (b"0" * 13, b"0000 0000 0000 0", b"0000-0000-0000-0")
_CARD_SHAPES += (b"0000 000000 0000", b"0000-000000-0000")
# The chunk view: digits → 0, spaces and dashes deleted, anything else → x. Each shape above
# is then a run of at least 13 zeros.
_CHUNK_VIEW = bytes(ord("0") if 48 <= b <= 57 else b if b == 0 else ord("x") for b in range(256))


def card_possible(text: str) -> bool:
    """Whether ``text`` holds a card-number shape (the test of one line)."""
    shape = text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)
    return any(s in shape for s in _CARD_SHAPES)


class CardShapes(Gate):
    """Lines holding a card-number shape (``card_possible``)."""

    def lines(self, chunk: Chunk) -> list[int]:
        view = chunk.encoded().translate(_CHUNK_VIEW, b" -")
        near = occurrences(view, b"0" * 13, _BSEP)
        if not near:
            return []
        current = chunk.lines()
        return [i for i in chunk.line_numbers(view, near) if card_possible(current[i])]

    def alone(self, text: str) -> bool:
        return card_possible(text)


_TWO = re.compile("::")  # a literal prefix: the scanner jumps from colon to colon
# Every byte but the colon and the separator: what is left of a line is its colons.
_NOT_COLON = bytes(b for b in range(256) if b not in (0, 58))


def colons_possible(text: str) -> bool:
    """Whether ``text`` can hold an IPv6 address (the test of one line): ``::``, or the six
    colons of the full form (seven, or six before an IPv4 tail)."""
    return "::" in text or text.count(":") >= 6


class Colons(Gate):
    """Lines passing ``colons_possible``: ``::`` found by a literal-prefix scan, six colons in
    the chunk's colons alone (every other byte deleted: a few bytes per line)."""

    def lines(self, chunk: Chunk) -> list[int]:
        joined = chunk.joined()
        if ":" not in joined:
            return []
        found = set(chunk.line_numbers(joined, [m.start() for m in _TWO.finditer(joined)]))
        view = chunk.encoded().translate(None, _NOT_COLON)
        found.update(chunk.line_numbers(view, occurrences(view, b"::::::", _BSEP)))
        return sorted(found)

    def alone(self, text: str) -> bool:
        return colons_possible(text)


EVERY_LINE = Gate()


@dataclass(frozen=True, slots=True)
class Pattern:
    """One regex of a rule; ``secret``: the group to replace (None: the whole match);
    ``hint``: the processing/prefilter.py expression found wherever it can match."""

    rule: str
    regex: str
    gate: Gate = EVERY_LINE
    secret: str | None = None
    valid: Callable[[str], bool] | None = None
    hint: str | None = None


_B64 = r"[A-Za-z0-9+/]"


_AUTH_VALUE = r"(?P<secret>[A-Za-z0-9\-._~+/]+=*)"
BUILTIN: dict[str, tuple[Pattern, ...]] = {
    # protocol.md §1: {region}-lf_{body}, lf_{body}, and the PAT forms lf_usr_… of both.
    "logflux_key": (
        Pattern(
            "logflux_key",
            r"(?<![A-Za-z0-9_])(?:(?:eu|us|ca|au|ap)-)?lf_[A-Za-z0-9_\-.+/=]+",
            Anchors("lf"),
            hint="lf",
        ),
    ),
    "authorization": (
        Pattern(
            "authorization",
            r"(?i:\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            rf"(?:(?:bearer|basic|token|digest)\s+)?){_AUTH_VALUE}",
            Anchors("authorization"),
            "secret",
            hint="authorization",
        ),
        Pattern(
            "authorization",
            # A bare "Bearer <token>": the token has a digit or a symbol (not a word).
            r"(?i:\b(?:bearer|basic)\s+)(?=[A-Za-z]*[0-9\-._~+/=])"
            r"(?P<secret>[A-Za-z0-9\-._~+/]{12,}=*)",
            Anchors("bearer", "basic"),
            "secret",
            hint="bearer",
        ),
    ),
    "jwt": (
        Pattern(
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            Finder("J", r"J(?<=eyJ)"),
            hint="jwt",
        ),
    ),
    "aws_access_key": (
        Pattern(
            "aws_access_key",
            r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])",
            Finder("A", r"A(?=KIA|SIA|BIA|CCA)"),
            hint="aws_access",
        ),
    ),
    "aws_secret_key": (
        Pattern(
            "aws_secret_key",
            r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?"
            rf"(?P<secret>{_B64}{{40}})(?![A-Za-z0-9+/=])",
            Anchors("aws_secret"),
            "secret",
            hint="aws_secret",
        ),
    ),
    "private_key": (
        Pattern(
            "private_key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
            r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[\s\S]*)",
            Finder("V", r"V(?<=PRIV)(?=ATE KEY-----)"),
            hint="pem",
        ),
    ),
    "card": (
        Pattern(
            "card",
            r"(?<![0-9])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])(?![ -][0-9])",
            CardShapes(),
            valid=_card,
            hint="card",
        ),
    ),
    "email": (
        Pattern(
            "email",
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
            r"\.[A-Za-z]{2,}(?![A-Za-z0-9-])",
            Finder("@", "@"),
            hint="email",
        ),
    ),
    "ipv4": (Pattern("ipv4", IPV4, hint="ipv4_elsewhere"),),
    "ipv6": (
        Pattern(
            "ipv6",
            r"(?<![A-Za-z0-9:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)[0-9A-Fa-f:.]{2,45}"
            r"(?![A-Za-z0-9:])",
            Colons(),
            valid=_ipv6,
            hint="ipv6",
        ),
    ),
}
