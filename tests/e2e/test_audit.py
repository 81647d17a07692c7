"""`logflux-agent audit` against what the reference ingestor really recorded.

The agent runs through a kill -9 storm while a file is written and rotated by rename; the
audit's answers (from the receipt ledger) are then compared line by line with the ingestor's
recording, in both directions: every line the audit calls accepted was recorded, every
recorded line is accepted, and the number of times the audit says a line was accepted equals
the number of times the ingestor recorded it — except for requests whose answer the agent never
saw (killed while the request was in flight), which no client can know about: those are
identified by their request ids (recorded by the ingestor, absent from the ledger), counted and
bounded. Every line written arrives (a rotated generation is finished after any crash). A
copytruncate window that was never read is reported as a gap with its byte range.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from logflux_agent.ledger import index, ledger_dir
from tests.support.agentproc import AgentProcess
from tests.support.e2e import file_agent, metric
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

KILLS = 10
GENERATIONS = 4
LINES_PER_GENERATION = 12_000
BATCH = 400
IN_FLIGHT = 4
EXTRA: dict[str, Any] = {}


def audit(agent: AgentProcess, *args: str) -> tuple[int, dict[str, Any]]:
    argv = [sys.executable, "-m", "logflux_agent", "audit", "--config", str(agent.config_path)]
    done = subprocess.run([*argv, *args, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, doc


class Writer(threading.Thread):
    """Writes numbered lines in bursts and rotates by rename: app.log → app.log.<g+1>."""

    def __init__(self, log: Path) -> None:
        super().__init__(daemon=True)
        self.log = log
        self.done = threading.Event()
        self.lines: dict[int, list[str]] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            rng = random.Random(20)
            for gen in range(GENERATIONS):
                lines = [f"g{gen}-{n:06d}" for n in range(LINES_PER_GENERATION)]
                self.lines[gen] = lines
                at = 0
                while at < len(lines):
                    burst = lines[at : at + rng.randint(50, 400)]
                    with open(self.log, "a", encoding="utf-8") as fh:
                        fh.write("".join(f"{line}\n" for line in burst))
                    at += len(burst)
                    self.done.wait(0.03)  # paces the writer across the storm (not a sync)
                if gen < GENERATIONS - 1:
                    self.log.rename(self.log.with_name(f"{self.log.name}.{gen + 1}"))
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            self.done.set()


def path_of(log: Path, gen: int) -> str:
    return str(log if gen == GENERATIONS - 1 else log.with_name(f"{log.name}.{gen + 1}"))


def accepted_times(summary: dict[str, Any], log: Path, n_lines: int) -> dict[str, list[int]]:
    """Per file path: how many times the audit says each line (index = line - 1) was accepted."""
    out: dict[str, list[int]] = {}
    for ident in summary["identities"]:
        times = out.setdefault(ident["identity"]["path"], [0] * n_lines)
        for item in ident["accepted"]:
            first, last = item["lines"]
            for i in range(first - 1, min(last, n_lines)):
                times[i] = 1
        for item in ident["duplicates"]:
            first, last = item["lines"]
            for i in range(first - 1, min(last, n_lines)):
                times[i] = item["times"]
    return out


def ledger_request_ids(agent: AgentProcess) -> set[str]:
    found = index.load(ledger_dir(agent.state_dir))
    return {r for c in found.claims for r in c.delivery.request_ids}


def recorded(ingestor: RefIngestor) -> list[tuple[str, str]]:
    return [(e["payload"]["message"], str(e["request_id"])) for e in ingestor.entries()]


def compare(
    agent: AgentProcess, ingestor: RefIngestor, log: Path, writer: Writer
) -> tuple[int, int, int]:
    """Audit vs ingestor for every written line. Returns (dup arrivals, audit dups, unreceipted)."""
    _, summary = audit(agent, "--file", str(log), "--summary")
    times = accepted_times(summary, log, LINES_PER_GENERATION)
    receipts = ledger_request_ids(agent)
    seen: Counter[str] = Counter()
    unreceipted: Counter[str] = Counter()
    for message, request_id in recorded(ingestor):
        seen[message] += 1
        if request_id not in receipts:
            unreceipted[message] += 1
    wrong: list[str] = []
    audit_dups = 0
    for gen, lines in sorted(writer.lines.items()):
        per_line = times.get(path_of(log, gen), [0] * LINES_PER_GENERATION)
        for i, message in enumerate(lines):
            said = per_line[i]
            audit_dups += max(0, said - 1)
            if said != seen[message] - unreceipted[message]:
                wrong.append(
                    f"{message}: audit {said}, ingestor {seen[message]} "
                    f"({unreceipted[message]} unreceipted)"
                )
    assert not wrong, f"{len(wrong)} line(s) disagree, first: {wrong[:5]}"
    arrivals = sum(seen.values()) - len(seen)
    return arrivals, audit_dups, sum(unreceipted.values())


def test_kill9_storm_with_rotation_audit_matches_the_ingestor_line_by_line(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.touch()
    agent = file_agent(
        tmp_path / "agent",
        ref_ingestor,
        [log],
        extra={"sender": {"batch_max_entries": BATCH, "max_in_flight": IN_FLIGHT}, **EXTRA},
        metrics=False,
    )
    writer = Writer(log)
    rng = random.Random(7)
    try:
        for kill in range(KILLS):
            before = len(ref_ingestor.entries())
            agent.start()
            if kill == 0:
                # Rotations the agent witnesses (running or killed), not files rotated before
                # it ever started: those a ``paths: [app.log]`` input never reads.
                agent.wait_for_event("file.input_started")
                writer.start()
            wait_until(
                lambda b=before: len(ref_ingestor.entries()) > b + rng.randint(200, 3000),
                timeout=60,
                message="progress between kills",
            )
            if kill == 0:
                # Not before the first file position is on disk: a file opened less than
                # checkpoint_interval before a crash, with no checkpoint of an earlier
                # generation, and then rotated while the agent is down is not found again
                # (nothing on disk names it: docs/file-input.md) — an agent limit.
                wait_until(
                    lambda: any(k.count(":") == 3 for k in agent.checkpoints()),
                    timeout=30,
                    message="a first file checkpoint",
                )
            agent.kill9()
            if kill == KILLS // 2:
                # Mid-storm, with lines still undelivered: the audit must already agree.
                stable = [len(ref_ingestor.entries())]
                wait_until(
                    lambda s=stable: s.append(len(ref_ingestor.entries())) or s[-1] == s[-2],
                    timeout=10,
                    interval=0.2,
                    message="the ingestor to settle",
                )
                compare(agent, ref_ingestor, log, writer)
        writer.done.wait(60)
        assert writer.error is None
        mark = agent.log_path.stat().st_size
        agent.start()
        # Every line written arrives (the rotated generations are all finished), then a clean
        # stop; the audit must agree with the ingestor on each of them.
        wait_until(
            lambda: b'"session.ready"' in agent.log_path.read_bytes()[mark:],
            timeout=60,
            message="the last run's session",
        )
        ref_ingestor.wait_for_entries(GENERATIONS * LINES_PER_GENERATION, timeout=90, distinct=True)
        assert agent.terminate() == 0
    finally:
        writer.done.set()
        agent.stop()
    written = {line for lines in writer.lines.values() for line in lines}
    assert written <= {m for m, _ in recorded(ref_ingestor)}, "lines written never arrived"
    arrivals, audit_dups, unreceipted = compare(agent, ref_ingestor, log, writer)
    print(
        f"duplicate arrivals {arrivals}: {audit_dups} reported by audit, {unreceipted} unreceipted"
    )
    # The storm did make duplicates, and the audit accounts for every one of them.
    assert arrivals > 0, "no duplicates: the kills tested nothing"
    assert arrivals == audit_dups + unreceipted
    # Unreceipted: at most the requests in flight at each kill.
    assert unreceipted <= KILLS * IN_FLIGHT * BATCH
    # A single line, asked on its own, says the same as the summary (the first line: sent
    # once or more; its request id is one the ingestor recorded).
    code, one = audit(agent, "--file", path_of(log, 0), "--line", "1")
    assert code == 0 and one["accepted"] is True
    ids = {r for d in one["deliveries"] for r in d["request_ids"]}
    assert ids <= {rid for m, rid in recorded(ref_ingestor) if m == "g0-000000"}


def test_copytruncate_window_is_reported_as_a_gap_with_its_byte_range(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    log.touch()
    (tmp_path / "archive").mkdir()
    agent = file_agent(
        tmp_path / "agent",
        ref_ingestor,
        [log],
        read_chunk_bytes=4096,
        # A small queue: during the outage the input stops reading with most of it unread.
        extra={"queue": {"max_entries": 500}, "sender": {"batch_max_entries": 100}},
        metrics=True,
    )
    before = [f"gen1-{n:06d}" for n in range(20_000)]
    after = [f"gen2-{n:06d}" for n in range(500)]
    try:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in before[:1000]))
        agent.start()
        ref_ingestor.wait_for_entries(1000, timeout=60)
        # An outage: the input stops reading with most of the rest unread, then copytruncate
        # moves the file's content where the agent does not look.
        ref_ingestor.faults(status=503, count=1_000_000, retry_after=None)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in before[1000:]))
        # The input saw the file grow (it read on), and is now blocked with the rest unread.
        wait_until(
            lambda: metric(agent, "logflux_agent_input_bytes_total") > 12_000 * 1.5,
            timeout=30,
            message="the input to read past the first lines",
        )
        old = log.read_bytes()
        (tmp_path / "archive" / "app.log.1").write_bytes(old)
        with open(log, "r+") as fh:
            fh.truncate(0)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in after))
        ref_ingestor.reset_faults()
        event = agent.wait_for_event("file.truncated_unread")
        wait_until(
            lambda: set(after) <= {m for m, _ in recorded(ref_ingestor)},
            timeout=60,
            message="the new generation to arrive",
        )
        # ``status`` shows the ledger's size (from the running agent's /status).
        shown = subprocess.run(
            [sys.executable, "-m", "logflux_agent", "status", "--config", str(agent.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert shown.returncode == 0 and "ledger: " in shown.stdout, shown.stdout + shown.stderr
    lost = (event["lost_from"], event["lost_to"])
    _, summary = audit(agent, "--file", str(log), "--summary")
    # The truncated generation is gone from disk (same inode, other content): its identity is
    # the ledger's, and its gap carries the window's bytes and the reason.
    gaps = [g for ident in summary["identities"] for g in ident["gaps"]]
    window = [g for g in gaps if tuple(g["bytes"]) == lost]
    assert window, f"no gap {lost} in {gaps}"
    assert "truncated unread" in window[0]["reason"]
    # The current generation (after truncation) is accepted whole.
    current = next(i for i in summary["identities"] if i["identity"]["on_disk"])
    assert current["accepted"] == [{"bytes": [0, log.stat().st_size], "lines": [1, len(after)]}]
