"""`audit --summary` names the exact lines a filter dropped, and dead letters of a deleted file.

The real agent (record ids on) tails real files into the reference ingestor:

* two filters drop lines, alone and in runs, some runs crossing the boundary between two
  reads, across a kill -9 and a restart: each run is one gap with its exact bytes, line
  numbers and the filter that dropped it, cut out of the accepted ranges;
* lines the ingestor refused for good (HTTP 400) and a line a filter dropped, in a file that
  is then rotated away and deleted: the audit of the path still reports the dead-lettered and
  the dropped bytes of that generation, which it says is gone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.test_audit_skipped import audit, dead_letters
from tests.support.agentproc import AgentProcess
from tests.support.e2e import file_agent
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

EXCLUDED = "dropped by filter: exclude (excluded)"
NOT_INCLUDED = "dropped by filter: include (not_included)"


def why(line: str) -> str | None:
    """What the chain below does with ``line``: None (shipped) or the gap's reason."""
    if not line.startswith("p"):
        return NOT_INCLUDED
    return EXCLUDED if "DROP" in line else None


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(f"{line}\n" for line in lines))


def expected_runs(text: bytes) -> list[tuple[list[int], list[int], str]]:
    """(bytes, lines, reason) of each run of consecutive lines dropped for the same reason."""
    runs: list[tuple[list[int], list[int], str]] = []
    at = 0
    for number, raw in enumerate(text.splitlines(keepends=True), start=1):
        reason = why(raw.decode().rstrip("\n"))
        end = at + len(raw)
        if reason is not None:
            if runs and runs[-1][2] == reason and runs[-1][0][1] == at:
                runs[-1][0][1], runs[-1][1][1] = end, number
            else:
                runs.append(([at, end], [number, number], reason))
        at = end
    return runs


