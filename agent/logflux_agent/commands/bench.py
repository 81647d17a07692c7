"""`logflux-agent bench`: what the agent costs on this machine, before deploying it.

Starts the reference ingestor in counting mode on loopback (it checks framing and counts parts
without decrypting, so it costs little next to the agent), writes realistic access-log lines
to a file, runs the real agent on it as a child process (file input from the beginning, the
operator's processors if given) and measures, over the window from the first to the last
accepted entry: lines/s, MiB/s, the agent's CPU per line (agent and encode workers together)
and the peak RSS and PSS of its process tree. A progress bar on a terminal; ``--json`` for
machines. Nothing leaves the machine; the work directory is removed afterwards (``--keep``).

With ``--processors`` the chain may drop or join lines, so fewer entries than lines arrive: the
run is then complete when the input has read every line and its committed position caught up
with the file (the agent's own metrics, scraped twice a second on a free loopback port), and
the per-line figures divide by lines read, not entries accepted.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from logflux_agent.commands import localstack
from logflux_agent.proctree import cpu_seconds, pss_tree, sample_tree
from logflux_agent.samplelog import AccessLogGenerator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lines", type=int, default=500_000, help="lines to ship (default 500000)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=120.0,
        help="stop measuring after this many seconds even if not all lines arrived (default 120)",
    )
    parser.add_argument(
        "--processors",
        metavar="FILE",
        help="YAML file with a processors list to apply to the benchmark input",
    )
    parser.add_argument(
        "--encode-workers",
        type=int,
        default=None,
        metavar="N",
        help="sender.encode_workers for the run (default: the agent's default)",
    )
    parser.add_argument(
        "--no-ledger",
        action="store_true",
        help="run without the receipt ledger (ledger.enabled: false), to measure its cost",
    )
    parser.add_argument(
        "--no-record-ids",
        action="store_true",
        help="ship without stable record ids (record_ids: false, a file input's default is "
        "true), to measure their cost",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")


def _write_lines(path: Path, lines: int) -> int:
    gen = AccessLogGenerator()
    size = 0
    with open(path, "w", encoding="utf-8") as out:
        for chunk in gen.iter_chunks(lines):
            text = "\n".join(chunk) + "\n"
            out.write(text)
            size += len(text.encode())
    return size


def _agent_config(
    args: argparse.Namespace,
    ing: localstack.LocalIngestor,
    workdir: Path,
    log: Path,
    metrics_port: int | None = None,
) -> dict[str, Any]:
    file_input: dict[str, Any] = {
        "type": "file",
        "id": "bench",
        "paths": [str(log)],
        "start_at": "beginning",
    }
    if args.no_record_ids:
        file_input["record_ids"] = False
    if args.processors:
        procs = yaml.safe_load(Path(args.processors).read_text(encoding="utf-8"))
        if isinstance(procs, dict) and "processors" in procs:
            procs = procs["processors"]
        file_input["processors"] = procs
    sender: dict[str, Any] = {"flush_interval": 1.0}
    if args.encode_workers is not None:
        sender["encode_workers"] = args.encode_workers
    return {
        "api_key": ing.api_key,
        "endpoint": ing.url,
        "state_dir": str(workdir / "state"),
        "inputs": [file_input],
        "sender": sender,
        "metrics": (
            {"enabled": False}
            if metrics_port is None
            else {"enabled": True, "listen": f"127.0.0.1:{metrics_port}"}
        ),
        "logging": {"level": "warning", "format": "json"},
        "ledger": {"enabled": not args.no_ledger},
    }


def _progress(done: int, total: int, rate: float) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(
        f"\r  [{'#' * filled}{' ' * (width - filled)}] {done:,}/{total:,} lines"
        f"  {rate:,.0f} lines/s "
    )
    sys.stderr.flush()


def main(args: argparse.Namespace) -> int:
    if args.lines < 1:
        print("error: --lines must be at least 1", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="logflux-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        log = workdir / "access.log"
        size = _write_lines(log, args.lines)
        ing = localstack.start_ingestor(workdir, "--no-decrypt")
        procs.append(ing.proc)
        port = _free_port() if args.processors else None
        config = localstack.write_config(
            workdir, yaml.safe_dump(_agent_config(args, ing, workdir, log, port), sort_keys=False)
        )
        agent = localstack.start_agent(config, workdir / "agent.log")
        procs.append(agent)
        progress = _Progress(None if port is None else f"http://127.0.0.1:{port}/metrics")
        result = _measure(args, ing, agent, size, progress)
        if result is None:
            print(
                f"error: the agent exited with {agent.returncode}; see {workdir}/agent.log"
                + ("" if args.keep else " (rerun with --keep to keep it)"),
                file=sys.stderr,
            )
            return 1
        _report(args, result)
        return 0 if result["complete"] else 1
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        localstack.stop(procs[::-1])
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_SAMPLE = re.compile(r'^(logflux_agent_[a-z_]+)\{([^}]*input="bench"[^}]*)\} ([0-9.e+]+)$', re.M)


class _Progress:
    """How far the run is: entries accepted, or (with processors) lines read and handled."""

    def __init__(self, metrics_url: str | None) -> None:
        self._url = metrics_url
        self._polls = 0
        self.read = 0
        self.lag = -1  # unknown until scraped
        self.dropped = 0

    def handled(self, accepted: int) -> int:
        """Lines handled so far: ``accepted`` without processors, else lines read."""
        return accepted if self._url is None else self.read

    def complete(self, accepted: int, lines: int) -> bool:
        if self._url is None:
            return accepted >= lines
        return self.read >= lines and self.lag == 0

    def poll(self) -> None:
        """Scrape the agent's metrics every fifth call (twice a second); a failed scrape
        (the endpoint not up yet) keeps the last figures."""
        self._polls += 1
        if self._url is None or self._polls % 5 != 1:
            return
        try:
            with urllib.request.urlopen(self._url, timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return
        read = lag = dropped = 0.0
        for name, _labels, value in _SAMPLE.findall(text):
            if name == "logflux_agent_input_entries_total":
                read = float(value)
            elif name == "logflux_agent_file_lag_bytes":
                lag = float(value)
            elif name == "logflux_agent_processing_dropped_entries_total":
                dropped += float(value)
        self.read, self.lag, self.dropped = int(read), int(lag), int(dropped)


def _measure(
    args: argparse.Namespace,
    ing: localstack.LocalIngestor,
    agent: Any,
    size: int,
    progress: _Progress,
) -> dict[str, Any] | None:
    tty = sys.stderr.isatty() and not args.json
    started = time.monotonic()
    # (t, tree cpu, accepted, agent process cpu) at the first accept
    first: tuple[float, float, int, float] | None = None
    peak_rss = peak_pss = 0
    accepted = 0
    last_t, last_cpu, last_main = started, 0.0, 0.0
    while True:
        sample = sample_tree(agent.pid)
        main_cpu = cpu_seconds(agent.pid, include_reaped=False)
        if sample.rss_total > peak_rss:
            peak_rss = sample.rss_total
            peak_pss = max(peak_pss, pss_tree(agent.pid))
        accepted = int(ing.stats().get("entries_accepted", 0))
        progress.poll()
        handled = progress.handled(accepted)
        now = time.monotonic()
        if accepted and first is None:
            first = (now, sample.cpu, handled, main_cpu)
        last_t, last_cpu, last_main = now, sample.cpu, main_cpu
        if tty:
            rate = (handled - first[2]) / max(now - first[0], 1e-9) if first else 0.0
            _progress(handled, args.lines, rate)
        complete = progress.complete(accepted, args.lines)
        if complete or now - started > args.seconds:
            break
        if agent.poll() is not None:
            return None
        time.sleep(0.1)
    if tty:
        sys.stderr.write("\n")
    t0, cpu0, n0, main0 = first if first is not None else (started, 0.0, 0, 0.0)
    if last_t - t0 < 1.0 or progress.handled(accepted) - n0 < args.lines // 10:
        # Too short a steady window to measure (a small --lines, or lines read ahead of the
        # first accept): count the whole run, start-up included, which overstates the cost.
        t0, cpu0, n0, main0 = started, 0.0, 0, 0.0
    window = max(last_t - t0, 1e-9)
    lines = max(progress.handled(accepted) - n0, 1)
    line_bytes = size / args.lines
    return {
        "lines": args.lines,
        "accepted": accepted,
        "dropped_by_processors": progress.dropped,
        "complete": complete,
        "seconds": round(last_t - started, 2),
        "lines_per_second": round(lines / window),
        "mib_per_second": round(lines / window * line_bytes / 2**20, 2),
        "cpu_us_per_line": round((last_cpu - cpu0) / lines * 1e6, 2),
        # The split: the agent process (reading, batching, HTTP, acks) and its encode workers.
        "cpu_us_per_line_agent_process": round((last_main - main0) / lines * 1e6, 2),
        "cpu_us_per_line_encode_workers": round(
            (last_cpu - cpu0 - (last_main - main0)) / lines * 1e6, 2
        ),
        "peak_rss_mib": round(peak_rss / 2**20, 1),
        "peak_pss_mib": round(peak_pss / 2**20, 1),
        "processors": bool(args.processors),
        "record_ids": not args.no_record_ids,
        "ledger": not args.no_ledger,
        "window": "whole run" if n0 == 0 else "first to last accepted entry",
    }


def _report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(result))
        return
    if result["processors"]:
        print(
            f"entries shipped    {result['accepted']:,} from {result['lines']:,} lines"
            f" ({result['dropped_by_processors']:,} dropped by processors)"
        )
    else:
        print(f"lines shipped      {result['accepted']:,} of {result['lines']:,}")
    print(f"lines/s            {result['lines_per_second']:,}")
    print(f"MiB/s              {result['mib_per_second']}")
    print(
        f"CPU µs/line        {result['cpu_us_per_line']}  (agent process "
        f"{result['cpu_us_per_line_agent_process']} + encode workers "
        f"{result['cpu_us_per_line_encode_workers']})"
    )
    print(
        f"peak RSS MiB       {result['peak_rss_mib']}  (process tree; PSS {result['peak_pss_mib']})"
    )
    if not result["complete"]:
        print(f"stopped after {args.seconds:g} s before every line arrived")
