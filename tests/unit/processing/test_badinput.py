"""Bad input through a chain: counted by reason, logged rate-limited, the line still shipped."""

from __future__ import annotations

import structlog

from logflux_agent.config.processors import CriProcessor, JsonProcessor
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.report import LOG_INTERVAL, Reporter
from logflux_agent.record import records_for

READ_TIME = 1_796_104_800.0


def test_each_kind_of_bad_input_is_counted_by_reason_and_shipped_as_text() -> None:
    chain = Chain("bad", (CriProcessor(), JsonProcessor(message_key="msg")))
    reserved = '{"msg":"m","Timestamp":"x","node":"n"}'
    lines = [
        "2026-12-01T06:00:00Z stdout F {not json",
        "2026-99-01T06:00:00Z stdout F x",  # a CRI line with a bad timestamp
        "2026-12-01T06:00:00Z stdout F " + reserved,
        '2026-12-01T06:00:00Z stdout F {"msg":"big","v":"' + "z" * 1_000_000 + '"}',
    ]
    out = chain.process(records_for(lines, READ_TIME, 7, "s", {}), 0.0)
    assert [e.message[:20] for e in out] == [
        "{not json",
        "2026-99-01T06:00:00Z",
        "m",
        '{"msg":"big","v":"zz',
    ]
    assert out[2].attributes == {"stream": "stdout", "field.Timestamp": "x", "field.node": "n"}
    assert len(out[3].attributes["v"]) == 256 and len(out[3].message) > 1_000_000
    counts = chain.reporter.counts
    assert counts[("json", "invalid_json")] == 2  # "{not json" and the untouched CRI line
    assert counts[("cri", "bad_timestamp")] == 1
    assert counts[("attributes", "reserved_name")] == 2
    assert counts[("attributes", "value_too_long")] == 1


def test_problems_are_logged_at_most_once_a_minute_with_the_count() -> None:
    now = [0.0]
    reporter = Reporter("bad", now=lambda: now[0])
    with structlog.testing.capture_logs() as logs:
        for _ in range(1000):
            reporter.problem("json", "invalid_json")
        now[0] += LOG_INTERVAL
        reporter.problem("json", "invalid_json")
    assert [(e["event"], e["count"]) for e in logs] == [
        ("processing.problem", 1),
        ("processing.problem", 1000),
    ]
    assert reporter.counts[("json", "invalid_json")] == 1001
