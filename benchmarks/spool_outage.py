"""Spool benchmark: a socket producer during an ingestor outage, then the replay.

Not a test. The agent (real process, one socket input on loopback TCP, ``spool:`` with
``fsync: every_batch`` unless told otherwise) ships to the reference ingestor in counting mode.
The ingestor answers 503 to every ingest (the outage) while one client writes ``--entries``
Ruby-SDK-style lines as fast as the agent reads them; the agent spools them. Then the outage
ends and the spool drains.

Reported: spooling entries/s (client start → all entries in the spool) and agent CPU µs per
spooled entry (agent and encode workers); replay entries/s (first accepted request after the
outage → all accepted) and CPU µs per replayed entry; the spool's peak size on disk.

The same code runs as ``benchmarks/run.py outage --input socket`` (``scenario``) and alone:

    .venv/bin/python benchmarks/spool_outage.py --entries 200000 [--fsync interval]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agentrun import Agent, default_agent_bin
from ingestor import Ingestor
from procs import Http, free_port, wait_for
from procstat import sample_tree
from socket_load import chunk

CHUNK_LINES = 500
# The harness polls the agent's /metrics to see the spool fill: one scrape per poll, ten per
# second (each scrape costs the agent CPU that would otherwise count as spooling cost).
POLL_SECONDS = 0.1


def _write(port: int, entries: int) -> None:
    data = chunk(0, CHUNK_LINES)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(entries // CHUNK_LINES):
            sock.sendall(data)


def _metrics(agent: Agent, *names: str) -> dict[str, float]:
    """Several unlabelled samples from one /metrics scrape (sums over label sets; 0 if absent)."""
    try:
        status, body = Http(f"http://127.0.0.1:{agent.metrics_port}", 5).request("GET", "/metrics")
    except OSError:
        return dict.fromkeys(names, 0.0)
    text = body.decode() if status == 200 else ""
    out = {}
    for name in names:
        pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([-+0-9.eE]+)$", re.M)
        out[name] = sum(float(m.group(1)) for m in pattern.finditer(text))
    return out


def socket_spool_config(ingestor: Ingestor, work: Path, port: int, fsync: str) -> dict[str, Any]:
    """The agent's config: one socket input on loopback TCP, spooled, the bench sender shape."""
    return {
        "api_key": ingestor.api_key,
        "endpoint": ingestor.url,
        "state_dir": str(work / "state"),
        "inputs": [
            {"type": "socket", "id": "bench", "tcp": f"127.0.0.1:{port}", "require_secret": False}
        ],
        "spool": {"max_bytes": 4 * 1024**3, "fsync": fsync},
        "sender": {"batch_max_entries": 1000, "encode_workers": 1},
        "metrics": {"enabled": True, "listen": f"127.0.0.1:{free_port()}"},
        "logging": {"level": "warning"},
    }


def run(agent_bin: str, work: Path, entries: int, fsync: str, timeout: float) -> dict[str, Any]:
    """One outage: ``entries`` spooled while the ingestor answers 503, then replayed."""
    work.mkdir(parents=True, exist_ok=True)
    ingestor = Ingestor(agent_bin, work / "ingestor")
    port = free_port()
    entries = max(CHUNK_LINES, entries // CHUNK_LINES * CHUNK_LINES)
    agent = Agent(agent_bin, work / "agent", socket_spool_config(ingestor, work, port, fsync))
    spool_dir = work / "state" / "spool"
    try:
        agent.wait_health()
        wait_for(
            lambda: (
                _metrics(agent, "logflux_agent_handshakes_total")["logflux_agent_handshakes_total"]
                >= 1
            ),
            60,
            "the first session",
            alive=agent.child,
        )
        ingestor.faults({"status": 503, "count": 10**9})
        before = sample_tree(agent.pid)
        writer = threading.Thread(target=_write, args=(port, entries))
        writer.start()
        peak = [0.0]

        def spooled() -> bool:
            got = _metrics(
                agent, "logflux_agent_spool_bytes", "logflux_agent_spool_written_entries_total"
            )
            peak[0] = max(peak[0], got["logflux_agent_spool_bytes"])
            return got["logflux_agent_spool_written_entries_total"] >= entries

        wait_for(spooled, timeout, f"{entries} spooled entries", POLL_SECONDS, agent.child)
        spooled_at = sample_tree(agent.pid)
        writer.join()
        ingestor.faults({"clear": True})
        # From the first accepted request: the replayer may still sit in its retry backoff
        # (up to sender.retry_max_delay) when the outage ends.
        wait_for(lambda: ingestor.accepted() > 0, 120, "the first replayed request", 0.02)
        mid = sample_tree(agent.pid)
        first = ingestor.accepted()
        wait_for(lambda: ingestor.accepted() >= entries, timeout, f"{entries} accepted", 0.02)
        end = sample_tree(agent.pid)
        wait_for(lambda: not list(spool_dir.glob("*.seg")), 60, "spool segments deleted")
        spool_s = spooled_at.t - before.t
        replay_s = end.t - mid.t
        replayed = entries - first
        return {
            "entries": entries,
            "fsync": fsync,
            "spool_entries_per_second": round(entries / spool_s),
            "spool_cpu_us_per_entry": round((spooled_at.cpu - before.cpu) / entries * 1e6, 2),
            "replay_entries_per_second": round(replayed / max(replay_s, 1e-3)),
            "replay_cpu_us_per_entry": round((end.cpu - mid.cpu) / max(1, replayed) * 1e6, 2),
            "spool_peak_mib": round(peak[0] / 2**20, 1),
        }
    finally:
        agent.stop()
        ingestor.stop()


def scenario(opts: Any) -> dict[str, Any]:
    """``benchmarks/run.py outage --input socket``: the run's options (common.Options)."""
    entries = opts.outage_entries or (50_000 if opts.quick else 200_000)
    work = opts.workdir / "spool-outage"
    return run(opts.agent_bin, work, entries, opts.spool_fsync, opts.timeout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=200_000)
    p.add_argument("--fsync", choices=("every_batch", "interval"), default="every_batch")
    p.add_argument("--workdir", default="/tmp/logflux-bench-spool")
    p.add_argument("--agent-bin", default=None)
    p.add_argument("--timeout", type=float, default=600.0, help="per-phase timeout, seconds")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    agent_bin = args.agent_bin or default_agent_bin()
    result = run(agent_bin, Path(args.workdir), args.entries, args.fsync, args.timeout)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
