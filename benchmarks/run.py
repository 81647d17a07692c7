"""The benchmark harness (issue 8): runs scenarios against the real agent and prints figures.

    python benchmarks/run.py throughput            # agent vs syslog-ng, 1,000,000 lines
    python benchmarks/run.py outage                # 2-minute ingestor outage at 50k lines/s
    python benchmarks/run.py outage --input socket # the disk spool: spooling and replay rates
    python benchmarks/run.py idle-files            # 1,000 idle tailed files
    python benchmarks/run.py latency               # write -> accepted at 10k lines/s
    python benchmarks/run.py all --quick --json    # everything, scaled down, as JSON

Every process (agent, reference ingestor, syslog-ng, its sink, the paced writer) is a child of
this script with its own pid, so each one's CPU and memory are measured separately. Figures are
printed as tables (stdout); ``--json`` prints one JSON document instead (tables go to stderr).
Nothing here is a test: targets are checked and reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import report
from agentrun import default_agent_bin
from common import Options, machine
from procs import HarnessError

SCENARIOS = ("throughput", "outage", "idle-files", "latency")


def _runner(name: str) -> Callable[[Options], dict[str, Any]]:
    if name == "throughput":
        import throughput

        return throughput.run
    if name == "outage":
        import outage

        return outage.run
    if name == "idle-files":
        import idle

        return idle.run
    import latency

    return latency.run


def _render(name: str, res: dict[str, Any]) -> str:
    if name == "throughput":
        return report.render_throughput(res)
    return report.render_kv(name, res)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="logflux-agent benchmarks (issue 8)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("scenario", nargs="+", choices=(*SCENARIOS, "all"))
    p.add_argument(
        "--quick",
        action="store_true",
        help="scale everything down (200k lines, 20 s outage, short windows)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON document on stdout")
    p.add_argument("--lines", type=int, help="throughput: lines (default 1,000,000; quick 200k)")
    p.add_argument("--outage-seconds", type=float, help="outage length (default 120; quick 20)")
    p.add_argument("--outage-rate", type=float, default=50_000.0, help="writer lines/s")
    p.add_argument(
        "--input",
        choices=("file", "socket"),
        default="file",
        help="outage: a tailed file (memory bound), or a socket input with the disk spool "
        "(spooling and replay rates)",
    )
    p.add_argument(
        "--outage-entries",
        type=int,
        help="outage --input socket: entries spooled (default 200,000; quick 50k)",
    )
    p.add_argument(
        "--spool-fsync",
        choices=("every_batch", "interval"),
        default="every_batch",
        help="outage --input socket: the spool's fsync mode",
    )
    p.add_argument(
        "--rss-bound-mib",
        type=float,
        help="outage: the RSS bound to check (default: README formula for the "
        "benchmark's queue settings)",
    )
    p.add_argument("--idle-files", type=int, default=1000)
    p.add_argument("--idle-seconds", type=float, help="idle window (default 60; quick 15)")
    p.add_argument("--latency-rate", type=float, default=10_000.0)
    p.add_argument("--latency-seconds", type=float, help="writer duration (default 60; quick 15)")
    p.add_argument(
        "--health-interval",
        type=float,
        default=0.02,
        help="seconds between /health probes while shipping",
    )
    p.add_argument("--encode-workers", type=int, default=1)
    p.add_argument("--max-in-flight", type=int, default=4)
    p.add_argument("--flush-interval", type=float, default=1.0)
    p.add_argument(
        "--syslog-ng",
        choices=("auto", "no", "only"),
        default="auto",
        help="throughput: also ship with syslog-ng when installed (auto), skip it, "
        "or run only syslog-ng",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="throughput: run each shipper N times (alternating) and report the "
        "median run by lines/s, with the spread",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="throughput: py-spy record the agent (py-spy must be in the venv)",
    )
    p.add_argument(
        "--line-format",
        choices=("plain", "cri-json"),
        default="plain",
        help="throughput: plain access-log lines, or container lines (JSON app lines in CRI "
        "records, in a /var/log/pods-style path)",
    )
    p.add_argument(
        "--processors",
        type=Path,
        metavar="FILE",
        help="throughput: a YAML file holding the file input's processors list",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="per-phase timeout, seconds")
    p.add_argument("--agent-bin", default=default_agent_bin())
    p.add_argument("--workdir", type=Path, help="keep work files here (default: temp, removed)")
    return p.parse_args(argv)


def _processors(path: Path | None) -> list[Any] | None:
    if path is None:
        return None
    import yaml

    doc = yaml.safe_load(path.read_text())
    return list(doc["processors"] if isinstance(doc, dict) else doc)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = list(SCENARIOS) if "all" in args.scenario else list(dict.fromkeys(args.scenario))
    quick = args.quick
    keep = args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="logflux-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    opts = Options(
        agent_bin=args.agent_bin,
        workdir=workdir,
        lines=args.lines or (200_000 if quick else 1_000_000),
        quick=quick,
        outage_seconds=args.outage_seconds or (20.0 if quick else 120.0),
        outage_rate=args.outage_rate,
        idle_files=args.idle_files,
        idle_seconds=args.idle_seconds or (15.0 if quick else 60.0),
        latency_rate=args.latency_rate,
        latency_seconds=args.latency_seconds or (15.0 if quick else 60.0),
        health_interval=args.health_interval,
        timeout=args.timeout,
        syslog_ng=args.syslog_ng,
        rss_bound_mib=args.rss_bound_mib,
        encode_workers=args.encode_workers,
        max_in_flight=args.max_in_flight,
        flush_interval=args.flush_interval,
        profile=args.profile,
        repeat=max(1, args.repeat),
        line_format=args.line_format,
        processors=_processors(args.processors),
        outage_input=args.input,
        outage_entries=args.outage_entries,
        spool_fsync=args.spool_fsync,
    )
    if args.syslog_ng != "only" and not Path(opts.agent_bin).exists():
        print(f"run.py: agent not found at {opts.agent_bin} (use --agent-bin)", file=sys.stderr)
        return 2
    doc: dict[str, Any] = {
        "machine": machine(opts.agent_bin),
        "quick": quick,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scenarios": {},
    }
    out = sys.stderr if args.json else sys.stdout
    m = doc["machine"]
    print(
        f"machine: {m['nproc']} cores, {m['cpu_model']}, {m['mem_gib']} GiB, "
        f"kernel {m['kernel']}, Python {m['python']}, {m['agent']}\n"
        f"load average {m['load_avg_at_start']}; calibration loop (JSON+gzip+AES in-process) "
        f"{m['calibration_us_per_entry']} µs/entry (quiet-machine floor ~5)",
        file=out,
    )
    code = 0
    try:
        for name in names:
            print(f"\n== {name} ==", file=out, flush=True)
            started = time.monotonic()
            try:
                res = _runner(name)(opts)
            except HarnessError as exc:
                print(f"{name}: FAILED: {exc}", file=out)
                doc["scenarios"][name] = {"error": str(exc)}
                code = 1
                continue
            res["harness_seconds"] = round(time.monotonic() - started, 1)
            doc["scenarios"][name] = res
            print(_render(name, res), file=out, flush=True)
    finally:
        if keep:
            print(f"\nwork files kept in {workdir}", file=out)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
