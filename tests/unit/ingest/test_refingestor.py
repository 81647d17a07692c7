"""The client against the independent reference ingestor (a subprocess) for each outcome class.

The reference ingestor decrypts and validates every part on its own code path (it shares
nothing with ingest/); ``verify`` checks every line arrived exactly once, in order, and that
nothing else arrived. Time is virtual: what the client slept is read from the FakeClock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from logflux_agent.clock import FakeClock
from logflux_agent.config.model import AgentConfig, SenderConfig
from logflux_agent.credentials import parse_api_key
from logflux_agent.ingest.client import IngestClient
from logflux_agent.observe import metrics
from logflux_agent.record import Record


def client_for(ing: Any, tmp_path: Path, clock: FakeClock, **sender: Any) -> IngestClient:
    cfg = AgentConfig(
        api_key=parse_api_key(ing.api_key),
        endpoint=ing.url,
        state_dir=str(tmp_path / "s"),
        sender=SenderConfig(
            **{"encode_workers": 0, "retry_initial_delay": 0.01, "retry_max_delay": 0.05, **sender}
        ),
    )
    return IngestClient(cfg, clock=clock)


def lines(source: str, n: int) -> list[Record]:
    return [
        Record(
            message=f"{source} line {i:05d}",
            timestamp=1_800_000_000.0 + i / 10,
            level=7,
            source=source,
            attributes={"env": "test"},
        )
        for i in range(n)
    ]


def value(metric: Any, **labels: str) -> float:
    return float((metric.labels(**labels) if labels else metric)._value.get())


async def deliver_all(client: IngestClient, batches: list[list[Record]]) -> None:
    try:
        reports = await asyncio.gather(*(client.deliver(b) for b in batches))
    finally:
        await client.close()
    assert [r.accepted for r in reports] == [len(b) for b in batches]
    assert all(r.dead_lettered == 0 for r in reports)


async def test_accept_two_sources_every_line_once(tmp_path: Path, ref_ingestor: Any) -> None:
    a, b = lines("/var/log/a.log", 300), lines("/var/log/b.log", 200)
    await deliver_all(client_for(ref_ingestor, tmp_path, FakeClock()), [a[:150], b, a[150:]])
    ref_ingestor.verify(
        {"/var/log/a.log": [r.message for r in a], "/var/log/b.log": [r.message for r in b]},
        allow_duplicates=False,
    )


async def test_5xx_then_success(tmp_path: Path, ref_ingestor: Any) -> None:
    clock = FakeClock()
    ref_ingestor.faults(status=503, count=3)
    batch = lines("src", 20)
    await deliver_all(client_for(ref_ingestor, tmp_path, clock), [batch])
    assert len(clock.sleeps) == 3 and all(s <= 0.05 for s in clock.sleeps)
    ref_ingestor.verify({"src": [r.message for r in batch]}, allow_duplicates=False)


async def test_429_retry_after_honoured(tmp_path: Path, ref_ingestor: Any) -> None:
    clock = FakeClock()
    ref_ingestor.faults(status=429, retry_after=7, count=1)
    batch = lines("src", 10)
    await deliver_all(client_for(ref_ingestor, tmp_path, clock), [batch])
    assert clock.sleeps == [pytest.approx(7, abs=1)]
    ref_ingestor.verify({"src": [r.message for r in batch]}, allow_duplicates=False)


async def test_401_rehandshake(tmp_path: Path, ref_ingestor: Any) -> None:
    rotated = value(metrics.SESSIONS_ROTATED, reason="refused")
    ref_ingestor.faults(status=401, count=1)
    batch = lines("src", 10)
    await deliver_all(client_for(ref_ingestor, tmp_path, FakeClock()), [batch])
    assert value(metrics.SESSIONS_ROTATED, reason="refused") == rotated + 1
    ref_ingestor.verify({"src": [r.message for r in batch]}, allow_duplicates=False)


async def test_413_split(tmp_path: Path, ref_ingestor: Any) -> None:
    split = value(metrics.BATCHES_SPLIT)
    ref_ingestor.faults(status=413, count=1)
    batch = lines("src", 16)
    await deliver_all(client_for(ref_ingestor, tmp_path, FakeClock()), [batch])
    assert value(metrics.BATCHES_SPLIT) == split + 1
    ref_ingestor.verify({"src": [r.message for r in batch]}, allow_duplicates=False)


async def test_507_probe_then_delivered(tmp_path: Path, ref_ingestor: Any) -> None:
    clock = FakeClock()
    ref_ingestor.faults(status=507, count=1)
    batch = lines("src", 5)
    await deliver_all(client_for(ref_ingestor, tmp_path, clock), [batch])
    assert clock.sleeps == [60]
    ref_ingestor.verify({"src": [r.message for r in batch]}, allow_duplicates=False)


async def test_worker_process_encoding_and_concurrency(tmp_path: Path, ref_ingestor: Any) -> None:
    batches = [lines(f"s{k}", 250) for k in range(4)]
    client = client_for(ref_ingestor, tmp_path, FakeClock(), encode_workers=1, max_in_flight=4)
    await deliver_all(client, batches)
    ref_ingestor.verify(
        {f"s{k}": [r.message for r in batches[k]] for k in range(4)}, allow_duplicates=False
    )
