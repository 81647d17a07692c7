"""processing/syslog.py: RFC 5424 and RFC 3164 text → fields (the RFCs' own examples first)."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from logflux_agent.processing.syslog import (
    level_of,
    parse_syslog,
    rfc3339_seconds,
    syslog_fields,
)

NOW = 1_796_113_234.0  # 2026-12-01


def test_rfc5424_example_1_with_bom_and_nil_procid() -> None:
    msg = parse_syslog(
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        "\ufeff'su root' failed for lonvick on /dev/pts/8"
    )
    assert msg.format == "rfc5424" and msg.error is None
    assert (msg.facility, msg.severity, level_of(msg)) == (4, 2, 3)
    assert msg.timestamp == 1065910455.003
    assert (msg.hostname, msg.app_name, msg.procid, msg.msgid) == (
        "mymachine.example.com",
        "su",
        None,
        "ID47",
    )
    assert msg.message == "'su root' failed for lonvick on /dev/pts/8"


def test_rfc5424_offset_timestamp_and_microseconds() -> None:
    msg = parse_syslog(
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% Its time"
    )
    assert msg.timestamp is not None
    assert abs(msg.timestamp - (1061727255.000003)) < 1e-6
    assert msg.procid == "8710" and msg.message == "%% Its time"


def test_rfc5424_structured_data_with_escapes_becomes_attributes() -> None:
    msg = parse_syslog(
        '<165>1 2003-10-11T22:14:15.003Z host app - ID47 [exampleSDID@32473 iut="3" '
        'eventSource="App"][x@1 q="a\\"b\\]c\\\\d"] the message'
    )
    assert msg.structured_data == (
        ("exampleSDID@32473", (("iut", "3"), ("eventSource", "App"))),
        ("x@1", (("q", 'a"b]c\\d'),)),
    )
    assert msg.message == "the message"
    fields = dict(syslog_fields(msg))
    assert fields["sd.exampleSDID@32473.iut"] == "3"
    assert fields["sd.x@1.q"] == 'a"b]c\\d'
    assert fields["facility"] == "local4" and fields["msgid"] == "ID47"


def test_rfc5424_all_nil_and_no_message() -> None:
    msg = parse_syslog("<13>1 - - - - - -")
    assert msg.format == "rfc5424" and msg.error is None
    assert msg.timestamp is None and msg.message == ""
    assert syslog_fields(msg) == [("facility", "user")]


def test_rfc5424_broken_structured_data_keeps_the_text_and_says_why() -> None:
    msg = parse_syslog('<13>1 2026-11-30T10:00:02Z h a - - [id k="unterminated rest')
    assert msg.format == "rfc5424" and msg.error is not None
    assert "structured data" in msg.error
    assert 'k="unterminated rest' in msg.message


def test_rfc3164_with_hostname_tag_and_pid() -> None:
    msg = parse_syslog("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed", now=NOW)
    assert msg.format == "rfc3164" and msg.error is None
    assert (msg.hostname, msg.app_name, msg.procid) == ("mymachine", "su", "230")
    assert msg.message == "'su root' failed"
    assert msg.timestamp is not None
    assert time.localtime(msg.timestamp)[:6] == (2026, 10, 11, 22, 14, 15)


def test_rfc3164_local_sender_without_hostname() -> None:
    msg = parse_syslog("<13>Dec  1 08:20:34 user[123]: hello", now=NOW)
    assert msg.hostname is None and msg.app_name == "user" and msg.procid == "123"
    assert msg.message == "hello"


def test_rfc3164_a_december_line_read_in_january_is_last_year() -> None:
    january = time.mktime((2027, 1, 2, 0, 0, 0, 0, 0, -1))
    msg = parse_syslog("<13>Dec 31 23:59:00 host app: x", now=january)
    assert msg.timestamp is not None and time.localtime(msg.timestamp).tm_year == 2026


def test_rfc3164_with_an_rfc3339_timestamp() -> None:
    msg = parse_syslog("<14>2026-11-30T10:00:00.25+01:00 host app: hi", now=NOW)
    assert msg.timestamp == rfc3339_seconds("2026-11-30T09:00:00.25Z")
    assert msg.hostname == "host" and msg.message == "hi"


def test_no_pri_is_invalid_whole_text_kept_with_the_rfc3164_default_level() -> None:
    msg = parse_syslog("just some text")
    assert msg.format == "invalid" and msg.error and msg.message == "just some text"
    assert level_of(msg) == 6  # user.notice
    assert parse_syslog("<192>1 - - - - - - x").format == "invalid"
    assert parse_syslog("<013>x").format == "invalid"


def test_pri_without_a_timestamp_is_partial() -> None:
    msg = parse_syslog("<11>plain text")
    assert msg.format == "rfc3164" and msg.error and msg.message == "plain text"
    assert level_of(msg) == 4


@given(st.text(max_size=300))
def test_any_text_parses_without_raising_and_loses_nothing_without_pri(text: str) -> None:
    msg = parse_syslog(text, now=NOW)
    assert 1 <= level_of(msg) <= 8
    if msg.format == "invalid":
        assert msg.message == text.rstrip("\r\n")
    for name, value in syslog_fields(msg):
        assert isinstance(name, str) and isinstance(value, str)


@given(
    st.integers(0, 191),
    st.sampled_from(["-", "2026-11-30T10:00:00Z", "2026-11-30T10:00:00.123456+05:30"]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
    st.text(max_size=100),
)
def test_rfc5424_round_trip(pri: int, stamp: str, word: str, text: str) -> None:
    line = f"<{pri}>1 {stamp} {word} {word} {word} {word} - {text}"
    msg = parse_syslog(line)
    assert msg.format == "rfc5424" and msg.pri == pri
    assert (msg.hostname, msg.app_name) == (
        None if word == "-" else word,
        None if word == "-" else word,
    )
    assert msg.message == text.rstrip("\r\n").removeprefix("\ufeff")
