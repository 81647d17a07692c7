"""Filters: include/exclude/min_level/sample/throttle drop what they are told to, count it by
input, processor and reason, and hand a dropped row's ack token on so its position commits."""

from __future__ import annotations

import pytest

from logflux_agent.config.load import load_config_text
from logflux_agent.config.privacy import (
    ExcludeProcessor,
    IncludeProcessor,
    MinLevelProcessor,
    SampleProcessor,
    ThrottleProcessor,
)
from logflux_agent.config.processors import JsonProcessor
from logflux_agent.errors import ConfigError
from logflux_agent.observe import metrics
from logflux_agent.processing.chain import Chain
from logflux_agent.record import AckToken, Record

KEY = "eu-lf_0123456789abcdef0123456789abcdef"


class Stream:
    def __init__(self, key: str) -> None:
        self.key = key

    def commit(self, position: int | str) -> None:  # pragma: no cover - not called here
        raise AssertionError


def recs(*lines: str, level: int = 7, ack: AckToken | None = None) -> list[Record]:
    out = [Record(line, 1.0, level, "src", {}) for line in lines]
    if ack is not None:
        out[-1] = out[-1].with_ack(ack)
    return out


def dropped(input_id: str, processor: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "logflux_agent_processing_dropped_entries_total",
        {"input": input_id, "processor": processor, "reason": reason},
    )
    return value or 0.0


def test_exclude_drops_matches_and_counts_them() -> None:
    chain = Chain("f-ex", (ExcludeProcessor(patterns=("GET /health", "^DEBUG")),))
    out = chain.process(recs("GET /health 200", "POST /pay 502", "DEBUG x"), 0.0)
    assert [r.message for r in out] == ["POST /pay 502"]
    assert dropped("f-ex", "exclude", "excluded") == 2


def test_include_all_needs_every_pattern_on_the_named_field() -> None:
    cfg = IncludeProcessor(patterns=("^5", "2$"), field="status", match="all")
    chain = Chain("f-in", (JsonProcessor(), cfg))
    lines = ['{"status":"502"}', '{"status":"500"}', '{"other":1}', '{"status":"200"}']
    out = chain.process(recs(*lines), 0.0)
    assert [r.attributes["status"] for r in out] == ["502"]
    assert dropped("f-in", "include", "not_included") == 3


def test_min_level_keeps_as_severe_or_more() -> None:
    chain = Chain("f-lv", (MinLevelProcessor(level="warning"),))
    batch = recs("e", level=4) + recs("i", level=7) + recs("w", level=5)
    assert [r.message for r in chain.process(batch, 0.0)] == ["e", "w"]
    assert dropped("f-lv", "min_level", "below_min_level") == 1


def test_sample_is_deterministic_and_about_one_in_n() -> None:
    lines = [f"line {i}" for i in range(2000)]
    first = [
        r.message for r in Chain("f-s1", (SampleProcessor(every=10),)).process(recs(*lines), 0)
    ]
    again = [
        r.message for r in Chain("f-s2", (SampleProcessor(every=10),)).process(recs(*lines), 0)
    ]
    assert first == again
    assert 120 <= len(first) <= 280


def test_throttle_allows_burst_then_rate_on_the_chain_clock() -> None:
    chain = Chain("f-th", (ThrottleProcessor(rate=10, burst=5),))
    assert len(chain.process(recs(*["x"] * 8), 100.0)) == 5
    assert len(chain.process(recs(*["x"] * 8), 100.0)) == 0  # no time passed: no refill
    assert len(chain.process(recs(*["x"] * 8), 100.5)) == 5  # 0.5 s at 10/s
    assert dropped("f-th", "throttle", "throttled") == 3 + 8 + 3


