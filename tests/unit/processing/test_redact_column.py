"""redact on a whole chunk: the column path gives exactly what redacting each line alone gives
(Hypothesis, mask and hash), the two-pass ipv4 replacement finds exactly what the ipv4 pattern
finds, and lines holding the separator or the placeholder characters are handled too."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.config.privacy import RedactProcessor
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.ipv4 import IPV4, SEP, ipv4_mask
from logflux_agent.processing.redact import PIECE_CHARS, Redactor
from logflux_agent.record import Record
from logflux_agent.samplelog import AccessLogGenerator

PIECES = [
    "eu-lf_9f8e7d6c5b4a39281706",
    "lf_usr_PAT1",
    "Authorization: Bearer tok3n.value-xyz",
    "AUThorization=basic dXNlcjpwYXNz",
    "bearer abcdefghij12",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "340000000000009",
    "1234567890123",
    "jane.doe+shop@example.org",
    "192.168.10.254",
    "1.2.3.4.5",
    "999.1.1.1",
    "10.0.0.256",
    "2001:db8:85a3::8a2e:370:7334",
    "fe80::1",
    "1:2:3:4:5:6:7:8",
    "2026:11:06:40",
    SEP,
    "\x01",
    "é",
    "\u0130",
]
TEXT = st.lists(
    st.sampled_from(PIECES) | st.text(alphabet="aAbBzZ_:.-@0123456789 xyJV", max_size=12),
    max_size=8,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=12), st.sampled_from(["mask", "hash"]))
def test_a_chunk_is_redacted_exactly_like_each_line_alone(lines: list[str], replace: str) -> None:
    cfg = RedactProcessor(replace=replace)  # type: ignore[arg-type]
    key = b"k" * 32 if replace == "hash" else None
    alone = Redactor(cfg, key)
    expected = [alone.text(t) for t in lines]
    together = Redactor(cfg, key)
    out, failed = together.column(lines)
    assert out == expected and failed == []
    assert together.counts == alone.counts


DOTTED = st.lists(
    st.sampled_from(["1", "25", "255", "256", "999", "1234", "0", "07", ".", ".", ".", " ", "a"])
    | st.sampled_from([SEP, "x.", "[", "1.1"]),
    max_size=16,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(DOTTED)
def test_the_two_pass_ipv4_replacement_finds_what_the_pattern_finds(text: str) -> None:
    assert ipv4_mask(text, "[M]") == re.subn(IPV4, "[M]", text)


def test_ipv4_replacement_with_the_placeholder_in_the_text_falls_back_to_the_pattern() -> None:
    text = "\x01 10.1.2.3 and 10.1.2.4\x01"
    assert ipv4_mask(text, "[M]") == ("\x01 [M] and [M]\x01", 2)


def test_access_log_lines_lose_their_client_address_and_nothing_else() -> None:
    lines = AccessLogGenerator().lines(3000)
    r = Redactor(RedactProcessor(), None)
    out, failed = r.column(lines)
    assert not failed and r.counts == {"ipv4": 3000}
    for before, after in zip(lines, out, strict=True):
        assert after == "[REDACTED:ipv4]" + before[before.index(" ") :]


def test_a_line_holding_the_separator_is_redacted_like_the_others() -> None:
    chain = Chain("r-sep", (RedactProcessor(),))
    lines = ["from 10.0.0.1", f"odd{SEP}line ops@example.com{SEP}10.0.0.2", "lf_key1 ok"]
    out = chain.process([Record(t, 1.0, 7, "s", {}) for t in lines], 0.0)
    assert [r.message for r in out] == [
        "from [REDACTED:ipv4]",
        f"odd{SEP}line [REDACTED:email]{SEP}[REDACTED:ipv4]",
        "[REDACTED:logflux_key] ok",
    ]


def test_an_authorization_header_in_any_letter_case_is_redacted() -> None:
    r = Redactor(RedactProcessor(detectors=("authorization",)), None)
    out = r.text("AUThorization: Bearer s3cr3t-token")
    assert out == "AUThorization: Bearer [REDACTED:authorization]"


def test_custom_rules_see_one_line_at_a_time() -> None:
    cfg = RedactProcessor(detectors=("ipv4",), custom={"first": r"^\w+"})
    out, failed = Redactor(cfg, None).column(["alpha 10.0.0.1", "beta two"])
    assert out == ["[REDACTED:first] [REDACTED:ipv4]", "[REDACTED:first] two"] and not failed


def test_a_column_longer_than_a_piece_is_redacted_in_pieces_like_each_line_alone() -> None:
    long_line = "x" * 200 + " 10.0.0.9"
    lines = [f"line {i} from 10.0.{i % 250}.1" if i % 97 else long_line for i in range(8000)]
    assert sum(map(len, lines)) > 3 * PIECE_CHARS
    cfg = RedactProcessor(detectors=("ipv4",), custom={"word": r"line"}, max_chars=200)
    r = Redactor(cfg, None)
    out, failed = r.column(lines, SEP.join(lines))
    alone = Redactor(cfg, None)
    expected = [alone.text(t) for t in lines]
    assert out == expected
    assert failed == [i for i in range(8000) if i % 97 == 0]
    assert r.counts == alone.counts
