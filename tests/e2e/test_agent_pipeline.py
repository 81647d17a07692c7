"""The real agent process against the real reference ingestor: drain, outage, kill -9, reload.

These are the pipeline's promises, checked from outside: every line written arrives decrypted,
in order per source; duplicates appear only where at-least-once allows (after a crash); memory
stays under the documented bound while the ingestor is down.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.agentproc import AgentProcess, verify_pooled
from tests.support.e2e import metric, write_lines
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until
from tests.support.writer import LineWriter

MiB = 1024 * 1024


def file_input(path: Path, **extra: Any) -> dict[str, Any]:
    return {"type": "file", "id": "app", "paths": [str(path)], "start_at": "beginning", **extra}


def make_agent(
    tmp_path: Path, ingestor: RefIngestor, inputs: list[dict[str, Any]], **extra: Any
) -> AgentProcess:
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=inputs,
        extra=extra,
    )


def test_sigterm_drains_everything_already_read_then_exits_0(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    lines = write_lines(log, "drain", 3000)
    ref_ingestor.faults(delay=0.5, count=1000)
    agent = make_agent(
        tmp_path,
        ref_ingestor,
        [file_input(log)],
        sender={"batch_max_entries": 200, "max_in_flight": 2},
    )
    agent.start()
    try:
        agent.wait_for_event("session.ready")
        wait_until(
            lambda: metric(agent, "logflux_agent_input_entries_total") >= 3000,
            30,
            message="the agent to have read every line",
        )
        assert len(ref_ingestor.entries()) < 3000, "the test needs entries still in flight"
        assert agent.terminate(timeout=60) == 0
    finally:
        agent.stop()
    ref_ingestor.verify({str(log): lines}, allow_duplicates=False)


def test_outage_5xx_refused_429_loses_nothing_and_memory_stays_bounded(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    queue = {"max_entries": 4000, "max_bytes": 2 * MiB}
    sender = {
        "batch_max_entries": 500,
        "batch_max_bytes": 256 * 1024,
        "max_in_flight": 2,
        "retry_max_delay": 0.3,
    }
    agent = make_agent(
        tmp_path,
        ref_ingestor,
        [file_input(log, read_chunk_bytes=65536)],
        queue=queue,
        sender=sender,
    )
    writer = LineWriter(log, prefix="outage", rate=20000, pad=150)
    agent.start()
    try:
        agent.wait_for_event("session.ready")
        # Warm up first, so the encode worker and connection pools exist in the baseline.
        warm = write_lines(log, "warm", 2000)
        ref_ingestor.wait_for_entries(2000)
        baseline = agent.rss_bytes()
        writer.start()
        peak = 0

        def sample() -> None:
            nonlocal peak
            peak = max(peak, agent.rss_bytes())

        ref_ingestor.faults(status=503, count=10**6)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            sample()
            time.sleep(0.1)
        ref_ingestor.stop()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            sample()
            time.sleep(0.1)
        ref_ingestor.restart()
        ref_ingestor.faults(status=429, retry_after=1, count=3)
        written = writer.stop()
        sample()
        assert len(written) > 50_000, "the writer must outrun the queue"
        # docs/pipeline.md: queue + (in-flight + 1) x 2 batches + 2 read chunks + the worker's
        # 2 batches, over the warmed-up baseline; 16 MiB of slack for allocator fragmentation.
        bound = (
            baseline
            + queue["max_bytes"]
            + (2 + 1) * 2 * sender["batch_max_bytes"]
            + 2 * 65536
            + 2 * sender["batch_max_bytes"]
            + 16 * MiB
        )
        assert peak < bound, f"RSS peaked at {peak / MiB:.1f} MiB, bound {bound / MiB:.1f} MiB"
        ref_ingestor.wait_for_entries(len(warm) + len(written), timeout=120)
    finally:
        agent.stop()
        writer.stop()
    ref_ingestor.verify({str(log): warm + written}, allow_duplicates=False)


def test_kill9_loop_with_out_of_order_completions_loses_nothing(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    rng = random.Random(1234)
    sender = {"batch_max_entries": 100, "max_in_flight": 4}
    queue = {"max_entries": 2000}
    # Rotated files are part of the glob, as they must be in production: a file rotated while
    # the agent was down is found again by its identity and finished from its checkpoint.
    agent = make_agent(
        tmp_path, ref_ingestor, [file_input(tmp_path / "app.log*")], sender=sender, queue=queue
    )
    writer = LineWriter(log, prefix="kill", rate=5000, rotate_every=7000)
    writer.start()
    kills = 0
    try:
        for _ in range(10):
            # Random per-request delays make later requests finish before earlier ones.
            ref_ingestor.faults(delay_random=0.2, count=10**6)
            agent.start()
            before = len(ref_ingestor.entries())
            wait_until(
                lambda b=before: len(ref_ingestor.entries()) > b + 200,
                60,
                message="progress before the kill",
            )
            time.sleep(rng.uniform(0.0, 0.3))  # a random instant in the middle of sending
            agent.kill9()
            kills += 1
        written = writer.stop()
        ref_ingestor.reset_faults()
        agent.start()
        ref_ingestor.wait_for_entries(len(written), timeout=120, distinct=True)
        agent.terminate()
    finally:
        writer.stop()
        agent.stop()
    report = verify_pooled(ref_ingestor.entries(), written, allow_duplicates=True)
    window = sender["max_in_flight"] * sender["batch_max_entries"] + queue["max_entries"] + 2000
    assert report.duplicates <= kills * window


def test_sighup_applies_a_valid_config_and_keeps_running_on_an_invalid_one(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    lines_a = write_lines(a, "a", 500)
    agent = make_agent(tmp_path, ref_ingestor, [file_input(a)])
    agent.start()
    try:
        ref_ingestor.wait_for_entries(500)
        doc = yaml.safe_load(agent.config_path.read_text())
        doc["inputs"].append(
            {"type": "file", "id": "b", "paths": [str(b)], "start_at": "beginning"}
        )
        agent.write_config(doc)
        lines_b = write_lines(b, "b", 300)
        agent.signal(signal.SIGHUP)
        agent.wait_for_event("reload.applied")
        lines_a += write_lines(a, "a", 200, start=500)
        ref_ingestor.wait_for_entries(1000)

        agent.config_path.write_text("inputs: [{type: file}]\nbogus_key: 1\n")
        agent.signal(signal.SIGHUP)
        rejected = agent.wait_for_event("reload.rejected")
        assert "bogus_key" in str(rejected)
        lines_b += write_lines(b, "b", 100, start=300)
        ref_ingestor.wait_for_entries(1100)
        assert agent.alive()
        assert agent.terminate() == 0
    finally:
        agent.stop()
    ref_ingestor.verify({str(a): lines_a, str(b): lines_b}, allow_duplicates=False)


@pytest.mark.parametrize(
    "ingestor_args", [["--max-batch-size", "37", "--max-request-size", "20000"]]
)
def test_server_limits_from_the_handshake_are_obeyed(
    tmp_path: Path, ingestor_args: list[str]
) -> None:
    log = tmp_path / "app.log"
    lines = write_lines(log, "limits", 2000)
    with RefIngestor(args=ingestor_args) as ingestor:
        agent = make_agent(tmp_path, ingestor, [file_input(log)])
        agent.start()
        try:
            ingestor.wait_for_entries(2000)
        finally:
            agent.stop()
        stats = ingestor.stats()
        assert stats["status"].get("413", 0) == 0
        ingestor.verify({str(log): lines}, allow_duplicates=False)
