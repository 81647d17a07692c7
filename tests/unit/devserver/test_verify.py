"""The verification helper tests rely on: missing, unexpected, duplicate and out-of-order
arrivals are each reported (and fail), at-least-once duplicates pass when allowed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.refingestor import verify_entries


def entries(*arrivals: tuple[str, str, str]) -> list[dict[str, Any]]:
    """(source, message, request id) -> recorded entries as the ingestor writes them."""
    return [
        {
            "key_id": "k",
            "nonce": "AAECAwQFBgcICQoL",
            "payload_type": 1,
            "request_id": r,
            "payload": {"v": "2.0", "type": "log", "source": s, "message": m},
        }
        for s, m, r in arrivals
    ]


EXPECTED = {"a": ["a1", "a2", "a3"], "b": ["b1"]}


def test_exact_delivery_passes() -> None:
    got = entries(("a", "a1", "r1"), ("b", "b1", "r1"), ("a", "a2", "r1"), ("a", "a3", "r2"))
    report = verify_entries(got, EXPECTED)
    assert report.received == 4 and report.duplicates == 0 and not report.missing


def test_missing_and_unexpected_are_named() -> None:
    got = entries(("a", "a1", "r1"), ("a", "a3", "r1"), ("c", "c1", "r1"), ("b", "zz", "r1"))
    with pytest.raises(AssertionError) as err:
        verify_entries(got, EXPECTED)
    text = str(err.value)
    assert "1 line(s) of 'a' never arrived" in text and "'a2'" in text
    assert "1 line(s) of 'b' never arrived" in text
    assert "('c', 'c1')" in text and "('b', 'zz')" in text


def test_duplicates_fail_unless_allowed() -> None:
    got = entries(
        ("a", "a1", "r1"),
        ("a", "a2", "r1"),
        ("a", "a1", "r2"),
        ("a", "a2", "r2"),
        ("a", "a3", "r2"),
        ("b", "b1", "r3"),
    )
    with pytest.raises(AssertionError, match="2 duplicate arrival"):
        verify_entries(got, EXPECTED, allow_duplicates=False)
    report = verify_entries(got, EXPECTED, allow_duplicates=True)
    assert report.duplicates == 2 and report.duplicates_by_source == {"a": 2}


def test_repeated_lines_match_their_first_arrivals() -> None:
    got = entries(("a", "x", "r1"), ("a", "x", "r1"), ("a", "x", "r2"))
    assert verify_entries(got, {"a": ["x", "x", "x"]}).duplicates == 0
    assert verify_entries(got, {"a": ["x", "x"]}, allow_duplicates=True).duplicates == 1


def test_order_inside_a_request_is_checked() -> None:
    got = entries(("a", "a2", "r1"), ("a", "a1", "r1"), ("a", "a3", "r1"), ("b", "b1", "r1"))
    with pytest.raises(AssertionError, match=r"'a' arrived out of order.*within request r1"):
        verify_entries(got, EXPECTED)
    verify_entries(got, EXPECTED, order="none")


def test_concurrent_requests_may_arrive_in_any_order_unless_strict() -> None:
    got = entries(("a", "a3", "r2"), ("a", "a1", "r1"), ("a", "a2", "r1"), ("b", "b1", "r1"))
    verify_entries(got, EXPECTED)
    with pytest.raises(AssertionError, match="out of order"):
        verify_entries(got, EXPECTED, order="strict")


def test_duplicates_after_a_crash_do_not_break_order() -> None:
    # at-least-once: a2 is resent after a3 arrived; the first arrivals are in order
    got = entries(
        ("a", "a1", "r1"),
        ("a", "a2", "r1"),
        ("a", "a3", "r2"),
        ("a", "a2", "r3"),
        ("a", "a3", "r3"),
        ("b", "b1", "r3"),
    )
    assert verify_entries(got, EXPECTED, allow_duplicates=True, order="strict").duplicates == 2


def test_undecrypted_and_unencrypted_entries_fail() -> None:
    got = entries(("a", "a1", "r1"), ("a", "a2", "r1"), ("a", "a3", "r1"), ("b", "b1", "r1"))
    got[0]["payload_type"] = 3
    with pytest.raises(AssertionError, match="not sent encrypted"):
        verify_entries(got, EXPECTED)
    got[0]["payload_type"] = 1
    got.append({"request_id": "r9"})
    with pytest.raises(AssertionError, match="no decrypted payload"):
        verify_entries(got, EXPECTED)
