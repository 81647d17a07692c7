"""The one scan that tells, for a whole piece of a read chunk, which built-in detectors can
match in it at all (processing/redact.py then skips the gates and passes of the others).

Each detector pattern names a *hint* (``Pattern.hint``, processing/detectors.py): an expression
here that matches wherever that pattern could replace something — a superset: the literal
its regex cannot match without (``lf_``, ``eyJ``, ``@``, …), the 13 digits of a card, the
``::`` or six colons of an IPv6 address, an IPv4 address not at a line start. All of them run
in one pass of RE2's set matcher over the piece's bytes (Latin-1: one character per byte, so a
lone surrogate or any other byte is still a character; ~0.3 µs per 132-byte line for all,
where the gates they replace cost ~1 µs on access logs). It is only a shortcut: a hint not
found means that detector's gate would have named no line, so the result is the same.

RE2 comes from the ``google-re2`` package (a wheel for x86_64 and aarch64 Linux). Without it,
or if its scan fails, every hint counts as found and every gate runs, as before. A failed scan
is told by a sentinel expression that matches every text: RE2's set matcher answers "nothing"
when its automaton runs out of memory, which must not read as "no secret here". Memory: one
matcher per agent process, built on the first scan (none without a ``redact`` step), its
automaton's cache within RE2's budget (``_MAX_MEM``).
"""

from __future__ import annotations

import importlib
from typing import Any

# Hint → expression. Case-insensitive where the detector's regex is (ASCII folding only: the
# three characters Python's folding adds to these words are handled in ``possible``).
EXPRESSIONS: dict[str, str] = {
    "lf": r"lf_",
    "authorization": r"(?i)authorization",
    "bearer": r"(?i)bearer|basic",
    "aws_secret": r"(?i)aws_?secret",
    "jwt": r"eyJ",
    "aws_access": r"A(?:KIA|SIA|BIA|CCA)",
    "pem": r"PRIVATE KEY-----",
    # 13 digits, each after at most one space or dash (the card regex's shortest match).
    "card": r"[0-9](?:[ \-]?[0-9]){12}",
    "email": r"@",
    # An IPv4 address not at a line start: after a character that is not a digit, a dot (the
    # pattern's lookbehind) or the separator (a line start: processing/ipv4.py's first pass).
    "ipv4_elsewhere": r"[^0-9.\x00][0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]",
    # A valid IPv6 address holds "::" or, in full form, six colons (seven, or six before an
    # IPv4 tail) with only hex digits and dots between them.
    "ipv6": "::|:" + r"[0-9A-Fa-f.]*:" * 5,
}
EVERYTHING = frozenset(EXPRESSIONS)
_NAMES = tuple(EXPRESSIONS)
_SENTINEL = len(_NAMES)  # the index of the expression that matches every text
_MAX_MEM = 8 << 20  # bytes (RE2's default); the cache is reset when full
# Python's case-insensitive matching also takes U+0130/U+0131 for an "i" and U+017F for an
# "s" (processing/detectors.py, ``Anchors``): in a piece holding one, these count as found.
_FOLDED = frozenset({"authorization", "bearer", "aws_secret"})
_EXOTIC = ("\u0130", "\u0131", "\u017f")


def _compile() -> Any:
    try:
        re2 = importlib.import_module("re2")
    except ImportError:
        return None
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.never_capture = True
    options.max_mem = _MAX_MEM
    matcher = re2.Set.SearchSet(options)
    for expression in (*EXPRESSIONS.values(), r"\A"):
        matcher.Add(expression)
    matcher.Compile()
    return matcher


# Compiled on first use: RE2 and its automaton are ~4.6 MiB of RSS, which an agent that
# redacts nothing (most) must not pay; ``_UNSET`` until then (tests may set None: "no RE2").
_UNSET: Any = object()
_MATCHER: Any = _UNSET


def _matcher() -> Any:
    global _MATCHER  # one lazily built matcher per process
    if _MATCHER is _UNSET:
        _MATCHER = _compile()
    return _MATCHER


def available() -> bool:
    """Whether the scan runs (RE2 is installed), or every hint counts as found."""
    return _matcher() is not None


def possible(joined: str, encoded: bytes) -> frozenset[str]:
    """The hints found in a piece: ``joined``, its lines joined, and ``encoded``, its UTF-8
    bytes (lone surrogates kept)."""
    matcher = _matcher()
    if matcher is None:
        return EVERYTHING
    try:
        hits = matcher.Match(encoded)
    except Exception:  # any failure of the scan: every gate runs, as without it
        return EVERYTHING
    if _SENTINEL not in hits:  # the scan did not complete (out of memory)
        return EVERYTHING
    found = frozenset(_NAMES[i] for i in hits if i != _SENTINEL)
    if not joined.isascii() and any(c in joined for c in _EXOTIC):
        found |= _FOLDED
    return found