def test_a_dropped_last_row_hands_its_token_to_the_previous_kept_row() -> None:
    token = AckToken(Stream("a"), 300)
    chain = Chain("f-ack", (ExcludeProcessor(patterns=("drop",)),))
    out = chain.process(recs("keep 1", "keep 2", "drop me", ack=token), 0.0)
    assert [r.message for r in out] == ["keep 1", "keep 2"]
    assert out[-1].ack is token and out[0].ack is None


def test_a_fully_dropped_list_passes_its_token_to_the_next_kept_row() -> None:
    token = AckToken(Stream("a"), 100)
    chain = Chain("f-carry", (ExcludeProcessor(patterns=("drop",)),))
    assert chain.process(recs("drop a", "drop b", ack=token), 0.0) == []
    later = AckToken(Stream("b"), 7)
    out = chain.process(recs("keep", "drop c", "keep 2", ack=later), 0.0)
    # The first kept row without a token takes the carried one; the list's own stays last.
    assert out[0].ack is token and out[-1].ack is later


def test_same_stream_later_token_replaces_an_earlier_one() -> None:
    stream = Stream("a")
    first, second = AckToken(stream, 10), AckToken(stream, 20)
    chain = Chain("f-same", (ExcludeProcessor(patterns=("drop",)),))
    batch = [*recs("keep", ack=first), *recs("drop", ack=second)]
    out = chain.process(batch, 0.0)
    assert len(out) == 1 and out[0].ack is second


def config_problems(text: str) -> list[str]:
    doc = (
        f"api_key: {KEY}\ninputs:\n  - type: file\n    id: app\n    paths: [/var/log/x.log]\n"
        f"    processors:\n{text}"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(doc, "agent.yaml", {})
    return info.value.problems


def test_filters_load_with_their_options() -> None:
    doc = (
        f"api_key: {KEY}\ninputs:\n  - type: file\n    id: app\n    paths: [/var/log/x.log]\n"
        "    processors:\n      - exclude: {patterns: [health]}\n"
        "      - min_level: {level: warning}\n      - sample: {every: 3}\n"
        "      - throttle: {rate: 5}\n"
    )
    [inp] = load_config_text(doc, "agent.yaml", {}).inputs
    assert inp.processors == (
        ExcludeProcessor(patterns=("health",)),
        MinLevelProcessor(level="warning"),
        SampleProcessor(every=3),
        ThrottleProcessor(rate=5.0),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("      - exclude: {patterns: ['(']}\n", "agent.yaml:7:"),
        ("      - exclude: {patterns: ['(a+)+$']}\n", "nested unbounded repeats"),
        ("      - min_level: {level: loud}\n", "a level: 1 to 8"),
        ("      - sample: {every: 0}\n", "an integer ≥ 1"),
        ("      - include\n", "patterns"),
        ("      - redact: {max_chars: 10}\n", "7:17: inputs[0].processors[0].redact.max_chars"),
        (
            "      - search_tokens: {max_tokens: 99}\n",
            "7:24: inputs[0].processors[0].search_tokens:",
        ),
        ("      - sample: {every: 0}\n", "7:25: inputs[0].processors[0].sample.every"),
    ],
)
def test_bad_filter_options_name_file_line_col(text: str, expected: str) -> None:
    found = config_problems(text)
    assert any(expected in p and "agent.yaml:" in p for p in found), found


@pytest.mark.parametrize(
    ("pattern", "unsafe"),
    [
        (r"(a+)+", True),
        (r"(\w*\s?)*", True),
        (r"(x|(y+))*z", True),
        (r"((ab)*)+", True),
        (r"(?:a{1,3})+", False),
        (r"(a+){2}", False),
        (r"(a+)++", False),  # possessive: never backtracks into its body
        (r"user=(?P<secret>\w+)", False),
    ],
)
def test_nested_unbounded_repeats_are_found_at_any_depth(pattern: str, unsafe: bool) -> None:
    from logflux_agent.config.privacy import unsafe_pattern

    assert (unsafe_pattern(pattern) is not None) is unsafe
