"""The prefilter (processing/prefilter.py) changes nothing but speed: a chunk redacted with it
equals the same chunk redacted without it (every gate run, as before it existed) in any
detector order, mask and hash (Hypothesis); each hint is found wherever its pattern replaces
something; the access-log lines of the benchmark find no hint at all (the fast path is the
one taken); and a hint that misses a detector's match does change the output (the comparison
can fail)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.config.privacy import DETECTORS, RedactProcessor
from logflux_agent.processing import prefilter, redact
from logflux_agent.processing.detectors import BUILTIN, SEP
from logflux_agent.processing.redact import Redactor
from logflux_agent.samplelog import AccessLogGenerator
from tests.unit.processing.test_redact_column import PIECES as COLUMN_PIECES

needs_re2 = pytest.mark.skipif(
    not prefilter.available(), reason="the google-re2 package is not installed: no prefilter"
)

# The redaction tests' pieces, and the near-misses each hint must tell apart.
PIECES = [
    *COLUMN_PIECES,
    "LF_x",
    "Authorization: Bearer abc=1.2.3.4",
    "BASIC",
    "eyJ",
    "ASIA",
    "awsSecretKey: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "4222222222222",
    "4222-2222-2222-2",
    "123456789012",
    "@",
    "x1.2.3.4",
    "a.1.2.3.4",
    "[REDACTED:ipv4]",
    "::ffff:1.2.3.4",
    "1:2:3:4:5:6:1.2.3.4",
    "a:b:c:d:e:1.2.3.4",
    "\udc80",
    "\u0131",
    "\u017f",
    "ba\u017fic",
    "author\u0131zation: x",
]
ALPHABET = "aAbBfFlzZwW_:.-@0123456789 xyJVK\u017f"
TEXT = st.lists(
    st.sampled_from(PIECES) | st.text(alphabet=ALPHABET, max_size=12),
    max_size=8,
).map(" ".join)
JOINED = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)  # secrets touching
LINES = st.lists(TEXT | JOINED, min_size=1, max_size=12)


def _without_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefilter, "_MATCHER", None)


def _run(cfg: RedactProcessor, key: bytes | None, lines: list[str]) -> tuple[Any, ...]:
    r = Redactor(cfg, key)
    out, failed = r.column(lines)
    single = [r.text(t) for t in lines[:3]]
    return out, failed, dict(r.counts), single


@pytest.fixture
def off() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@needs_re2
@settings(max_examples=400, deadline=None)
@given(LINES, st.sampled_from(["mask", "hash"]), st.permutations(DETECTORS), st.integers(1, 10))
def test_a_chunk_redacts_the_same_with_and_without_the_prefilter(
    lines: list[str], replace: str, order: list[str], keep: int
) -> None:
    cfg = RedactProcessor(replace=replace, detectors=tuple(order[:keep]))  # type: ignore[arg-type]
    key = b"k" * 32 if replace == "hash" else None
    with_it = _run(cfg, key, lines)
    with pytest.MonkeyPatch.context() as mp:
        _without_prefilter(mp)
        assert not prefilter.available()
        without = _run(cfg, key, lines)
    assert with_it == without


@needs_re2
@settings(max_examples=400, deadline=None)
@given(TEXT | JOINED)
def test_each_hint_is_found_wherever_its_pattern_replaces_something(text: str) -> None:
    found = prefilter.possible(text, text.encode("utf-8", "surrogatepass"))
    for name in DETECTORS:
        for p in BUILTIN[name]:
            assert p.hint is not None
            if p.hint in found or p.hint == "ipv4_elsewhere":
                continue
            changed = any(
                (p.secret is None or m.start(p.secret) >= 0)
                and (p.valid is None or p.valid(m.group(p.secret or 0)))
                for m in re.finditer(p.regex, text)
            )
            assert not changed, (name, p.hint)


@needs_re2
@settings(max_examples=400, deadline=None)
@given(st.lists(TEXT | JOINED, min_size=1, max_size=6))
def test_the_ipv4_hint_is_found_wherever_an_address_does_not_begin_a_line(lines: list[str]) -> None:
    joined = SEP.join(lines)
    if "ipv4_elsewhere" in prefilter.possible(joined, joined.encode("utf-8", "surrogatepass")):
        return
    from logflux_agent.processing.ipv4 import IPV4

    starts = {0} | {m.end() for m in re.finditer(SEP, joined)}
    assert all(m.start() in starts for m in re.finditer(IPV4, joined))


@needs_re2
def test_access_log_lines_find_no_hint() -> None:
    lines = AccessLogGenerator().lines(2000)
    joined = SEP.join(lines)
    assert prefilter.possible(joined, joined.encode()) == frozenset()


def test_without_re2_every_hint_counts_as_found(off: pytest.MonkeyPatch) -> None:
    _without_prefilter(off)
    assert prefilter.possible("plain", b"plain") == prefilter.EVERYTHING


class _Failing:
    def Match(self, data: bytes) -> list[int]:
        return []  # what RE2's set matcher answers when its automaton runs out of memory


def test_a_scan_that_did_not_complete_counts_every_hint_as_found(off: pytest.MonkeyPatch) -> None:
    off.setattr(prefilter, "_MATCHER", _Failing())
    assert prefilter.possible("4111 1111 1111 1111", b"4111 1111 1111 1111") == prefilter.EVERYTHING
    r = Redactor(RedactProcessor(), None)
    assert r.text("paid with 4111 1111 1111 1111") == "paid with [REDACTED:card]"


@needs_re2
def test_an_empty_piece_completes_the_scan() -> None:
    assert prefilter.possible("", b"") == frozenset()


def test_a_hint_that_misses_changes_the_output(off: pytest.MonkeyPatch) -> None:
    lines = ["paid with 4111 1111 1111 1111 from 10.0.0.1", "x"]
    good = Redactor(RedactProcessor(), None).column(lines)
    off.setattr(redact, "possible", lambda joined, encoded: frozenset())
    broken = Redactor(RedactProcessor(), None).column(lines)
    assert good[0][0] == "paid with [REDACTED:card] from [REDACTED:ipv4]"
    assert broken != good
