"""protocol.md §4's status table, row by row, against the pure ``classify`` (no network)."""

from __future__ import annotations

import email.utils
import json
from typing import Any

import pytest

from logflux_agent.ingest.outcome import (
    UNLISTED_ERROR,
    Backoff,
    Delivered,
    Outcome,
    PartFailure,
    Partial,
    QuotaPaused,
    Rehandshake,
    Rejected,
    RetryAfter,
    Split,
    classify,
    error_text,
    is_transient,
    transport_failure,
)

NOW = 1_800_000_000.0


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def envelope(code: str, message: str = "", **extra: Any) -> bytes:
    err: dict[str, Any] = {"code": code, **extra}
    if message:
        err["message"] = message
    return body({"status": "error", "error": err, "request_id": "r-1"})


def batch(parts: int, failures: list[dict[str, Any]] | None = None, failed: int = 0) -> bytes:
    failures = failures or []
    return body(
        {
            "status": "success",
            "data": {
                "success": not failures,
                "total": parts,
                "succeeded": parts - (failed or len(failures)),
                "failed": failed or len(failures),
                "failures": failures,
            },
        }
    )


def run(
    status: int,
    payload: bytes = b"",
    headers: dict[str, str] | None = None,
    parts: int = 3,
    truncated: bool = False,
) -> Outcome:
    return classify(status, headers or {}, payload, parts=parts, now_wall=NOW, truncated=truncated)


# -- 2xx: commit ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 207])
def test_2xx_without_failures_is_delivered(status: int) -> None:
    assert run(status, batch(3)) == Delivered()


@pytest.mark.parametrize(
    "payload", [b"", b"not json", body({"status": "success"}), body([1, 2]), body({"data": 7})]
)
def test_2xx_with_no_batch_envelope_is_delivered(payload: bytes) -> None:
    assert run(202, payload) == Delivered()


def test_2xx_with_listed_failures_is_partial_with_retryable_and_permanent_reasons() -> None:
    got = run(
        200,
        batch(
            5,
            [
                {"index": 3, "error": "bad json"},
                {"index": 1, "error": "storage temporarily unavailable"},
            ],
        ),
        parts=5,
    )
    assert got == Partial(
        (
            PartFailure(1, "storage temporarily unavailable", retryable=True),
            PartFailure(3, "bad json", retryable=False),
        )
    )
    assert isinstance(got, Partial) and got.indexes == (1, 3)


def test_2xx_failure_without_error_text_is_a_permanent_entry_failure() -> None:
    assert run(207, batch(2, [{"index": 0}]), parts=2) == Partial(
        (PartFailure(0, "entry failed", retryable=False),), status=207
    )


def test_2xx_failed_count_without_indexes_resends_every_part() -> None:
    got = run(200, batch(3, failed=2), parts=3)
    assert got == Partial(
        tuple(PartFailure(i, UNLISTED_ERROR, False) for i in range(3)), unlisted=2
    )


def test_2xx_failure_indexes_outside_the_request_are_reported_not_applied() -> None:
    failures: list[dict[str, Any]] = [{"index": 9}, {"index": -1}, {"index": True}, "junk"]
    payload = body({"status": "success", "data": {"failed": 0, "failures": failures}})
    assert run(200, payload, parts=2) == Delivered(invalid_indexes=("9", "-1", "True"))
    # ... and when the count says some failed but none is usable, every part is resent
    got = run(200, batch(2, failures), parts=2)
    assert isinstance(got, Partial) and got.indexes == (0, 1) and got.unlisted == 4


def test_2xx_truncated_body_is_delivered() -> None:
    assert run(200, batch(2, [{"index": 0}]), parts=2, truncated=True) == Delivered()


@pytest.mark.parametrize(
    ("text", "transient"),
    [
        ("timeout talking to storage", True),
        ("Request timed out", True),
        ("Service Unavailable", True),
        ("temporarily overloaded", True),
        ("please try again", True),
        ("retry later", True),
        ("server busy", True),
        ("internal error", True),
        ("decryption failed", False),
        ("invalid payload", False),
    ],
)
def test_partial_failure_reason_is_retryable_only_when_it_says_later(
    text: str, transient: bool
) -> None:
    assert is_transient(text) is transient


