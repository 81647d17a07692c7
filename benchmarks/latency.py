"""Scenario ``latency``: time from a line being written to the ingestor accepting it.

The paced writer stamps every line with the wall-clock time of its write() (``wt=<µs>``) and
writes 10k lines/s. The reference ingestor runs *decrypting* and records each accepted entry
with the time it accepted it; the harness reads the recorded entries back, takes ``wt`` out of
each decrypted message and reports percentiles of accepted_at - wt. Target: p99 ≤ the agent's
flush interval + 300 ms. Both clocks are this machine's wall clock.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import procstat
import report
from agentrun import Agent, HealthProber, bench_config
from common import Options
from ingestor import Ingestor
from procs import Child, HarnessError, python_env, wait_for

STAMP = re.compile(r" wt=(\d+) seq=(\d+)$")


def iter_entries(ing: Ingestor) -> Iterator[dict[str, Any]]:
    """Every recorded entry, from the ingestor's record file or its /_ref/entries API."""
    if ing.record_file is not None and ing.record_file.exists():
        with open(ing.record_file, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)
        return
    doc = ing.http.get_json("/_ref/entries")
    entries = doc.get("entries", doc) if isinstance(doc, dict) else doc
    yield from entries


def accepted_at(entry: dict[str, Any]) -> float:
    for key in ("accepted_at", "received_at", "accept_time", "at"):
        value = entry.get(key)
        if isinstance(value, int | float):
            return float(value)
    raise HarnessError(
        f"recorded entries carry no accept timestamp (accepted_at); fields: {sorted(entry)}"
    )


def message_of(entry: dict[str, Any]) -> str:
    payload = entry.get("payload")
    if isinstance(payload, str):
        payload = json.loads(payload)
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        raise HarnessError(f"recorded entry has no decrypted payload.message: {sorted(entry)}")
    return str(payload["message"])


def run(opts: Options) -> dict[str, Any]:
    work = opts.workdir / "latency"
    work.mkdir(parents=True, exist_ok=True)
    log_file = work / "app.log"
    log_file.touch()
    ing = Ingestor(opts.agent_bin, work / "ingestor", decrypt=True, record=True)
    agent: Agent | None = None
    writer: Child | None = None
    prober: HealthProber | None = None
    try:
        cfg = bench_config(opts, ing.api_key, ing.url, work, [str(log_file)])
        agent = Agent(opts.agent_bin, work, cfg)
        agent.wait_health()
        sampler = procstat.TreeSampler(agent.pid, 0.2).start()
        prober = HealthProber(agent.metrics_port, 0.1).start()
        done_file = work / "writer.done.json"
        writer = Child(
            "writer",
            [
                sys.executable,
                str(Path(__file__).with_name("writer.py")),
                "--out",
                str(log_file),
                "--rate",
                str(opts.latency_rate),
                "--duration",
                str(opts.latency_seconds),
                "--stamp",
                "--done-file",
                str(done_file),
            ],
            work / "writer.log",
            env=python_env(),
        )
        started = time.monotonic()
        cpu0 = sampler.now().cpu
        wait_for(done_file.exists, opts.latency_seconds + 120, "the writer to finish")
        written = int(json.loads(done_file.read_text())["written"])
        ing.wait_accepted(written, opts.timeout, interval=0.1)
        end = sampler.now()
        sampler.stop(dump_to=work / "samples.csv")
        prober.stop()
        latencies: list[float] = []
        seen: set[int] = set()
        duplicates = 0
        for entry in iter_entries(ing):
            m = STAMP.search(message_of(entry))
            if m is None:
                continue
            seq = int(m.group(2))
            if seq in seen:
                duplicates += 1
                continue
            seen.add(seq)
            latencies.append(accepted_at(entry) - int(m.group(1)) / 1e6)
        lat = report.latency_summary(latencies)
        res: dict[str, Any] = {
            "writer_rate": opts.latency_rate,
            "writer_lines": written,
            "flush_interval_s": opts.flush_interval,
            "entries_measured": len(latencies),
            "missing": written - len(seen),
            "duplicates": duplicates,
            "latency": lat,
            "agent_cpu_percent": round((end.cpu - cpu0) / (end.t - started) * 100, 1),
            "agent_cpu_us_per_line": round((end.cpu - cpu0) / max(written, 1) * 1e6, 2),
            "rss_mib_tree": round(sampler.peak_rss()[0] / report.MIB, 1),
            "health_p99_ms": report.ms(report.percentile(prober.latencies, 99)),
        }
        bound_ms = (opts.flush_interval + report.TARGET_LATENCY_SLACK_S) * 1000
        res["checks"] = {f"p99 <= {bound_ms:.0f} ms": report.check(lat["p99_ms"], "<=", bound_ms)}
        res["exit_code"] = agent.stop()
        return res
    finally:
        if prober is not None:
            prober.stop()
        if writer is not None:
            writer.stop()
        if agent is not None and agent.child.running():
            agent.stop()
        ing.stop()
