"""The ``syslog`` processor: RFC 5424 / 3164 lines in files → level, ts, fields, message; a line
that is not syslog untouched and counted; on any text it never raises, and it round-trips."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logflux_agent.config.processors import CriProcessor, LevelProcessor, SyslogProcessor
from logflux_agent.processing.chain import Chain
from logflux_agent.record import Record, records_for

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
READ_TIME = 1_796_104_800.0  # 2026-12-01T06:00:00Z
SOURCE = "/var/log/app/syslog"


def run(lines: list[str], *processors: object) -> tuple[list[Record], Chain]:
    chain = Chain("sys", processors or (SyslogProcessor(),))  # type: ignore[arg-type]
    return chain.process(records_for(lines, READ_TIME, 7, SOURCE, {"env": "prod"}), 0.0), chain


def test_an_rfc5424_line_becomes_level_ts_fields_and_message() -> None:
    line = (
        '<165>1 2026-12-01T05:59:58.25Z web01 shop 4242 ID47 [exampleSDID@32473 iut="3" '
        'eventSource="Application"] \ufeffpayment failed'
    )
    [entry], chain = run([line])
    assert entry.message == "payment failed"
    assert entry.level == 6  # local4.notice: severity 5 + 1
    assert entry.timestamp == READ_TIME - 1.75
    assert entry.attributes == {
        "env": "prod",
        "facility": "local4",
        "hostname": "web01",
        "app_name": "shop",
        "procid": "4242",
        "msgid": "ID47",
        "sd.exampleSDID@32473.iut": "3",
        "sd.exampleSDID@32473.eventSource": "Application",
    }
    assert chain.reporter.counts == {}


def test_an_rfc3164_line_takes_the_year_nearest_the_read_time() -> None:
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(READ_TIME - 60))
    [entry], _ = run([f"<34>{stamp} mymachine su[230]: 'su root' failed for lonvick"])
    assert (entry.message, entry.level, entry.timestamp) == (
        "'su root' failed for lonvick",
        3,
        READ_TIME - 60,
    )
    assert entry.attributes["app_name"] == "su" and entry.attributes["procid"] == "230"
    assert entry.attributes["hostname"] == "mymachine" and entry.attributes["facility"] == "auth"


def test_a_line_that_is_not_syslog_is_untouched_and_counted() -> None:
    out, chain = run(["GET /health 200", "<999>1 - - - - - - x"])
    assert [(r.message, r.level, r.timestamp) for r in out] == [
        ("GET /health 200", 7, READ_TIME),
        ("<999>1 - - - - - - x", 7, READ_TIME),
    ]
    assert out[0].attributes == {"env": "prod"}
    assert chain.reporter.counts == {("syslog", "not_syslog"): 2}


def test_a_partly_wrong_line_keeps_what_parsed_and_says_why() -> None:
    [entry], chain = run(["<13>1 2026-12-01T05:00:00Z host app - - [broken text"])
    assert entry.level == 6 and entry.attributes["hostname"] == "host"
    assert "structured data" in entry.attributes["parse_error"]
    assert chain.reporter.counts == {("syslog", "syslog_malformed"): 1}


def test_a_timestamp_the_ingestor_would_refuse_keeps_the_read_time() -> None:
    [entry], chain = run(["<13>1 2020-01-01T00:00:00Z h a - - - old"])
    assert entry.timestamp == READ_TIME and entry.message == "old"
    assert chain.reporter.counts == {("syslog", "timestamp_out_of_range"): 1}


def test_syslog_inside_cri_lines_and_a_level_processor_after_it() -> None:
    line = '2026-12-01T06:00:00.5Z stdout F <11>1 - h app - - - {"level":"x"}'
    [entry], _ = run([line], CriProcessor(), SyslogProcessor(), LevelProcessor())
    assert entry.level == 4 and entry.message == '{"level":"x"}'
    assert entry.timestamp == READ_TIME + 0.5 and entry.attributes["stream"] == "stdout"


@SETTINGS
@given(st.lists(st.text(max_size=300), max_size=10))
def test_any_text_never_raises_and_a_line_without_pri_is_shipped_unchanged(
    lines: list[str],
) -> None:
    out, _ = run(lines)
    assert len(out) == len(lines)
    for line, entry in zip(lines, out, strict=True):
        assert 1 <= entry.level <= 8 and len(entry.attributes) <= 20
        if not line.startswith("<"):
            assert (entry.message, entry.level, entry.timestamp) == (line, 7, READ_TIME)


words = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
sd_names = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters='= ]"'),
    min_size=1,
    max_size=12,
)


@SETTINGS
@given(
    st.integers(0, 191),
    st.integers(-300 * 86_400, 50),
    st.lists(words.filter(lambda w: w != "-"), min_size=4, max_size=4),
    st.dictionaries(sd_names, st.text(max_size=20), max_size=3),
    st.text(max_size=100).filter(lambda t: t == t.rstrip("\r\n") and not t.startswith("\ufeff")),
)
def test_an_rfc5424_line_round_trips_through_the_processor(
    pri: int, offset: int, header: list[str], params: dict[str, str], text: str
) -> None:
    when = READ_TIME + offset
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    escaped = " ".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'.replace(
            "]", "\\]"
        )
        for k, v in params.items()
    )
    sd = f"[meta {escaped}]" if params else "-"
    line = f"<{pri}>1 {stamp} {' '.join(header)} {sd} {text}"
    [entry], _ = run([line])
    assert (entry.message, entry.level, entry.timestamp) == (text, (pri & 7) + 1, when)
    attrs = entry.attributes
    assert [attrs["hostname"], attrs["app_name"], attrs["procid"], attrs["msgid"]] == header
    for name, value in params.items():
        assert attrs[f"sd.meta.{name}"] == value[:256]