def filtering_agent(
    tmp_path: Path, ingestor: RefIngestor, processors: list[dict[str, Any]]
) -> tuple[AgentProcess, Path]:
    """An agent with record ids and ``processors`` on ``logs/app.log`` (created empty)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    app.touch()
    agent = file_agent(
        tmp_path / "agent", ingestor, [app], record_ids=True, processors=processors, metrics=False
    )
    return agent, app


def shipped(ingestor: RefIngestor, want: list[str]) -> None:
    def arrived() -> bool:
        return {e["payload"]["message"] for e in ingestor.entries()} >= set(want)

    wait_until(arrived, timeout=60, message=f"entries {want}")


def test_lines_a_filter_dropped_are_gaps_with_their_exact_bytes_lines_and_filter(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent, app = filtering_agent(
        tmp_path,
        ref_ingestor,
        [{"include": {"patterns": ["^p"]}}, {"exclude": {"patterns": ["DROP"]}}],
    )
    # Single lines, runs, a run of two reasons side by side, and runs at the end of a read
    # that the next read continues (the same run across two lists and a restart).
    reads = [
        ["p1-a", "p1-b DROP", "p1-c", "p1-d DROP", "p1-e DROP", "p1-f DROP", "p1-g", "p1-h DROP"],
        ["p2-a DROP", "zz noise", "zz more", "p2-b DROP", "p2-c", "p2-d", "zz tail"],
        ["zz head", "p3-a", "p3-b DROP", "p3-c"],
        ["p4-a DROP", "p4-b", "p4-c DROP", "p4-d DROP"],
        ["p5-a DROP", "p5-b"],
    ]
    try:
        agent.start()
        agent.wait_for_event("file.input_started")
        for i, lines in enumerate(reads):
            append(app, lines)
            shipped(ref_ingestor, [m for m in lines if why(m) is None])
            if i == 2:  # a kill -9 mid-way: what was not committed is read (and dropped) again
                agent.kill9()
                agent.start()
                agent.wait_for_event("file.input_started")
        assert agent.terminate() == 0
    finally:
        agent.stop()
    everything = [m for lines in reads for m in lines]
    assert {e["payload"]["message"] for e in ref_ingestor.entries()} == {
        m for m in everything if why(m) is None
    }

    text = app.read_bytes()
    runs = expected_runs(text)
    assert len(runs) == 9  # (the reads above: 9 runs, 3 of them of 2+ lines)
    _, doc = audit(agent, "--file", str(app), "--summary")
    (ident,) = doc["identities"]
    gaps = ident["gaps"]
    assert [(g["bytes"], g["lines"], g["reason"]) for g in gaps] == runs
    # Accepted: exactly what lies between the dropped runs; no chunk reported "not shipped".
    between, at = [], 0
    for (start, end), _, _ in runs:
        if start > at:
            between.append([at, start])
        at = end
    if at < len(text):
        between.append([at, len(text)])
    assert [a["bytes"] for a in ident["accepted"]] == between
    assert "not_shipped_lines" not in ident

    # One line of a run asked on its own: not accepted, and which filter dropped it.
    number = everything.index("p1-e DROP") + 1
    code, one = audit(agent, "--file", str(app), "--line", str(number))
    assert code == 1 and one["accepted"] is False and one["reason"] == EXCLUDED, one
    code, one = audit(agent, "--file", str(app), "--line", str(everything.index("zz more") + 1))
    assert code == 1 and one["reason"] == NOT_INCLUDED, one
    code, ok = audit(agent, "--file", str(app), "--line", str(everything.index("p2-c") + 1))
    assert code == 0 and ok["accepted"] is True


def test_dead_letters_of_a_rotated_and_deleted_file_are_reported_and_the_file_said_gone(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent, app = filtering_agent(tmp_path, ref_ingestor, [{"exclude": {"patterns": ["DROP"]}}])
    refused = [f"old-{n:02d} refused" for n in range(6)]
    taken = [f"old-{n:02d} {'DROP' if n == 8 else 'taken'}" for n in range(6, 10)]
    fresh = [f"new-{n:02d}" for n in range(5)]
    try:
        ref_ingestor.faults(status=400, count=1_000_000, retry_after=None)
        agent.start()
        agent.wait_for_event("file.input_started")
        append(app, refused)
        wait_until(lambda: len(dead_letters(agent)) == len(refused), timeout=60, message="dead")
        ref_ingestor.reset_faults()
        append(app, taken)
        shipped(ref_ingestor, [m for m in taken if "DROP" not in m])
        old = app.read_bytes()
        rotated = app.with_name("app.log.1")
        app.rename(rotated)
        append(app, fresh)
        shipped(ref_ingestor, fresh)
        rotated.unlink()
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert {d["message"] for d in dead_letters(agent)} == set(refused)

    starts = [0]
    for line in old.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    _, doc = audit(agent, "--file", str(app), "--summary")
    by_state = {i["identity"]["on_disk"]: i for i in doc["identities"]}
    assert set(by_state) == {True, False}, doc
    gone, now = by_state[False], by_state[True]
    assert gone["identity"]["recorded_path"] == str(app)
    dead = [g for g in gone["gaps"] if g["reason"].startswith("dead-lettered")]
    # Every refused line: its exact bytes (no line numbers: the file is not there to count),
    # with the refusal and a note that the file is gone.
    assert [g["bytes"] for g in dead] == [[starts[n], starts[n + 1]] for n in range(6)]
    assert all(g["reason"].startswith("dead-lettered: bad_request (HTTP 400)") for g in dead)
    assert all("the file is gone" in g["note"] for g in dead)
    assert all("lines" not in g for g in gone["gaps"])
    # The line the filter dropped, as the ledger recorded it.
    (dropped,) = [g for g in gone["gaps"] if g not in dead]
    assert (dropped["bytes"], dropped["reason"]) == ([starts[8], starts[9]], EXCLUDED)
    assert "the file is gone" in dropped["note"]
    assert [a["bytes"] for a in gone["accepted"]] == [
        [starts[6], starts[8]],
        [starts[9], len(old)],
    ]
    assert now["gaps"] == [] and [a["bytes"] for a in now["accepted"]] == [[0, app.stat().st_size]]

    # The text answer says so too.
    argv = [sys.executable, "-m", "logflux_agent", "audit", "--config", str(agent.config_path)]
    text = subprocess.run(
        [*argv, "--file", str(app), "--summary"], capture_output=True, text=True, timeout=120
    ).stdout
    assert "(gone)" in text and "the file is gone" in text, text
    assert f"gap        bytes {starts[0]}-{starts[1]}: dead-lettered: bad_request" in text
