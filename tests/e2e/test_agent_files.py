"""The file input through the real agent: rotation under load, restarts, inode reuse."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.support.agentproc import AgentProcess, verify_pooled
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until
from tests.support.writer import LineWriter


def agent_for(
    tmp_path: Path, ingestor: RefIngestor, paths: list[str], **input_extra: Any
) -> AgentProcess:
    inputs = [{"type": "file", "id": "app", "paths": paths, "start_at": "beginning", **input_extra}]
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=inputs,
        metrics=False,
    )


def test_rename_rotation_at_high_rate_delivers_every_line_exactly_once(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    log.touch()
    # Rotated names are in the glob: at this rate a file can be rotated away before the agent
    # has opened it, and then only its new name can find it (as with every log shipper).
    agent = agent_for(tmp_path, ref_ingestor, [str(tmp_path / "app.log*")])
    agent.start()
    writer = LineWriter(log, prefix="rot", rate=40_000, total=120_000, rotate_every=15_000)
    try:
        agent.wait_for_event("session.ready")
        writer.start()
        writer.join(timeout=120)
        written = writer.written
        assert writer.rotations >= 7
        ref_ingestor.wait_for_entries(len(written), timeout=120)
        assert agent.terminate() == 0
    finally:
        writer.stop()
        agent.stop()
    verify_pooled(ref_ingestor.entries(), written, allow_duplicates=False)


def test_restart_resumes_after_the_committed_offset(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    first = [f"first-{i}" for i in range(1000)]
    log.write_text("".join(f"{line}\n" for line in first))
    agent = agent_for(tmp_path, ref_ingestor, [str(log)])
    agent.start()
    ref_ingestor.wait_for_entries(1000)
    wait_until(
        lambda: any(v.get("offset") == log.stat().st_size for v in agent.checkpoints().values()),
        30,
        message="the checkpoint to reach the end of the file",
    )
    assert agent.terminate() == 0
    second = [f"second-{i}" for i in range(500)]
    with open(log, "a") as fh:
        fh.write("".join(f"{line}\n" for line in second))
    agent.start()
    try:
        ref_ingestor.wait_for_entries(1500)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    ref_ingestor.verify({str(log): first + second}, allow_duplicates=False)


def test_copytruncate_restarts_from_the_beginning_of_the_truncated_file(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    before = [f"before-{i}" for i in range(300)]
    log.write_text("".join(f"{line}\n" for line in before))
    agent = agent_for(tmp_path, ref_ingestor, [str(log)])
    agent.start()
    try:
        ref_ingestor.wait_for_entries(300)
        # copytruncate: copy aside, truncate in place, keep writing to the same inode.
        (tmp_path / "app.log.1").write_bytes(log.read_bytes())
        with open(log, "r+") as fh:
            fh.truncate(0)
        after = [f"after-{i}" for i in range(200)]
        with open(log, "a") as fh:
            fh.write("".join(f"{line}\n" for line in after))
        ref_ingestor.wait_for_entries(500)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    ref_ingestor.verify({str(log): before + after}, allow_duplicates=False)


def test_a_new_file_that_reuses_the_inode_is_read_from_its_beginning(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    old = [f"old-{i}" for i in range(200)]
    log.write_text("".join(f"{line}\n" for line in old))
    agent = agent_for(tmp_path, ref_ingestor, [str(log)])
    agent.start()
    ref_ingestor.wait_for_entries(200)
    assert agent.terminate() == 0
    old_inode = log.stat().st_ino
    os.unlink(log)
    # Most filesystems hand the freed inode to the next file created in the directory. The new
    # file is longer than the old offset, so an inode-only identity would skip its first part.
    new = [f"new-{i} {'x' * 40}" for i in range(400)]
    log.write_text("".join(f"{line}\n" for line in new))
    agent.start()
    try:
        ref_ingestor.wait_for_entries(600)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    ref_ingestor.verify({str(log): old + new}, allow_duplicates=False)
    assert log.stat().st_size > len("".join(f"{line}\n" for line in old))
    del old_inode
