"""`audit --file PATH --summary` reports what the agent skipped on purpose as gaps with reasons.

The real agent ships to the reference ingestor: a binary file it never reads, an ``exclude``
filter that drops lines, and a batch the ingestor refuses for good (HTTP 400: dead-lettered).
The audit then names, per file: the binary file as one gap ("skipped binary"), each
dead-lettered line by its bytes and line number (from ``dead-letter.jsonl``'s record ids),
and each line the filter dropped (the ledger's ``d`` records, by record id).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.agentproc import AgentProcess
from tests.support.e2e import file_agent
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until


def audit(agent: AgentProcess, *args: str) -> tuple[int, dict[str, Any]]:
    argv = [sys.executable, "-m", "logflux_agent", "audit", "--config", str(agent.config_path)]
    done = subprocess.run([*argv, *args, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, doc


def lines(phase: int) -> list[str]:
    """20 lines, every fourth one a DEBUG line the filter drops."""
    return [f"p{phase}-{n:02d} {'DEBUG' if n % 4 == 0 else 'INFO'} x" for n in range(20)]


def dead_letters(agent: AgentProcess) -> list[dict[str, Any]]:
    path = agent.state_dir / "dead-letter.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_binary_files_filtered_lines_and_dead_letters_are_gaps_with_their_reason(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app, binary = logs / "app.log", logs / "blob.log"
    binary.write_bytes(b"PK\x03\x04\x00\x00 not text\n" * 50)
    app.touch()
    agent = file_agent(
        tmp_path / "agent",
        ref_ingestor,
        [logs / "*.log"],
        record_ids=True,
        processors=[{"exclude": {"patterns": ["DEBUG"]}}],
        metrics=False,
    )
    first, second = lines(1), lines(2)
    try:
        # Every request of the first phase is refused for good: its entries are dead-lettered.
        ref_ingestor.faults(status=400, count=1_000_000, retry_after=None)
        agent.start()
        agent.wait_for_event("file.input_started")
        with open(app, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in first))
        kept = [m for m in first if "DEBUG" not in m]
        wait_until(lambda: len(dead_letters(agent)) == len(kept), timeout=60, message="dead")
        ref_ingestor.reset_faults()
        with open(app, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in second))
        ref_ingestor.wait_for_entries(15, timeout=60)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert sorted(e["payload"]["message"] for e in ref_ingestor.entries()) == sorted(
        m for m in second if "DEBUG" not in m
    )
    assert {d["message"] for d in dead_letters(agent)} == set(kept)

    text = app.read_bytes()
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    number = {m: i + 1 for i, m in enumerate(first + second)}

    _, doc = audit(agent, "--file", str(app), "--summary")
    (ident,) = doc["identities"]
    gaps = ident["gaps"]
    dead = [g for g in gaps if g["reason"].startswith("dead-lettered: bad_request (HTTP 400)")]
    # One gap per dead-lettered line, with its exact bytes and line number.
    assert [g["lines"] for g in dead] == [[number[m], number[m]] for m in kept]
    assert [g["bytes"] for g in dead] == [[starts[number[m] - 1], starts[number[m]]] for m in kept]
    # Filtered lines (record ids on): each one a gap of its own, exact bytes and line number.
    debug = [m for m in first + second if "DEBUG" in m]
    dropped = [g for g in gaps if g["reason"].startswith("dropped by filter")]
    assert [(g["lines"], g["reason"]) for g in dropped] == [
        ([number[m], number[m]], "dropped by filter: exclude (excluded)") for m in debug
    ]
    assert [g["bytes"] for g in dropped] == [
        [starts[number[m] - 1], starts[number[m]]] for m in debug
    ]
    assert not [g for g in gaps if "not_shipped" in g]
    assert len(gaps) == len(dead) + len(dropped)
    # What was accepted does not include the dead-lettered lines.
    accepted = [tuple(a["bytes"]) for a in ident["accepted"]]
    for g in dead + dropped:
        assert not any(s < g["bytes"][1] and g["bytes"][0] < e for s, e in accepted), g
    assert accepted[-1][1] == len(text)

    # One dead-lettered line asked on its own: not accepted, and why.
    code, one = audit(agent, "--file", str(app), "--line", str(number[kept[0]]))
    assert code == 1 and one["accepted"] is False
    assert one["reason"].startswith("dead-lettered: bad_request (HTTP 400)"), one
    code, ok = audit(agent, "--file", str(app), "--line", str(number[second[1]]))
    assert code == 0 and ok["accepted"] is True

    # The binary file: never read, the whole of it one gap with the reason.
    _, blob = audit(agent, "--file", str(binary), "--summary")
    (bident,) = blob["identities"]
    assert bident["accepted"] == []
    why = "never read: skipped binary (NUL bytes in its first 8192 bytes)"
    size = binary.stat().st_size
    assert [(g["bytes"], g["reason"]) for g in bident["gaps"]] == [([0, size], why)]
