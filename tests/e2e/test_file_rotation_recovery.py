"""Rotation cases beyond following a path, through the real agent: copytruncate with the copy
next to the file, and rename rotations while the agent was stopped (inputs/file/rotation.py)."""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.agentproc import AgentProcess, verify_pooled
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until


def agent_for(
    tmp_path: Path, ingestor: RefIngestor, paths: list[str], *, metrics: bool = False, **extra: Any
) -> AgentProcess:
    inputs = [
        {
            "type": "file",
            "id": "app",
            "paths": paths,
            "start_at": "beginning",
            "read_chunk_bytes": 4096,
            **extra,
        }
    ]
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=inputs,
        extra={"queue": {"max_entries": 500}, "sender": {"batch_max_entries": 100}},
        metrics=metrics,
    )


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(f"{line}\n" for line in lines))


def copytruncate(log: Path, copy: Path) -> None:
    shutil.copyfile(log, copy)
    with open(log, "r+") as fh:
        fh.truncate(0)


def blocked(agent: AgentProcess, ingestor: RefIngestor, log: Path, before: list[str]) -> None:
    """Start the agent, let it ship a little, then hold every request (an outage) until the
    input is blocked with most of ``before`` still unread in ``log`` (the queue holds 500)."""
    append(log, before[:1000])
    agent.start()
    ingestor.wait_for_entries(1000, timeout=60)
    ingestor.faults(status=503, count=1_000_000, retry_after=None)
    append(log, before[1000:])


@pytest.mark.parametrize("glob", ["app.log*", "app.log"], ids=["copy-in-glob", "copy-beside"])
def test_copytruncate_during_an_outage_loses_nothing_when_the_copy_is_beside_it(
    tmp_path: Path, ref_ingestor: RefIngestor, glob: str
) -> None:
    # Before: the unread rest of the truncated generation was lost (8,029 lines in the fault
    # run; here 19,000 of 20,000 written during the outage). Now it is read from the copy.
    log = tmp_path / "app.log"
    log.touch()
    before = [f"gen1-{n:06d}" for n in range(20_000)]
    after = [f"gen2-{n:06d}" for n in range(2_000)]
    agent = agent_for(tmp_path, ref_ingestor, [str(tmp_path / glob)])
    try:
        blocked(agent, ref_ingestor, log, before)
        copytruncate(log, tmp_path / "app.log.1")
        append(log, after)
        ref_ingestor.reset_faults()
        ref_ingestor.wait_for_entries(len(before) + len(after), timeout=60, distinct=True)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert not [e for e in agent.events() if e.get("event") == "file.truncated_unread"]
    verify_pooled(ref_ingestor.entries(), before + after, allow_duplicates=False)


def test_copytruncate_without_a_copy_beside_it_warns_with_the_lost_range_and_counts_it(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    log.touch()
    (tmp_path / "archive").mkdir()
    before = [f"gen1-{n:06d}" for n in range(20_000)]
    after = [f"gen2-{n:06d}" for n in range(2_000)]
    agent = agent_for(tmp_path, ref_ingestor, [str(log)], metrics=True)
    try:
        blocked(agent, ref_ingestor, log, before)
        size = log.stat().st_size
        copytruncate(log, tmp_path / "archive" / "app.log.1")
        append(log, after)
        ref_ingestor.reset_faults()
        event = agent.wait_for_event("file.truncated_unread")
        ref_ingestor.wait_for_entries(len(after), timeout=60)
        url = f"http://127.0.0.1:{agent.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert event["path"] == str(log)
    assert 0 < event["lost_from"] < event["lost_to"] <= size
    assert 'logflux_agent_input_errors_total{input="app",reason="truncated_unread"} 1.0' in text


def test_two_rename_rotations_while_stopped_outside_the_glob_lose_nothing(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    # Before: with paths [app.log], the unread rest of generation 1 and all of generation 2
    # were never read (26,856 of 85,000 lines in the fault run; here 2,000 of 4,000).
    log = tmp_path / "app.log"
    gen1 = [f"gen1-{n:06d}" for n in range(2_000)]
    gen2 = [f"gen2-{n:06d}" for n in range(1_000)]
    gen3 = [f"gen3-{n:06d}" for n in range(1_000)]
    append(log, gen1[:1000])
    agent = agent_for(tmp_path, ref_ingestor, [str(log)])
    agent.start()
    try:
        ref_ingestor.wait_for_entries(1000, timeout=60)
        wait_until(
            lambda: any(
                v.get("offset") == log.stat().st_size for v in agent.checkpoints().values()
            ),
            30,
            message="the checkpoint to reach the end of the file",
        )
        assert agent.terminate() == 0
        append(log, gen1[1000:])
        os.rename(log, tmp_path / "app.log.1")
        append(log, gen2)
        os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")
        os.rename(log, tmp_path / "app.log.1")
        append(log, gen3)
        agent.start()
        ref_ingestor.wait_for_entries(4000, timeout=60, distinct=True)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    # In order, once each: the rest of gen1, then gen2, then gen3 (all under app.log's name).
    ref_ingestor.verify({str(log): gen1 + gen2 + gen3}, allow_duplicates=False, order="strict")
