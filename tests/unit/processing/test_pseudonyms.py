"""The pseudonym cache of ``replace: hash``: the same pseudonym as the HMAC itself, bounded
in entries and value length, never showing a value; the hashed ipv4 path finds exactly what
the ipv4 pattern finds."""

from __future__ import annotations

import hashlib
import hmac
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.config.privacy import RedactProcessor
from logflux_agent.processing.detectors import IPV4, SEP
from logflux_agent.processing.pseudonyms import CACHE_ENTRIES, CACHE_VALUE_CHARS, Pseudonyms
from logflux_agent.processing.redact import Redactor

KEY = b"k" * 32


def hashed(rule: str, value: str) -> str:
    digest = hmac.new(KEY, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"[HASH:{rule}:{digest[:16]}]"


def test_a_pseudonym_is_the_hmac_and_a_hit_returns_the_same() -> None:
    p = Pseudonyms(KEY, "ipv4", SEP)
    first = p["203.0.113.7"]
    assert first == SEP + hashed("ipv4", "203.0.113.7")
    assert p["203.0.113.7"] is first and len(p) == 1


def test_the_cache_is_bounded_and_long_values_are_not_kept() -> None:
    p = Pseudonyms(KEY, "email")
    for i in range(CACHE_ENTRIES * 3 + 7):
        assert p[f"user{i}@example.org"] == hashed("email", f"user{i}@example.org")
        assert len(p) <= CACHE_ENTRIES
    long_value = "x" * (CACHE_VALUE_CHARS + 1)
    p.clear()
    assert p[long_value] == hashed("email", long_value) and len(p) == 0


def test_the_cache_never_shows_a_value() -> None:
    p = Pseudonyms(KEY, "ipv4")
    p["198.51.100.23"]
    assert "198.51.100.23" not in repr(p) and "198.51.100.23" not in str(p)


DOTTED = st.lists(
    st.sampled_from(["1", "25", "255", "256", "999", "1234", "0", "07", ".", ".", ".", " ", "a"])
    | st.sampled_from([SEP, SEP, "x.", "[", "1.1", "10.0.0.1"]),
    max_size=24,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(DOTTED)
def test_the_hashed_ipv4_path_finds_what_the_pattern_finds(text: str) -> None:
    lines = text.split(SEP)
    r = Redactor(RedactProcessor(detectors=("ipv4",), replace="hash"), KEY)
    out, failed = r.column(lines)
    expected = [re.sub(IPV4, lambda m: hashed("ipv4", m.group()), t) for t in lines]
    assert out == expected and not failed
    total = sum(len(re.findall(IPV4, t)) for t in lines)
    assert r.counts == ({"ipv4": total} if total else {})
