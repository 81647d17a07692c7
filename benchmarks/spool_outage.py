"""Spool benchmark: a socket producer during an ingestor outage, then the replay.

Not a test. The agent (real process, one socket input on loopback TCP, ``spool:`` with
``fsync: every_batch``) ships to the reference ingestor in counting mode. The ingestor answers
503 to every ingest (the outage) while one client writes ``--entries`` Ruby-SDK-style lines as
fast as the agent reads them; the agent spools them. Then the outage ends and the spool drains.

Reported: spooling entries/s (client start → all entries in the spool) and agent CPU µs per
spooled entry; replay entries/s (outage end → all accepted) and CPU µs per replayed entry; the
spool's peak size on disk.

    .venv/bin/python benchmarks/spool_outage.py --entries 200000
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agentrun import Agent, default_agent_bin
from ingestor import Ingestor
from procs import free_port
from procstat import sample_tree
from socket_load import chunk


def _write(port: int, entries: int) -> None:
    data = chunk(0, 500)
    per = data.count(b"\n")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(entries // per):
            sock.sendall(data)


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    agent_bin = args.agent_bin or default_agent_bin()
    ingestor = Ingestor(agent_bin, work / "ingestor")
    port = free_port()
    entries = args.entries // 500 * 500
    config = {
        "api_key": ingestor.api_key,
        "endpoint": ingestor.url,
        "state_dir": str(work / "state"),
        "inputs": [
            {"type": "socket", "id": "bench", "tcp": f"127.0.0.1:{port}", "require_secret": False}
        ],
        "spool": {"max_bytes": 4 * 1024**3, "fsync": args.fsync},
        "sender": {"batch_max_entries": 1000, "encode_workers": 1},
        "metrics": {"enabled": True, "listen": f"127.0.0.1:{free_port()}"},
        "logging": {"level": "warning"},
    }
    agent = Agent(agent_bin, work / "agent", config)
    spool_dir = work / "state" / "spool"
    try:
        agent.wait_health()
        _wait(lambda: (agent.metric("logflux_agent_handshakes_total") or 0) >= 1, 60, "session")
        ingestor.faults({"status": 503, "count": 10**9})
        before = sample_tree(agent.pid)
        writer = threading.Thread(target=_write, args=(port, entries))
        writer.start()
        peak = [0]

        def spooled() -> bool:
            peak[0] = max(peak[0], int(agent.metric("logflux_agent_spool_bytes") or 0))
            return (agent.metric("logflux_agent_spool_written_entries_total") or 0) >= entries

        _wait(spooled, 600, f"{entries} spooled entries")
        spooled_at = sample_tree(agent.pid)
        writer.join()
        ingestor.faults({"clear": True})
        # From the first accepted request: the replayer may still sit in its retry backoff
        # (up to sender.retry_max_delay) when the outage ends.
        _wait(lambda: ingestor.accepted() > 0, 120, "the first replayed request")
        mid = sample_tree(agent.pid)
        first = ingestor.accepted()
        _wait(lambda: ingestor.accepted() >= entries, 600, f"{entries} accepted")
        end = sample_tree(agent.pid)
        _wait(lambda: not list(spool_dir.glob("*.seg")), 60, "spool segments deleted")
        spool_s = spooled_at.t - before.t
        replay_s = end.t - mid.t
        replayed = entries - first
        return {
            "entries": entries,
            "fsync": args.fsync,
            "spool_entries_per_second": round(entries / spool_s),
            "spool_cpu_us_per_entry": round((spooled_at.cpu - before.cpu) / entries * 1e6, 2),
            "replay_entries_per_second": round(replayed / replay_s),
            "replay_cpu_us_per_entry": round((end.cpu - mid.cpu) / max(1, replayed) * 1e6, 2),
            "spool_peak_mib": round(peak[0] / 2**20, 1),
        }
    finally:
        agent.stop()
        ingestor.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=200_000)
    p.add_argument("--fsync", choices=("every_batch", "interval"), default="every_batch")
    p.add_argument("--workdir", default="/tmp/logflux-bench-spool")
    p.add_argument("--agent-bin", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
