"""A spooled batch's later acceptance by the replayer is in the ledger: audit says when.

The real agent has a spooled socket input and a file input; a batch mixing both is spooled
whole (delivery/writer.py). While the ingestor refuses everything (503) the file lines of such
a batch are "in the spool, not yet accepted"; once it is back, the replayer delivers them and
``audit`` says "accepted via spool", with the time it was spooled, the time the ingestor took
it (later), and a request id the ingestor recorded for that line.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from logflux_agent.ledger import index, ledger_dir
from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until


def audit(agent: AgentProcess, *args: str) -> tuple[int, dict[str, Any]]:
    argv = [sys.executable, "-m", "logflux_agent", "audit", "--config", str(agent.config_path)]
    done = subprocess.run([*argv, *args, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, doc


def spooled_file_claims(agent: AgentProcess) -> list[index.Claim]:
    found = index.load(ledger_dir(agent.state_dir), lambda s: s.kind == "file")
    return [c for c in found.claims if c.delivery.spool_ids and c.whole]


def test_a_spooled_batch_accepted_by_the_replayer_is_audited_as_accepted_via_spool(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    log.touch()
    sock = tmp_path / "agent.sock"
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[
            {"type": "file", "id": "app", "paths": [str(log)], "start_at": "beginning"},
            {"type": "socket", "id": "sdk", "unix": str(sock)},
        ],
        extra={"spool": {"max_bytes": 16 * 1024 * 1024}, "sender": {"flush_interval": 1.0}},
        metrics=False,
    )
    written: list[str] = []
    try:
        agent.start()
        agent.wait_for_event("session.ready", timeout=60)
        agent.wait_for_event("socket.listening", timeout=60)
        ref_ingestor.faults(status=503, count=1_000_000, retry_after=None)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(sock))
        n = 0

        def both() -> bool:
            # File lines and socket entries at the same moment: the batcher mixes them.
            nonlocal n
            n += 1
            lines = [f"file-{n:03d}-{i:02d}" for i in range(20)]
            written.extend(lines)
            with open(log, "a", encoding="utf-8") as fh:
                fh.write("".join(f"{line}\n" for line in lines))
            entry = {"message": f"sock-{n:03d}", "source": "sdk", "level": 6}
            conn.sendall((json.dumps(entry) + "\n").encode())
            return bool(spooled_file_claims(agent))

        wait_until(both, timeout=60, interval=0.3, message="a spooled batch with file lines")
        conn.close()
        claim = spooled_file_claims(agent)[0]
        assert isinstance(claim.start, int) and isinstance(claim.end, int)
        spooled_at = claim.delivery.at
        # The ingestor still refuses: in the spool, not accepted.
        code, held = audit(agent, "--file", str(log), "--offset", str(claim.start))
        assert code == 1 and held["accepted"] is False
        assert held["reason"].startswith("in the spool since"), held
        time.sleep(0.05)  # the acceptance below is measurably later than the spooling
        ref_ingestor.reset_faults()
        ref_ingestor.wait_for_entries(len(written), timeout=60, distinct=True)
        wait_until(
            lambda: audit(agent, "--file", str(log), "--offset", str(claim.start))[0] == 0,
            timeout=30,
            message="the replay's receipt",
        )
        assert agent.terminate() == 0
    finally:
        agent.stop()
    code, doc = audit(agent, "--file", str(log), "--offset", str(claim.start))
    assert code == 0 and doc["accepted"] is True and doc["times"] == 1, doc
    (d,) = doc["deliveries"]
    assert d["status"] == "accepted via spool"
    assert d["spooled_at"] < d["accepted_at"], d
    assert abs(_epoch(d["spooled_at"]) - spooled_at) < 0.01
    line = log.read_bytes()[claim.start :].split(b"\n", 1)[0].decode()
    entries = ref_ingestor.entries()
    recorded = {str(e["request_id"]) for e in entries if e["payload"]["message"] == line}
    assert d["request_ids"] and set(d["request_ids"]) <= recorded, (d, recorded)
    # The whole file is accepted, through the spool or directly.
    _, summary = audit(agent, "--file", str(log), "--summary")
    (ident,) = summary["identities"]
    assert ident["accepted"] == [{"bytes": [0, log.stat().st_size], "lines": [1, len(written)]}]


def _epoch(iso: str) -> float:
    import calendar

    head, _, frac = iso.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S")) + float(f"0.{frac}")
