"""Backoff with full jitter, Retry-After parsing, the shared pause gate, the dead-letter file."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import stat
from pathlib import Path

from logflux_agent.clock import FakeClock
from logflux_agent.ingest.deadletter import DeadLetters
from logflux_agent.ingest.retry import Backoff, PauseGate, parse_retry_after
from logflux_agent.observe import metrics
from logflux_agent.record import Record


def test_backoff_full_jitter_is_bounded_by_the_exponential_cap() -> None:
    backoff = Backoff(0.5, 30.0, 2.0, rng=random.Random(1))
    caps = [min(0.5 * 2**n, 30.0) for n in range(12)]
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert max(delays[8:]) > 5  # it does grow (seeded)
    backoff.reset()
    assert backoff.attempt == 0 and backoff.next_delay() <= 0.5
    assert Backoff(0.5, 30.0, 2.0).cap(10_000) == 30.0


def test_backoff_sanitises_bad_settings() -> None:
    b = Backoff(0, 0, 1.0)
    assert b.initial == 1.0 and b.factor == 2.0 and b.maximum == 1.0


def test_retry_after_seconds_date_body_and_default() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("7", None, now) == 7.0
    assert parse_retry_after(" 0 ", None, now) == 0.0
    date = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after(date, None, now) == 42.0
    assert parse_retry_after(email.utils.formatdate(now - 5, usegmt=True), None, now) == 0.0
    assert parse_retry_after(None, {"error": {"retry_after": 12}}, now) == 12.0
    assert parse_retry_after("garbage", {"error": {"retry_after": 3}}, now) == 3.0
    assert parse_retry_after(None, None, now) == 60.0
    assert parse_retry_after("-1", None, now) == 60.0
    assert parse_retry_after("999999999", None, now) == 3600.0


async def test_pause_gate_holds_every_waiter_until_the_deadline() -> None:
    clock = FakeClock()
    gate = PauseGate(clock)
    await gate.wait()
    assert clock.sleeps == []
    gate.pause_until(clock.monotonic() + 10, "429")
    gate.pause_until(clock.monotonic() + 3, "shorter does not shorten")
    assert gate.remaining() == 10 and gate.reason == "429"
    await asyncio.gather(gate.wait(), gate.wait())
    assert clock.monotonic() >= 10
    assert clock.sleeps[0] == 10


def rec(message: str, source: str = "/var/log/a.log") -> Record:
    return Record(
        message=message, timestamp=1_800_000_000.25, level=4, source=source, attributes={}
    )


def test_dead_letter_lines_fields_and_metric(tmp_path: Path) -> None:
    before = metrics.DEAD_LETTERED.labels(reason="too_large")._value.get()
    dl = DeadLetters(str(tmp_path / "state"), 1 << 20, FakeClock())
    dl.write(
        [rec("one"), rec("two ünï")],
        reason="too_large",
        status=413,
        error="payload too large for eu-lf_abcdefghijklmnop",
    )
    lines = (tmp_path / "state" / "dead-letter.jsonl").read_text("utf-8").splitlines()
    docs = [json.loads(line) for line in lines]
    assert [d["message"] for d in docs] == ["one", "two ünï"]
    assert docs[0]["reason"] == "too_large" and docs[0]["status"] == 413
    assert docs[0]["source"] == "/var/log/a.log"
    assert docs[0]["timestamp"] == "2027-01-15T08:00:00.250000Z"
    assert "abcdefghijklmnop" not in docs[0]["error"]
    mode = stat.S_IMODE(os.stat(tmp_path / "state" / "dead-letter.jsonl").st_mode)
    assert mode == 0o600
    assert metrics.DEAD_LETTERED.labels(reason="too_large")._value.get() == before + 2


def test_dead_letter_file_is_size_capped_by_rotation(tmp_path: Path) -> None:
    dl = DeadLetters(str(tmp_path), 8192, FakeClock())
    for i in range(200):
        dl.write([rec(f"message {i:04d} " + "x" * 100)], reason="rejected", status=400, error="bad")
    main = tmp_path / "dead-letter.jsonl"
    rotated = tmp_path / "dead-letter.jsonl.1"
    assert main.stat().st_size <= 8192 and rotated.stat().st_size <= 8192
    last = json.loads(main.read_text().splitlines()[-1])
    assert last["message"].startswith("message 0199")
    # a single huge entry is truncated to fit rather than breaking the cap
    dl.write([rec("y" * 100_000)], reason="too_large", status=None, error="big")
    assert main.stat().st_size <= 8192
    assert json.loads(main.read_text().splitlines()[-1])["truncated"] is True


def test_dead_letter_write_failure_is_logged_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    dl = DeadLetters(str(blocker / "sub"), 1 << 20, FakeClock())
    dl.write([rec("lost")], reason="rejected", status=400, error="x")
    assert dl.written == 0
