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
from tests.support.wait import wait_until


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


def _messages(ingestor: RefIngestor) -> list[str]:
    return [e["payload"]["message"] for e in ingestor.entries()]


def _wait_for_checkpoint(agent: AgentProcess, offset: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def reached() -> bool:
        found[:] = [v for v in agent.checkpoints().values() if v.get("offset") == offset]
        return bool(found)

    wait_until(reached, 30, message=f"a checkpoint at offset {offset}")
    return found[0]


def test_kill9_inside_a_truncated_line_skips_the_rest_of_it_after_restart(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    # Before: bytes 3,000-4,023 of the truncated line arrived as a second entry; now none.
    log = tmp_path / "app.log"
    head = "".join(chr(ord("a") + n % 26) for n in range(3000))
    log.write_text(head)
    agent = agent_for(
        tmp_path,
        ref_ingestor,
        [str(log)],
        max_line_bytes=1024,
        long_lines="truncate",
        partial_line_timeout=0.2,
    )
    agent.start()
    try:
        ref_ingestor.wait_for_entries(1)
        state = _wait_for_checkpoint(agent, 3000)
        assert state.get("mid_line") == "skip"
        agent.kill9()
        with open(log, "a") as fh:
            fh.write("Z" * 1024 + "\nafter\n")
        agent.start()
        wait_until(lambda: "after" in _messages(ref_ingestor), 30, message="the next line")
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert _messages(ref_ingestor) == [head[:1024], "after"]


def test_kill9_after_a_partial_line_then_only_its_newline_ships_no_empty_entry(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    # Before: the lone newline after the restart arrived as an empty entry; now it is dropped.
    log = tmp_path / "app.log"
    log.write_text("first\nhead of a line")
    agent = agent_for(tmp_path, ref_ingestor, [str(log)], partial_line_timeout=0.2)
    agent.start()
    try:
        ref_ingestor.wait_for_entries(2)
        state = _wait_for_checkpoint(agent, log.stat().st_size)
        assert state.get("mid_line") == "rest"
        agent.kill9()
        with open(log, "a") as fh:
            fh.write("\nnext\n")
        agent.start()
        wait_until(lambda: "next" in _messages(ref_ingestor), 30, message="the next line")
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert _messages(ref_ingestor) == ["first", "head of a line", "next"]


def test_kill9_after_a_partial_line_ships_its_end_once_after_restart(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    log.write_text("head of a line")
    agent = agent_for(tmp_path, ref_ingestor, [str(log)], partial_line_timeout=0.2)
    agent.start()
    try:
        ref_ingestor.wait_for_entries(1)
        _wait_for_checkpoint(agent, log.stat().st_size)
        agent.kill9()
        with open(log, "a") as fh:
            fh.write(" and its end\nnext\n")
        agent.start()
        wait_until(lambda: "next" in _messages(ref_ingestor), 30, message="the next line")
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert _messages(ref_ingestor) == ["head of a line", " and its end", "next"]


def _duplicates(entries: list[dict[str, Any]]) -> tuple[int, int]:
    distinct = len({e["payload"]["message"] for e in entries})
    return len(entries) - distinct, distinct


def test_duplicates_per_kill9_stay_within_the_documented_bound(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    # README: re-sent per crash <= queue.max_entries + max_in_flight x batch_max_entries
    #   + lines of one read chunk (<= read_chunk_bytes / shortest line, at most 8,192)
    #   + checkpoint_interval x accepted entries per second.
    queue, in_flight, batch, chunk, interval, delay = 1000, 2, 100, 4096, 1.0, 0.05
    line_bytes = 11
    # Every answer waits `delay`: at most in_flight x batch entries are accepted per delay.
    rate = in_flight * batch / delay
    bound = queue + in_flight * batch + chunk // line_bytes + interval * rate
    lines = [f"k-{n:08d}" for n in range(20_000)]
    log = tmp_path / "app.log"
    log.write_bytes("".join(f"{line}\n" for line in lines).encode())
    ref_ingestor.faults(delay=delay, count=1_000_000)
    agent = agent_for(
        tmp_path,
        ref_ingestor,
        [str(log)],
        read_chunk_bytes=chunk,
        extra={
            "queue": {"max_entries": queue},
            "sender": {"max_in_flight": in_flight, "batch_max_entries": batch},
            "checkpoint_interval": interval,
        },
    )
    per_kill: list[int] = []
    before = 0
    try:
        for kill in range(1, 4):
            agent.start()
            # Batches of one input are sent in order: once new lines arrive after a restart,
            # every duplicate of the last kill (the lines before them) has arrived too.
            ref_ingestor.wait_for_entries(kill * 5000, timeout=60, distinct=True)
            agent.kill9()
            dups, _ = _duplicates(ref_ingestor.entries())
            if kill > 1:
                per_kill.append(dups - before)
            before = dups
        agent.start()
        ref_ingestor.wait_for_entries(len(lines), timeout=60, distinct=True)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    dups, distinct = _duplicates(ref_ingestor.entries())
    per_kill.append(dups - before)
    assert distinct == len(lines)
    print(f"duplicates per kill -9: {per_kill} (bound {bound:.0f})")
    assert max(per_kill) <= bound, f"{per_kill} over the bound {bound}"
    ref_ingestor.verify({str(log): lines}, allow_duplicates=True)
