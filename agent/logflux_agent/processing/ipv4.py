"""The ``ipv4`` detector's passes over a joined chunk (processing/detectors.py: ``SEP``).

``ipv4`` is on nearly every line of an access log, so it has no gate: it replaces in the
joined chunk with literal-prefix passes — the engine jumps to a line start or a ``.`` instead
of trying the pattern at every digit (~50 ns each). ``ipv4_mask`` replaces with one literal;
hash mode uses ``ipv4_line_starts`` (a split and one ``map`` over the pseudonym cache) and
``ipv4_elsewhere`` (the lines with another address). Each finds exactly what ``IPV4`` finds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SEP = "\x00"  # joins a chunk's lines: no built-in pattern matches it or runs across it
_MARK = "\x01"  # a placeholder ipv4_mask leaves between its two passes

_IP4 = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# The last three octets, written out (a counted group costs the engine a repeat frame per
# match, ~10 % of the pass).
_TAIL = rf"{_IP4}\.{_IP4}\.{_IP4}(?![0-9]|\.[0-9])"
# A digit first, its lookbehind after it: the engine then scans for a digit instead of trying
# the lookbehind at every position. The first octet is 1-3 digits (999.1.1.1 is masked too:
# over-redaction, harmless). ipv4_mask finds exactly what this finds.
IPV4 = rf"[0-9](?<![0-9.][0-9])[0-9]{{0,2}}\.{_TAIL}"
# Pass 1a, addresses that begin a line (access logs): the separator is the literal prefix.
_AT_LINE_START = re.compile(rf"{SEP}[0-9]{{1,3}}\.{_TAIL}")
# Pass 1b, the others: from the first dot, the first octet checked behind it (1-3 digits, not
# after a digit or a dot); the octet itself is left in front of a placeholder ...
_FROM_FIRST_DOT = re.compile(
    r"\.(?=[0-9]{1,3}\.[0-9])(?<=[0-9]\.)(?<![0-9]{4}\.)(?<!\.[0-9]\.)(?<!\.[0-9]{2}\.)"
    rf"(?<!\.[0-9]{{3}}\.){_TAIL}"
)
# ... and pass 2 removes it: placeholder + octet, in the reversed text (a literal prefix again).
_OCTET_BEFORE_MARK = re.compile(rf"{_MARK}[0-9]{{1,3}}")


_AT_LINE_START_GROUP = re.compile(rf"{SEP}([0-9]{{1,3}}\.{_TAIL})")


def ipv4_line_starts(text: str, replace: Mapping[str, str]) -> tuple[str, int]:
    """The addresses that begin a line of ``text`` replaced by ``replace[address]`` (values
    start with ``SEP``), and how many: one split in C, one ``map`` over the mapping."""
    if "." not in text:
        return text, 0
    parts = _AT_LINE_START_GROUP.split(SEP + text)
    if len(parts) == 1:
        return text, 0
    parts[1::2] = map(replace.__getitem__, parts[1::2])
    return "".join(parts)[1:], len(parts) // 2


def ipv4_elsewhere(text: str) -> list[int]:
    """Where, after ``ipv4_line_starts``, ``IPV4`` can still match: the first dot of each."""
    return [m.start() for m in _FROM_FIRST_DOT.finditer(text)] if "." in text else []


def ipv4_mask(text: str, mask: str, elsewhere: bool = True) -> tuple[str, int]:
    """Every address ``IPV4`` finds in ``text`` replaced by ``mask``, and how many.
    ``elsewhere=False``: the caller knows every address begins a line (pass 1b is skipped)."""
    if "." not in text:
        return text, 0
    if _MARK in text or _MARK in mask or "\\" in mask:
        return re.subn(IPV4, mask, text)
    # A separator in front: an address at the very start is one at a line start too.
    work, first = _AT_LINE_START.subn(SEP + mask, SEP + text)
    if not elsewhere:
        return (work[1:], first) if first else (text, 0)
    work, rest = _FROM_FIRST_DOT.subn(_MARK, work)
    if rest:
        work = _OCTET_BEFORE_MARK.sub(mask[::-1], work[::-1])[::-1]
    return (work[1:], first + rest) if first or rest else (text, 0)
