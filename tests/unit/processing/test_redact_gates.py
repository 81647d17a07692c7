"""The chunk-wide gates of the built-in detectors name exactly the lines their one-line test
passes (Hypothesis), and a chunk redacted through the gates equals the plain evaluation: each
detector's regex with a callback, line by line, on every line its one-line test passes."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.config.privacy import RedactProcessor
from logflux_agent.processing.detectors import BUILTIN, SEP, Chunk, Gate
from logflux_agent.processing.redact import Redactor
from logflux_agent.samplelog import AccessLogGenerator

GATES: dict[str, Gate] = {
    p.rule + str(i): p.gate for ps in BUILTIN.values() for i, p in enumerate(ps)
}
PIECES = [
    "lf_x",
    "eu-lf_abc",
    "Authorization",
    "AUTHORIZATION:",
    "authoriZation",
    "Bearer",
    "bAsIc",
    "AWS_SECRET",
    "awsSecret",
    "aws_secret_access_key=",
    "eyJ",
    "AKIA",
    "PRIVATE KEY-----",
    "4111 1111 1111 1111",
    "4111-1111-1111-111",
    "3400 000000 00009",
    "1234567890123",
    "123456789012",
    "::",
    ":",
    "1:2:3:4:5:6:1.2.3.4",
    "a:b:c:d:e:f",
    "2026:11:06:40",
    "\u0130",
    "\u212a",
    "\u017f",
    "\u0131",
    "é",
]
LINE = st.lists(
    st.sampled_from(PIECES) | st.text(alphabet="aAbBzZwW_:.-@0123456789 x\u0130", max_size=10),
    max_size=8,
).map(" ".join)
LINES = st.lists(LINE, min_size=1, max_size=10)


@settings(max_examples=400, deadline=None)
@given(LINES)
def test_every_gate_names_exactly_the_lines_its_one_line_test_passes(lines: list[str]) -> None:
    for name, gate in GATES.items():
        expected = [i for i, t in enumerate(lines) if gate.alone(t)]
        assert gate.lines(Chunk(lines, None)) == expected, name
        assert gate.lines(Chunk(lines, SEP.join(lines))) == expected, name


def _plain(cfg: RedactProcessor, key: bytes | None, text: str) -> tuple[str, dict[str, int]]:
    """One line through every built-in regex in order, ungated but for the one-line tests."""
    replacer = Redactor(cfg, key)
    counts: dict[str, int] = {}
    for name in cfg.detectors:
        for p in BUILTIN[name]:
            if not p.gate.alone(text):
                continue

            def sub(
                m: re.Match[str],
                rule: str = p.rule,
                group: str | None = p.secret,
                valid: Any = p.valid,
            ) -> str:
                start, end = m.span(group or 0)
                value = m.group(group or 0)
                if start < 0 or (valid is not None and not valid(value)):
                    return m.group(0)
                counts[rule] = counts.get(rule, 0) + 1
                s0 = m.start()
                whole = m.group(0)
                return whole[: start - s0] + replacer.replacement(rule, value) + whole[end - s0 :]

            text = re.sub(p.regex, sub, text)
    return text, counts


SECRETS = [
    "lf_usr_PAT1",
    "Authorization: Bearer tok3n.value-xyz",
    "bearer abcdefghij12",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "-----BEGIN PRIVATE KEY-----",
    "4111 1111 1111 1111",
    "jane.doe+shop@example.org",
    "192.168.10.254",
    "10.0.0.256",
    "2001:db8::1",
    "1:2:3:4:5:6:1.2.3.4",
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(SECRETS + PIECES), max_size=6).map(" ".join),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["mask", "hash"]),
)
def test_a_chunk_through_the_gates_equals_the_plain_regexes_line_by_line(
    lines: list[str], replace: str
) -> None:
    cfg = RedactProcessor(replace=replace)  # type: ignore[arg-type]
    key = b"k" * 32 if replace == "hash" else None
    r = Redactor(cfg, key)
    out, failed = r.column(lines)
    expected = [_plain(cfg, key, t) for t in lines]
    assert out == [t for t, _ in expected] and not failed
    totals: dict[str, int] = {}
    for _, counts in expected:
        for rule, n in counts.items():
            totals[rule] = totals.get(rule, 0) + n
    assert r.counts == totals


def test_access_log_lines_through_the_gates_equal_the_plain_regexes() -> None:
    lines = AccessLogGenerator().lines(500)
    cfg = RedactProcessor()
    out, _ = Redactor(cfg, None).column(lines)
    assert out == [_plain(cfg, None, t)[0] for t in lines]


def test_an_ipv6_address_with_an_ipv4_tail_and_no_double_colon_is_found() -> None:
    r = Redactor(RedactProcessor(detectors=("ipv6",)), None)
    assert r.text("peer 1:2:3:4:5:6:1.2.3.4 up") == "peer [REDACTED:ipv6] up"


def test_words_with_the_letters_the_case_insensitive_patterns_also_take_are_found() -> None:
    r = Redactor(RedactProcessor(detectors=("authorization",)), None)
    long_s, dotted, dotless = "\u017f", "\u0130", "\u0131"
    basic, upper, lower = f"Ba{long_s}ic", f"AUTHOR{dotted}ZAT{dotted}ON", f"author{dotless}zation"
    assert r.text(f"{basic} dXNlcjpwYXNz1") == f"{basic} [REDACTED:authorization]"
    assert r.text(f"{upper}: t0ken") == f"{upper}: [REDACTED:authorization]"
    assert r.text(f"{lower}=t0ken") == f"{lower}=[REDACTED:authorization]"