# -- 429: pause all senders for Retry-After -----------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "payload", "seconds"),
    [
        ({"Retry-After": "7"}, b"", 7.0),
        ({"retry-after": " 0 "}, b"", 0.0),
        ({"Retry-After": email.utils.formatdate(NOW + 42, usegmt=True)}, b"", 42.0),
        ({"Retry-After": email.utils.formatdate(NOW - 42, usegmt=True)}, b"", 0.0),
        ({}, envelope("rate_limited", retry_after=12), 12.0),
        ({"Retry-After": "soon"}, envelope("rate_limited", retry_after=5), 5.0),
        ({"Retry-After": "9"}, envelope("rate_limited", retry_after=5), 9.0),
        ({}, b"", 60.0),
        ({"Retry-After": "soon"}, b"", 60.0),
        ({}, envelope("rate_limited", retry_after=-3), 60.0),
        ({"Retry-After": "999999"}, b"", 3600.0),
    ],
)
def test_429_waits_retry_after_seconds_date_or_body(
    headers: dict[str, str], payload: bytes, seconds: float
) -> None:
    got = run(429, payload, headers)
    assert isinstance(got, RetryAfter) and got.status == 429
    assert got.seconds == pytest.approx(seconds, abs=1.0)


def test_429_carries_the_error_text() -> None:
    assert run(429, envelope("rate_limited", "slow down")) == RetryAfter(
        60.0, "rate_limited: slow down"
    )


# -- 5xx, other statuses and no answer: backoff -------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_5xx_backs_off(status: int) -> None:
    assert run(status, envelope("unavailable")) == Backoff("5xx", "unavailable", status)


@pytest.mark.parametrize("status", [100, 301, 304])
def test_unexpected_status_backs_off(status: int) -> None:
    got = run(status)
    assert got == Backoff("other", "", status) and not got.transport


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("timeout", "timeout"),
        ("refused", "connection"),
        ("dns", "connection"),
        ("tls", "connection"),
    ],
)
def test_no_answer_backs_off(kind: str, reason: str) -> None:
    got = transport_failure(kind, "no answer")
    assert got == Backoff(reason, "no answer", kind=kind) and got.transport


# -- 507: stop sending, keep data, probe slowly --------------------------------------------------


def test_507_pauses_for_quota() -> None:
    got = run(507, envelope("quota_exceeded"))
    assert got == QuotaPaused("quota_exceeded") and got.status == 507


# -- 413 / 400 / other 4xx: split, or dead-letter a single entry --------------------------------


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_4xx_for_several_parts_splits(status: int) -> None:
    assert run(status, envelope("nope"), parts=2) == Split(status, "nope")


@pytest.mark.parametrize(
    ("status", "reason"),
    [(413, "too_large"), (400, "bad_request"), (404, "rejected"), (422, "rejected")],
)
def test_4xx_for_one_part_is_rejected_with_reason(status: int, reason: str) -> None:
    assert run(status, envelope("nope", "really"), parts=1) == Rejected(
        status, reason, "nope: really"
    )


# -- 401 / 403: re-handshake once -------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_rehandshakes(status: int) -> None:
    assert run(status, envelope("invalid_key_id"), parts=1) == Rehandshake(status, "invalid_key_id")


# -- error text --------------------------------------------------------------------------------


def test_error_text_prefers_the_envelope_then_message_then_the_body_start() -> None:
    assert error_text(json.loads(envelope("c", "m", details="d")), b"") == "c: m: d"
    assert error_text({"message": "plain"}, b"") == "plain"
    assert (
        error_text(None, b"<html>\n  gateway   timeout</html>") == "<html> gateway timeout</html>"
    )
    assert len(error_text(None, b"x" * 5000)) == 200


def test_error_text_masks_api_keys() -> None:
    leaked = envelope("bad_key", "key eu-lf_supersecretvalue123 refused")
    got = run(401, leaked)
    assert isinstance(got, Rehandshake)
    assert "supersecret" not in got.error and "eu-lf_****e123" in got.error


def test_a_success_carries_the_request_id_from_the_body_else_the_header() -> None:
    from logflux_agent.ingest.outcome import classify

    body = json.dumps({"status": "success", "request_id": "rq-body", "data": {"failed": 0}})
    got = classify(202, {"X-Request-ID": "rq-head"}, body.encode(), parts=1, now_wall=0.0)
    assert isinstance(got, Delivered) and got.request_id == "rq-body"
    got = classify(202, {"x-request-id": "rq-head"}, b"", parts=1, now_wall=0.0)
    assert isinstance(got, Delivered) and got.request_id == "rq-head"
    assert classify(200, {}, b"", parts=1, now_wall=0.0) == Delivered()
    partial = json.dumps(
        {"request_id": "rq-p", "data": {"failed": 1, "failures": [{"index": 0, "error": "bad"}]}}
    )
    got = classify(200, {}, partial.encode(), parts=2, now_wall=0.0)
    assert isinstance(got, Partial) and got.request_id == "rq-p"
