"""File input reliability through the real agent: clean stops, restarts inside a line, kill -9.

Each test proves one delivery promise of docs/file-input.md with the real agent subprocess, real
files and the reference ingestor; the numbers in the comments are the before/after figures of
the defects these tests guard against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor


def agent_for(
    tmp_path: Path,
    ingestor: RefIngestor,
    paths: list[str],
    *,
    extra: dict[str, Any] | None = None,
    **input_extra: Any,
) -> AgentProcess:
    inputs = [{"type": "file", "id": "app", "paths": paths, "start_at": "beginning", **input_extra}]
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=inputs,
        extra=extra,
        metrics=False,
    )


def test_sigterm_mid_chunk_of_short_lines_resends_nothing(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    # 15-byte lines: one 256 KiB read yields 17,476 lines, emitted in several groups. Before
    # every group carried its own end, a stop between groups re-sent 8,192 lines; now 0.
    log = tmp_path / "app.log"
    lines = [f"l-{n:012d}" for n in range(70_000)]
    log.write_bytes("".join(f"{line}\n" for line in lines).encode())
    assert log.stat().st_size == 70_000 * 15
    # Slow answers keep the input blocked in the middle of its reading when SIGTERM comes.
    ref_ingestor.faults(delay=0.05, count=1_000_000)
    agent = agent_for(tmp_path, ref_ingestor, [str(log)])
    agent.start()
    try:
        ref_ingestor.wait_for_entries(15_000, timeout=60)
        assert agent.terminate() == 0
        accepted = len(ref_ingestor.entries())
        assert accepted < len(lines), "everything arrived before the stop: nothing was tested"
        ref_ingestor.reset_faults()
        agent.start()
        ref_ingestor.wait_for_entries(len(lines), timeout=60, distinct=True)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    ref_ingestor.verify({str(log): lines}, allow_duplicates=False)
