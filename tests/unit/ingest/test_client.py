"""Every outcome class of ``IngestClient.deliver`` over loopback, with virtual time.

The reference ingestor (in-process) answers, steered per request by a script of its own faults
(tests/support/scripted.py): what was slept is read from the ``FakeClock``, never measured.
Each test also checks that nothing was lost: every record is either in the ingestor's
decrypted entries or in the dead-letter file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from logflux_agent.clock import FakeClock
from logflux_agent.config.model import AgentConfig, EncryptionConfig, SenderConfig
from logflux_agent.devserver.options import Limits
from logflux_agent.ingest.client import IngestClient
from logflux_agent.observe import metrics
from tests.support.clientconfig import config, make_config, recs, status
from tests.support.scripted import GatedClock, ScriptedIngestor, batch_failures
from tests.support.wait import async_wait_until

DROP = {"close": True}  # accept the body, then close without answering


def counter(c: Any, **labels: str) -> float:
    target = c.labels(**labels) if labels else c
    return float(target._value.get())


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "state" / "dead-letter.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_accept_all(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        sent_before = counter(metrics.ENTRIES_SENT)
        try:
            report = await client.deliver(recs(25))
            assert client.readiness() == (True, "ready")
        finally:
            await client.close()
    assert (report.accepted, report.dead_lettered) == (25, 0)
    assert ing.messages() == [f"m-{i}" for i in range(25)]
    assert counter(metrics.ENTRIES_SENT) == sent_before + 25


async def test_partial_failure_resends_only_failed_entries_with_fresh_nonces(
    tmp_path: Path,
) -> None:
    async with ScriptedIngestor() as ing:
        ing.script = [batch_failures([1, 3], "decryption failed")]
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        try:
            report = await client.deliver(recs(5))
        finally:
            await client.close()
        all_nonces = ing.nonces()
    assert report.accepted == 5 and report.dead_lettered == 0
    assert sorted(ing.messages()) == [f"m-{i}" for i in range(5)]
    assert ing.parts_per_request() == [5, 2]
    assert len(set(all_nonces)) == len(all_nonces) == 7


async def test_partial_failure_twice_dead_letters_the_entry(tmp_path: Path) -> None:
    async with ScriptedIngestor(switches={"success_status": 200}) as ing:
        ing.script = [
            batch_failures([2], "invalid payload"),
            batch_failures([0], "invalid payload"),
        ]
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        try:
            report = await client.deliver(recs(4))
        finally:
            await client.close()
    assert (report.accepted, report.dead_lettered) == (3, 1)
    assert sorted(ing.messages()) == ["m-0", "m-1", "m-3"]
    [dl] = dead_letters(tmp_path)
    assert dl["message"] == "m-2" and dl["reason"] == "entry_failed"
    assert dl["error"] == "invalid payload" and dl["status"] == 200


async def test_partial_failure_transient_is_retried_not_dead_lettered(tmp_path: Path) -> None:
    transient = batch_failures([0], "storage temporarily unavailable")
    async with ScriptedIngestor() as ing:
        ing.script = [transient] * 3
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        try:
            report = await client.deliver(recs(2))
        finally:
            await client.close()
    assert (report.accepted, report.dead_lettered) == (2, 0)
    assert sorted(ing.messages()) == ["m-0", "m-1"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"retry_after": 7}, 7.0),
        ({"retry_after": 30, "retry_after_date": True}, 30.0),
        ({"code": "rate_limited", "retry_after_body": 12}, 12.0),
        ({}, 60.0),
    ],
)
async def test_429_waits_retry_after_and_is_not_a_retry(
    tmp_path: Path, answer: dict[str, Any], expected: float
) -> None:
    clock = FakeClock()
    async with ScriptedIngestor(clock=clock) as ing:  # an HTTP-date is of the same wall clock
        ing.script = [status(429, **answer)]
        client = IngestClient(config(tmp_path, ing), clock=clock)
        retries = counter(metrics.RETRIES)
        pauses = counter(metrics.RETRY_AFTER_PAUSES)
        try:
            report = await client.deliver(recs(3))
        finally:
            await client.close()
    assert report.accepted == 3 and ing.messages() == ["m-0", "m-1", "m-2"]
    assert clock.sleeps == [pytest.approx(expected, abs=1.0)]
    assert counter(metrics.RETRIES) == retries
    assert counter(metrics.RETRY_AFTER_PAUSES) == pauses + 1


async def test_429_pauses_all_senders(tmp_path: Path) -> None:
    clock = GatedClock(gate_at=5)
    async with ScriptedIngestor() as ing:
        ing.script = [status(429, retry_after=7)]
        client = IngestClient(config(tmp_path, ing), clock=clock)
        await client.start()
        first = asyncio.create_task(client.deliver(recs(2, "a")))
        await async_wait_until(lambda: clock.waiting == 1, 10, message="A paused")
        second = asyncio.create_task(client.deliver(recs(2, "b")))
        await async_wait_until(lambda: clock.waiting == 2, 10, message="B paused too")
        assert len(ing.ingest_requests()) == 1, "B must not send while the gate is closed"
        assert clock.sleeps[:2] == [7, pytest.approx(7)]
        clock.release()
        reports = await asyncio.gather(first, second)
        await client.close()
    assert [r.accepted for r in reports] == [2, 2]
    assert sorted(ing.messages()) == ["a-0", "a-1", "b-0", "b-1"]


async def test_5xx_backoff_with_jitter_then_success_fresh_nonce_per_retry(tmp_path: Path) -> None:
    clock = FakeClock()
    async with ScriptedIngestor() as ing:
        ing.script = [status(500), status(503), status(502), status(504)]
        client = IngestClient(
            config(
                tmp_path,
                ing,
                retry_initial_delay=1.0,
                retry_max_delay=3.0,
                retry_backoff_factor=2.0,
            ),
            clock=clock,
        )
        retries = counter(metrics.RETRIES)
        try:
            report = await client.deliver(recs(3))
        finally:
            await client.close()
        used = ing.nonces()
    assert report.accepted == 3
    assert len(clock.sleeps) == 4
    for delay, cap in zip(clock.sleeps, [1.0, 2.0, 3.0, 3.0], strict=True):
        assert 0 <= delay <= cap
    assert counter(metrics.RETRIES) == retries + 4
    assert len(used) == 15 and len(set(used)) == 15  # 5 attempts x 3 parts, all distinct


async def test_connection_dropped_is_retried(tmp_path: Path) -> None:
    clock = FakeClock()
    async with ScriptedIngestor() as ing:
        ing.script = [DROP, DROP]
        client = IngestClient(config(tmp_path, ing), clock=clock)
        failures = counter(metrics.SEND_FAILURES, reason="connection")
        try:
            report = await client.deliver(recs(2))
        finally:
            await client.close()
    assert report.accepted == 2 and sorted(ing.messages()) == ["m-0", "m-1"]
    assert len(clock.sleeps) == 2
    assert counter(metrics.SEND_FAILURES, reason="connection") == failures + 2


async def test_connection_refused_is_retried_until_the_ingestor_is_back(tmp_path: Path) -> None:
    clock = FakeClock()
    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing), clock=clock)
        await client.start()
        session_base = client.info().base_url
        client.sessions.current.base_url = "http://127.0.0.1:1"  # type: ignore[union-attr]
        task = asyncio.create_task(client.deliver(recs(1)))
        await async_wait_until(lambda: len(clock.sleeps) >= 3, 10, message="retries")
        assert not task.done()
        client.sessions.current.base_url = session_base  # type: ignore[union-attr]
        report = await task
        await client.close()
    assert report.accepted == 1


async def test_401_rehandshakes_once_and_resends(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        ing.script = [status(401, code="invalid_key_id")]
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        rotated = counter(metrics.SESSIONS_ROTATED, reason="refused")
        try:
            first = (await client.start()).key_id
            report = await client.deliver(recs(2))
            second = client.info().key_id
        finally:
            await client.close()
    assert report.accepted == 2 and ing.handshakes == 2 and first != second
    assert {e["key_id"] for e in ing.entries()} == {second}
    assert counter(metrics.SESSIONS_ROTATED, reason="refused") == rotated + 1


async def test_401_twice_means_not_ready_and_data_is_kept(tmp_path: Path) -> None:
    clock = GatedClock(gate_at=30)
    async with ScriptedIngestor() as ing:
        ing.script = [status(403), status(401)]
        client = IngestClient(config(tmp_path, ing), clock=clock)
        await client.start()
        task = asyncio.create_task(client.deliver(recs(3)))
        await async_wait_until(lambda: clock.waiting == 1, 10, message="slow retry")
        ready, reason = client.readiness()
        assert not ready and "refuses the API key" in reason and "eu-lf_****" in reason
        assert clock.sleeps[-1] == 60
        assert ing.entries() == [] and dead_letters(tmp_path) == []
        clock.release()
        report = await task
        assert client.readiness()[0]
        await client.close()
    assert report.accepted == 3 and ing.messages() == ["m-0", "m-1", "m-2"]


async def test_413_splits_in_halves_and_single_entry_is_dead_lettered(tmp_path: Path) -> None:
    big = os.urandom(1500).hex()  # its part body stays over 1000 bytes after gzip
    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        split = counter(metrics.BATCHES_SPLIT)
        batch = recs(8)
        batch[5] = batch[5]._replace(message=big)
        try:
            await client.start()
            # The ingestor now enforces a smaller entry limit than it advertised at the
            # handshake: every request holding the big entry gets 413 entry_too_large.
            ing.config(limits={"max_payload_size": 1000})
            report = await client.deliver(batch)
        finally:
            await client.close()
    assert (report.accepted, report.dead_lettered) == (7, 1)
    assert sorted(ing.messages()) == sorted(f"m-{i}" for i in range(8) if i != 5)
    [dl] = dead_letters(tmp_path)
    assert dl["message"] == big and dl["reason"] == "too_large" and dl["status"] == 413
    assert counter(metrics.BATCHES_SPLIT) == split + 3  # 8 → 4 → 2 → 1


async def test_other_4xx_isolates_the_bad_entry(tmp_path: Path) -> None:
    reject = status(422, code="unprocessable", message="nope")
    async with ScriptedIngestor() as ing:
        # The ingestor refuses every request holding entry 0: halving 5 entries, those are
        # the first three requests ([0-4], [0-1], [0]); the others are accepted.
        ing.script = [reject, reject, reject]
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        batch = recs(5)
        batch[0] = batch[0]._replace(message="bad")
        try:
            report = await client.deliver(batch)
        finally:
            await client.close()
    assert (report.accepted, report.dead_lettered) == (4, 1)
    [dl] = dead_letters(tmp_path)
    assert dl["reason"] == "rejected" and dl["status"] == 422 and "unprocessable" in dl["error"]
    assert dl["message"] == "bad" and len(ing.ingest_requests()) == 5


async def test_server_limits_pre_split_and_oversized_entries_never_sent(tmp_path: Path) -> None:
    limits = {"max_batch_size": 50, "max_payload_size": 600, "max_request_size": 2500}
    async with ScriptedIngestor(switches={"limits": Limits(**limits)}) as ing:
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        batch = recs(30)
        batch[7] = batch[7]._replace(message="x" * 2000)  # plaintext over max_payload_size
        try:
            report = await client.deliver(batch)
        finally:
            await client.close()
    assert (report.accepted, report.dead_lettered) == (29, 1)
    sizes = [len(r.body) for r in ing.ingest_requests()]
    assert len(sizes) > 1 and max(sizes) <= 2500
    assert "x" * 2000 not in ing.messages()
    assert sorted(ing.messages()) == sorted(r.message for i, r in enumerate(batch) if i != 7)
    [dl] = dead_letters(tmp_path)
    assert dl["reason"] == "too_large" and dl["status"] is None


async def test_507_stops_probes_slowly_and_keeps_data(tmp_path: Path) -> None:
    clock = GatedClock(gate_at=30)
    async with ScriptedIngestor() as ing:
        ing.script = [status(507, code="quota_exceeded"), status(507)]
        client = IngestClient(config(tmp_path, ing), clock=clock)
        task = asyncio.create_task(client.deliver(recs(2)))
        await async_wait_until(lambda: clock.waiting == 1, 10, message="storage probe")
        assert clock.sleeps[-1] == 60
        ready, reason = client.readiness()
        assert not ready and "507" in reason
        other = asyncio.create_task(client.deliver(recs(1, "late")))
        await async_wait_until(lambda: clock.waiting == 2, 10, message="others paused too")
        assert len(ing.ingest_requests()) == 1
        clock.gate_at = 1e9
        clock.release()
        await async_wait_until(lambda: task.done() and other.done(), 10, message="done")
        assert client.readiness() == (True, "ready")
        await client.close()
    assert 120 in clock.sleeps  # the second 507 doubled the probe interval
    assert sorted(ing.messages()) == ["late-0", "m-0", "m-1"]


async def test_sends_failing_longer_than_threshold_means_not_ready(tmp_path: Path) -> None:
    clock = FakeClock()
    seen: list[tuple[bool, str]] = []
    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing), clock=clock)

        def fail_then_look() -> dict[str, Any]:
            clock.advance(100)
            return status(503, code="unavailable")

        def look() -> None:
            seen.append(client.readiness())

        ing.script = [fail_then_look, fail_then_look, look]
        try:
            await client.deliver(recs(1))
        finally:
            await client.close()
    assert seen[0][0] is False and "sends failing for" in seen[0][1] and "503" in seen[0][1]
    assert client.readiness() == (True, "ready")


async def test_session_rotates_by_entry_count_without_losing_in_flight(tmp_path: Path) -> None:
    hold = asyncio.Event()
    held: list[int] = []

    async def hold_first() -> None:
        held.append(1)
        await hold.wait()

    async with ScriptedIngestor() as ing:
        ing.script = [hold_first]
        base = config(tmp_path, ing, max_in_flight=4)
        cfg = AgentConfig(
            **{
                **{f: getattr(base, f) for f in base.__dataclass_fields__},
                "encryption": EncryptionConfig(session_max_entries=5),
            }
        )
        client = IngestClient(cfg, clock=FakeClock())
        rotated = counter(metrics.SESSIONS_ROTATED, reason="entries")
        first = asyncio.create_task(client.deliver(recs(3, "a")))
        await async_wait_until(lambda: held, 10, message="first request held")
        old_key = client.info().key_id
        second = await client.deliver(recs(3, "b"))  # 3 + 3 > 5 → new handshake
        assert client.info().key_id != old_key
        hold.set()
        first_report = await first
        third = await client.deliver(recs(3, "c"))
        await client.close()
        used = ing.nonces()
    assert (first_report.accepted, second.accepted, third.accepted) == (3, 3, 3)
    assert sorted(ing.messages()) == sorted([f"{p}-{i}" for p in "abc" for i in range(3)])
    keys = [e["key_id"] for e in ing.entries()]
    assert old_key in keys and len(set(keys)) == 3
    assert counter(metrics.SESSIONS_ROTATED, reason="entries") == rotated + 2
    assert len(set(used)) == len(used)


async def test_session_rotates_by_age(tmp_path: Path) -> None:
    clock = FakeClock()
    async with ScriptedIngestor() as ing:
        base = config(tmp_path, ing)
        cfg = AgentConfig(
            **{
                **{f: getattr(base, f) for f in base.__dataclass_fields__},
                "encryption": EncryptionConfig(session_max_age=3600),
            }
        )
        client = IngestClient(cfg, clock=clock)
        try:
            await client.deliver(recs(1, "a"))
            clock.advance(3599)
            await client.deliver(recs(1, "b"))
            assert ing.handshakes == 1
            clock.advance(2)
            await client.deliver(recs(1, "c"))
            assert ing.handshakes == 2
        finally:
            await client.close()
    assert len({e["key_id"] for e in ing.entries()}) == 2


async def test_encoding_in_a_worker_process(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing, encode_workers=1), clock=FakeClock())
        try:
            reports = await asyncio.gather(*(client.deliver(recs(50, f"w{k}")) for k in range(3)))
        finally:
            await client.close()
        used = ing.nonces()
    assert [r.accepted for r in reports] == [50, 50, 50]
    assert len(ing.entries()) == 150 and len(set(used)) == 150


async def test_delivery_survives_a_killed_encode_worker(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing, encode_workers=1), clock=FakeClock())
        try:
            assert (await client.deliver(recs(20, "before"))).accepted == 20
            assert client.encoder.pool is not None
            (pid,) = client.encoder.pool.pids
            os.kill(pid, signal.SIGKILL)
            assert (await client.deliver(recs(20, "after"))).accepted == 20
        finally:
            await client.close()
    assert len(ing.entries()) == 40


async def test_deliver_nothing_is_a_no_op(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        report = await client.deliver([])
        await client.close()
    assert (report.accepted, report.dead_lettered) == (0, 0) and ing.requests == []


async def test_rediscovers_after_repeated_connection_failures(tmp_path: Path) -> None:
    clock = FakeClock()
    async with ScriptedIngestor() as ing:
        base = make_config(tmp_path, static_url=ing.url + "/?region={region}")
        cfg = AgentConfig(
            **{
                **{f: getattr(base, f) for f in base.__dataclass_fields__},
                "sender": SenderConfig(
                    encode_workers=0, retry_initial_delay=0.01, retry_max_delay=0.05
                ),
            }
        )
        client = IngestClient(cfg, clock=clock)
        try:
            assert (await client.start()).discovered_via == "static"
            # the cached ingestor goes away (simulated: the session points at a dead port)
            client.sessions.current.base_url = "http://127.0.0.1:1"  # type: ignore[union-attr]
            report = await client.deliver(recs(2))
        finally:
            await client.close()
    assert report.accepted == 2
    assert len([r for r in ing.requests if r.path == "/"]) == 2  # discovery ran again
    assert ing.handshakes == 2 and len(clock.sleeps) == 5


async def test_a_batch_prepared_before_a_new_handshake_is_encoded_again_under_the_new_key(
    tmp_path: Path,
) -> None:
    async with ScriptedIngestor() as ing:
        client = IngestClient(config(tmp_path, ing), clock=FakeClock())
        try:
            prepared = await client.prepare(recs(3))
            old = client.info().key_id
            assert client.sessions.current is not None
            client.sessions.refused(client.sessions.current)  # e.g. a 401 on another batch
            await client.sessions.session_for(3)  # ... and its re-handshake
            new = client.info().key_id
            report = await prepared.send()
        finally:
            await client.close()
    assert new != old and report.accepted == 3
    assert {e["key_id"] for e in ing.entries()} == {new}
    assert len(ing.ingest_requests()) == 1  # nothing was sent under the refused key
