"""Parsing one syslog message (RFC 5424 or RFC 3164) into its fields: pure functions, no I/O.

This module owns the text → fields step only; framing (UDP datagrams, LF or RFC 6587 octet
counting over TCP) belongs to the syslog input. It backs ``type: syslog`` and is meant to back
a ``syslog`` processor for such lines found inside files, so its API is plain::

    msg = parse_syslog(text, now=time.time())
    msg.format          # "rfc5424" | "rfc3164" | "invalid"
    msg.pri, msg.facility, msg.severity        # None when there was no valid PRI
    msg.timestamp       # Unix seconds (float) or None (NILVALUE, missing or unparseable)
    msg.hostname, msg.app_name, msg.procid, msg.msgid   # None when absent or "-"
    msg.structured_data # ((sd_id, ((name, value), ...)), ...) in message order
    msg.message         # the MSG part (a leading UTF-8 BOM removed); the whole text if invalid
    msg.error           # None, or why the message is not well formed (the caller counts it)
    level_of(msg)       # LogFlux level 1-8 (severity + 1; 6 "notice" when there is no PRI)
    syslog_fields(msg)  # (name, value) pairs for attributes, in a fixed order

Leniency, on purpose: real senders bend both RFCs. RFC 3164 headers without a HOSTNAME (what a
local ``/dev/log`` sender writes) are recognised by the TAG's ``:`` or ``[``; an RFC 3339
timestamp after the PRI of a 3164-style message is accepted; a 5424 message with a bad
timestamp or structured data keeps the fields that did parse and says what was wrong in
``error``. A message without PRI is ``invalid`` and given the RFC 3164 §4.3.3 default
(user.notice); its text is the whole input, so nothing is lost.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Literal, NamedTuple

Format = Literal["rfc5424", "rfc3164", "invalid"]
SdElement = tuple[str, tuple[tuple[str, str], ...]]

FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
DEFAULT_PRI = 13  # user.notice: what RFC 3164 §4.3.3 assigns a message without PRI
MAX_PRI = 191
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}

_PRI_RE = re.compile(r"<(\d{1,3})>")
_5424_RE = re.compile(r"([1-9]\d?) (\S+) (\S+) (\S+) (\S+) (\S+)(?: |$)")
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))"
)
_3164_TS_RE = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?: |$)")
# TAG[PID]: (the colon is what tells a TAG from the first word of the text)
_TAG_RE = re.compile(r"([^\s\[\]:]{1,128})(?:\[([^\]\s]{0,128})\])?: ?")
_SD_NAME_RE = re.compile(r'[^= \]"]{1,32}')


class SyslogMessage(NamedTuple):
    """One parsed message; see the module docstring for the meaning of each field."""

    format: Format
    pri: int | None
    timestamp: float | None
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: tuple[SdElement, ...]
    message: str
    error: str | None = None

    @property
    def facility(self) -> int | None:
        return None if self.pri is None else self.pri >> 3

    @property
    def severity(self) -> int | None:
        return None if self.pri is None else self.pri & 7


def level_of(msg: SyslogMessage) -> int:
    """LogFlux level 1 (emergency) .. 8 (debug): syslog severity + 1 (protocol.md §5)."""
    pri = DEFAULT_PRI if msg.pri is None else msg.pri
    return (pri & 7) + 1


def facility_name(facility: int) -> str:
    return FACILITIES[facility] if 0 <= facility < len(FACILITIES) else str(facility)


def syslog_fields(msg: SyslogMessage) -> list[tuple[str, str]]:
    """The message's fields as attribute (name, value) pairs, header fields first.

    Structured data becomes ``sd.<SD-ID>.<PARAM-NAME>``; a repeated name keeps its last value.
    """
    out: list[tuple[str, str]] = []
    if msg.pri is not None:
        out.append(("facility", facility_name(msg.pri >> 3)))
    for name, value in (
        ("hostname", msg.hostname),
        ("app_name", msg.app_name),
        ("procid", msg.procid),
        ("msgid", msg.msgid),
    ):
        if value is not None:
            out.append((name, value))
    for sd_id, params in msg.structured_data:
        if not params:
            out.append((f"sd.{sd_id}", ""))
        out.extend((f"sd.{sd_id}.{name}", value) for name, value in params)
    return out


def parse_syslog(text: str, *, now: float | None = None) -> SyslogMessage:
    """Parse one message (without its framing: no trailing newline, no octet count).

    ``now`` (Unix seconds, default the current time) picks the year of an RFC 3164 timestamp,
    which has none: the year that puts it closest to ``now``, so a December line read in
    January is last year's.
    """
    text = text.rstrip("\r\n")
    m = _PRI_RE.match(text)
    if m is None or int(m.group(1)) > MAX_PRI or (len(m.group(1)) > 1 and m.group(1)[0] == "0"):
        return _invalid(text, "no valid <PRI> at the start")
    pri = int(m.group(1))
    rest_at = m.end()
    h = _5424_RE.match(text, rest_at)
    if h is not None and _is_5424_timestamp(h.group(2)):
        return _parse_5424(text, pri, h)
    return _parse_3164(text, pri, rest_at, time.time() if now is None else now)


def _invalid(text: str, why: str) -> SyslogMessage:
    return SyslogMessage("invalid", None, None, None, None, None, None, (), text, why)


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _is_5424_timestamp(token: str) -> bool:
    return token == "-" or _RFC3339_RE.fullmatch(token) is not None


def rfc3339_seconds(token: str) -> float | None:
    """Unix seconds of an RFC 3339 timestamp (``Z`` or ``±hh:mm``), or None."""
    m = _RFC3339_RE.fullmatch(token)
    return None if m is None else _rfc3339_from_match(m)


def _rfc3339_from_match(m: re.Match[str]) -> float | None:
    year, month, day, hour, minute, sec = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and sec <= 60):
        return None
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, min(sec, 59), 0, 0, 0))
    except (OverflowError, ValueError):
        return None
    frac = m.group(7)
    value = seconds + (int(frac) / 10 ** len(frac) if frac else 0.0)
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        value -= offset if m.group(9) == "+" else -offset
    return float(value)


def _parse_5424(text: str, pri: int, h: re.Match[str]) -> SyslogMessage:
    errors: list[str] = []
    if h.group(1) != "1":
        errors.append(f"unknown syslog VERSION {h.group(1)}")
    stamp = h.group(2)
    timestamp = None if stamp == "-" else rfc3339_seconds(stamp)
    if stamp != "-" and timestamp is None:
        errors.append(f"bad TIMESTAMP {stamp[:40]!r}")
    sd, at, sd_error = _structured_data(text, h.end())
    if sd_error:
        errors.append(sd_error)
    message = text[at:]
    if message.startswith(" "):
        message = message[1:]
    message = message.removeprefix("\ufeff")
    return SyslogMessage(
        "rfc5424",
        pri,
        timestamp,
        _nil(h.group(3)),
        _nil(h.group(4)),
        _nil(h.group(5)),
        _nil(h.group(6)),
        sd,
        message,
        "; ".join(errors) or None,
    )


def _structured_data(text: str, at: int) -> tuple[tuple[SdElement, ...], int, str | None]:
    """SD-ELEMENTs from ``text[at:]``: (elements, index after them, error or None).

    On an error the elements parsed so far are kept and the rest of the text is the message.
    """
    if text.startswith("-", at):
        return (), at + 1, None
    if not text.startswith("[", at):
        return (), at, "missing STRUCTURED-DATA (expected '-' or '[')" if at < len(text) else None
    elements: list[SdElement] = []
    n = len(text)
    while at < n and text[at] == "[":
        m = _SD_NAME_RE.match(text, at + 1)
        if m is None:
            return tuple(elements), at, "bad SD-ID in structured data"
        sd_id = m.group(0)
        i = m.end()
        params: list[tuple[str, str]] = []
        while i < n and text[i] == " ":
            pm = _SD_NAME_RE.match(text, i + 1)
            if pm is None or not text.startswith('="', pm.end()):
                return tuple(elements), at, f"bad parameter in structured data [{sd_id}]"
            value, i = _sd_value(text, pm.end() + 2)
            if value is None:
                return tuple(elements), at, f"unterminated value in structured data [{sd_id}]"
            params.append((pm.group(0), value))
        if i >= n or text[i] != "]":
            return tuple(elements), at, f"unterminated structured data [{sd_id}]"
        elements.append((sd_id, tuple(params)))
        at = i + 1
    return tuple(elements), at, None


def _sd_value(text: str, i: int) -> tuple[str | None, int]:
    """A PARAM-VALUE from just after its opening quote: (value, index after the closing quote).

    RFC 5424 §6.3.3: ``\\"``, ``\\\\`` and ``\\]`` are escapes; any other backslash is literal.
    """
    parts: list[str] = []
    start = i
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            parts.append(text[start:i])
            return "".join(parts), i + 1
        if ch == "\\" and i + 1 < n and text[i + 1] in '"\\]':
            parts.append(text[start:i])
            start = i + 1
            i += 2
            continue
        i += 1
    return None, n


def _parse_3164(text: str, pri: int, at: int, now: float) -> SyslogMessage:
    timestamp: float | None = None
    errors: list[str] = []
    m = _3164_TS_RE.match(text, at)
    if m is not None:
        timestamp = _bsd_timestamp(m, now)
        if timestamp is None:
            errors.append(f"bad TIMESTAMP {m.group(0).strip()!r}")
        at = m.end()
    else:
        token, _, _ = text[at:].partition(" ")
        iso = _RFC3339_RE.fullmatch(token)
        if iso is not None:
            timestamp = _rfc3339_from_match(iso)
            at += len(token) + 1
        else:
            errors.append("no TIMESTAMP after <PRI>")
    hostname: str | None = None
    if m is not None or timestamp is not None:
        # HOSTNAME, unless the next word is already the TAG (local senders omit HOSTNAME).
        word, sep, _ = text[at:].partition(" ")
        if sep and word and ":" not in word and "[" not in word:
            hostname = word
            at += len(word) + 1
    app_name = procid = None
    t = _TAG_RE.match(text, at)
    if t is not None:
        app_name, procid = t.group(1), t.group(2) or None
        at = t.end()
    message = text[at:]
    return SyslogMessage(
        "rfc3164",
        pri,
        timestamp,
        hostname,
        app_name,
        procid,
        None,
        (),
        message,
        "; ".join(errors) or None,
    )


def _bsd_timestamp(m: re.Match[str], now: float) -> float | None:
    """Local time ``Mmm dd hh:mm:ss`` in the year that puts it nearest to ``now``."""
    month = _MONTHS.get(m.group(1))
    day, hour, minute, sec = int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))
    if month is None or not (1 <= day <= 31 and hour <= 23 and minute <= 59 and sec <= 60):
        return None
    frac = m.group(6)
    year = time.localtime(now).tm_year
    best: float | None = None
    for candidate in (year - 1, year, year + 1):
        try:
            value = time.mktime((candidate, month, day, hour, minute, min(sec, 59), 0, 0, -1))
        except (OverflowError, ValueError):
            continue
        if best is None or abs(value - now) < abs(best - now):
            best = value
    if best is None:
        return None
    return best + (int(frac) / 10 ** len(frac) if frac else 0.0)
