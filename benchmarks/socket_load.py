"""Load benchmark for ``type: socket``: N concurrent TCP clients writing NDJSON flat out.

Not a test. The agent (real process, one socket input on loopback TCP with
``require_secret: false``) ships to the reference ingestor in counting mode (separate process,
its CPU not charged to the agent). The clients run in their own process: each of ``--clients``
connections writes Ruby-SDK-style lines (protocol.md §10) as fast as the agent reads them —
when the queue is full the agent stops reading, so the clients block (backpressure).

Reported over the measured window (after ``--warmup`` seconds): entries/s accepted by the
ingestor, agent CPU µs per entry (agent and its encode workers, the main process alone — it
reads, parses and maps every entry, so it is the first to saturate — and the workers), peak
RSS of the agent tree, and the machine's load average at the start and end (on a shared
machine the rate says more about the CPU the agent was given than about the agent).

    .venv/bin/python benchmarks/socket_load.py                      # 200 clients, 20 s
    .venv/bin/python benchmarks/socket_load.py --clients 200 --seconds 60 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agentrun import Agent, default_agent_bin
from ingestor import Ingestor
from procs import free_port
from procstat import TreeSampler, cpu_seconds, sample_tree, system_share, system_ticks


def chunk(client: int, lines: int = 400) -> bytes:
    """``lines`` entries of about 200 bytes, as the Ruby SDK writes them."""
    out = []
    for i in range(lines):
        obj = {
            "id": str(uuid.uuid4()),
            "message": f"GET /api/v1/items/{client}-{i} 200 12ms user=alice agent=bench",
            "source": "ruby-sdk",
            "entry_type": 1,
            "level": 6,
            "timestamp": 1_796_000_000 + i,
            "labels": {"payload_type": "application", "service": "bench"},
        }
        out.append(json.dumps(obj, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


async def _client(port: int, n: int, deadline: float, sent: list[int]) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    data = chunk(n)
    lines = data.count(b"\n")
    while time.monotonic() < deadline:
        writer.write(data)
        try:  # blocked while the agent does not read (backpressure); stop at the deadline
            await asyncio.wait_for(writer.drain(), max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        sent[0] += lines
    writer.transport.abort()


async def _clients(port: int, clients: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    sent = [0]
    await asyncio.gather(*(_client(port, i, deadline, sent) for i in range(clients)))
    return sent[0]


def client_main(port: int, clients: int, seconds: float) -> None:
    sent = asyncio.run(_clients(port, clients, seconds))
    print(json.dumps({"sent": sent}))


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    agent_bin = args.agent_bin or default_agent_bin()
    ingestor = Ingestor(agent_bin, work / "ingestor")
    port = free_port()
    config = {
        "api_key": ingestor.api_key,
        "endpoint": ingestor.url,
        "state_dir": str(work / "state"),
        "inputs": [
            {"type": "socket", "id": "bench", "tcp": f"127.0.0.1:{port}", "require_secret": False}
        ],
        "sender": {"batch_max_entries": 1000, "encode_workers": args.encode_workers},
        "queue": {"max_entries": args.queue_entries, "max_bytes": 33554432},
        "metrics": {"enabled": True, "listen": f"127.0.0.1:{free_port()}"},
        "logging": {"level": "warning"},
    }
    agent = Agent(agent_bin, work / "agent", config)
    try:
        agent.wait_health()
        total = args.warmup + args.seconds
        clients = subprocess.Popen(
            [sys.executable, __file__, "--client", str(port), str(args.clients), str(total)],
            stdout=subprocess.PIPE,
        )
        idle = sample_tree(agent.pid)
        sampler = TreeSampler(agent.pid, interval=0.2).start()
        time.sleep(args.warmup)
        load_start = os.getloadavg()[0]
        start_acc, start = ingestor.accepted(), sample_tree(agent.pid)
        main_start = cpu_seconds(agent.pid, include_reaped=False)
        clients_start, sys_start = cpu_seconds(clients.pid, include_reaped=False), system_ticks()
        ingestor_start = cpu_seconds(ingestor.pid)
        time.sleep(args.seconds)
        end_acc, end = ingestor.accepted(), sample_tree(agent.pid)
        main_end = cpu_seconds(agent.pid, include_reaped=False)
        clients_end, sys_end = cpu_seconds(clients.pid, include_reaped=False), system_ticks()
        ingestor_end = cpu_seconds(ingestor.pid)
        out, _ = clients.communicate(timeout=120)
        sampler.stop()
        connections = agent.metric("logflux_agent_socket_connections_total")
        entries = end_acc - start_acc
        window = end.t - start.t
        peak_rss = max(s.rss_total for s in sampler.samples)
        return {
            "clients": args.clients,
            "connections_accepted": connections,
            "window_seconds": round(window, 2),
            "entries": entries,
            "entries_per_second": round(entries / window),
            "agent_cpu_us_per_entry": round((end.cpu - start.cpu) / max(entries, 1) * 1e6, 2),
            "agent_main_cpu_us_per_entry": round(
                (main_end - main_start) / max(entries, 1) * 1e6, 2
            ),
            # The encode workers (the tree less the main process): they encrypt and frame.
            "agent_workers_cpu_us_per_entry": round(
                (end.cpu - start.cpu - (main_end - main_start)) / max(entries, 1) * 1e6, 2
            ),
            "agent_cpu_share": round((end.cpu - start.cpu) / window, 2),
            "agent_main_cpu_share": round((main_end - main_start) / window, 2),
            # The load generator shares the machine: if it takes most of the CPU, the rate
            # says more about it than about the agent.
            "clients_cpu_share": round((clients_end - clients_start) / window, 2),
            "ingestor_cpu_share": round((ingestor_end - ingestor_start) / window, 2),
            **system_share(sys_start, sys_end),
            "idle_rss_mib": round(idle.rss_total / 2**20, 1),
            "peak_rss_mib": round(peak_rss / 2**20, 1),
            "peak_rss_main_mib": round(max(s.rss_main for s in sampler.samples) / 2**20, 1),
            "processes": idle.processes,
            "client_lines_written": json.loads(out.decode().strip().splitlines()[-1])["sent"],
            "load_average_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        }
    finally:
        agent.stop()
        ingestor.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--client"]:
        client_main(int(argv[1]), int(argv[2]), float(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--encode-workers", type=int, default=1)
    parser.add_argument("--queue-entries", type=int, default=20000)
    parser.add_argument("--workdir", default="/tmp/logflux-socket-bench")
    parser.add_argument("--agent-bin", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<24} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
