"""Scenario ``outage``: the ingestor fails every request for a while; memory must stay bounded.

``--input socket`` runs the disk-spool variant instead (spool_outage.py: a socket producer
spooled during the outage, then the replay); what follows is the file variant (the default).

A paced writer appends 50k lines/s to a file the agent tails. After a warm-up the reference
ingestor is told (``POST /_ref/faults``) to answer every request with 503 for the outage
(120 s; 20 s with --quick), then to recover. Meanwhile the harness samples the agent's process
tree: the peak RSS during the outage must stay under the bound the README's formula gives for
the configured queue, and the agent must catch up with the backlog and come back down afterwards.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import procstat
import report
from agentrun import Agent, bench_config
from common import Options
from ingestor import Ingestor
from procs import Child, python_env, wait_for

QUEUE_MAX_ENTRIES = 20_000
QUEUE_MAX_BYTES = 33_554_432


# The formula of docs/pipeline.md ("Memory bound"), with the benchmark's settings.
BASE_MIB = 60.0
WORKER_BASE_MIB = 20.0
BATCH_MAX_BYTES = 4_194_304
READ_CHUNK_BYTES = 262_144


def rss_bound_mib(opts: Options) -> tuple[float, float, str]:
    """(bound for the agent process, bound for the whole tree, where it came from)."""
    mib = report.MIB
    main = (
        BASE_MIB
        + QUEUE_MAX_BYTES / mib
        + (opts.max_in_flight + 1) * 2 * BATCH_MAX_BYTES / mib
        + 2 * READ_CHUNK_BYTES / mib
    )
    worker = WORKER_BASE_MIB + 2 * BATCH_MAX_BYTES / mib
    tree = main + opts.encode_workers * worker
    if opts.rss_bound_mib is not None:
        return main, opts.rss_bound_mib, "--rss-bound-mib"
    return (
        main,
        tree,
        (
            "docs/pipeline.md: 60 + queue.max_bytes + (max_in_flight+1) x 2 x "
            "batch_max_bytes + 2 x read_chunk_bytes, + (20 + 2 x batch_max_bytes) "
            "per encode worker"
        ),
    )


def start_outage(ing: Ingestor, seconds: float) -> Any:
    return ing.faults({"status": 503, "count": 10**9, "retry_after": None, "duration": seconds})


def end_outage(ing: Ingestor) -> Any:
    return ing.faults({"clear": True})


def run(opts: Options) -> dict[str, Any]:
    if opts.outage_input == "socket":  # what cannot be read again waits in the disk spool
        import spool_outage

        return spool_outage.scenario(opts)
    work = opts.workdir / "outage"
    work.mkdir(parents=True, exist_ok=True)
    log_file = work / "app.log"
    log_file.touch()
    warm = opts.scaled(20.0, 8.0)
    tail = opts.scaled(15.0, 5.0)
    total = warm + opts.outage_seconds + tail
    bound_main, bound, bound_source = rss_bound_mib(opts)
    ing = Ingestor(opts.agent_bin, work / "ingestor", decrypt=False)
    agent: Agent | None = None
    writer: Child | None = None
    try:
        cfg = bench_config(
            opts,
            ing.api_key,
            ing.url,
            work,
            [str(log_file)],
            queue={"max_entries": QUEUE_MAX_ENTRIES, "max_bytes": QUEUE_MAX_BYTES},
        )
        agent = Agent(opts.agent_bin, work, cfg)
        agent.wait_health()
        sampler = procstat.TreeSampler(agent.pid, 0.2).start()
        done_file = work / "writer.done.json"
        progress = work / "writer.progress.json"
        writer = Child(
            "writer",
            [
                sys.executable,
                str(Path(__file__).with_name("writer.py")),
                "--out",
                str(log_file),
                "--rate",
                str(opts.outage_rate),
                "--duration",
                str(total),
                "--done-file",
                str(done_file),
                "--progress-file",
                str(progress),
            ],
            work / "writer.log",
            env=python_env(),
        )
        t0 = time.monotonic()
        time.sleep(warm)
        before_outage = sampler.now()
        accepted_before = ing.accepted()
        queue_peak = 0.0
        start_outage(ing, opts.outage_seconds)
        out_start = time.monotonic()
        while time.monotonic() - out_start < opts.outage_seconds:
            q = agent.metric("logflux_agent_queue_bytes")
            queue_peak = max(queue_peak, q or 0.0)
            time.sleep(1.0)
        end_outage(ing)
        out_end = time.monotonic()
        accepted_at_end = ing.accepted()
        # How long the agent takes to notice the ingestor is back (its retry backoff).
        wait_for(
            lambda: ing.accepted() > accepted_at_end,
            opts.timeout,
            "the first entry accepted after the outage",
            interval=0.05,
        )
        first_after = time.monotonic() - out_end
        accepted_during = accepted_at_end - accepted_before
        # The writer's progress file is at most ~1 s old: the backlog figure is approximate.
        written_at_end = json.loads(progress.read_text())["written"] if progress.exists() else 0
        wait_for(done_file.exists, total + 60, "the writer to finish", alive=None)
        written = int(json.loads(done_file.read_text())["written"])
        caught_up = ing.wait_accepted(written, opts.timeout, interval=0.1)
        settle = opts.scaled(10.0, 5.0)
        time.sleep(settle)
        after = sampler.now()
        sampler.stop(dump_to=work / "samples.csv")
        peak_before = sampler.peak_rss(t0, out_start)
        peak_during = sampler.peak_rss(out_start, out_end)
        peak_after = sampler.peak_rss(out_end, caught_up)
        res: dict[str, Any] = {
            "writer_rate": opts.outage_rate,
            "writer_lines": written,
            "warmup_seconds": warm,
            "outage_seconds": round(out_end - out_start, 1),
            "accepted_during_outage": accepted_during,
            "backlog_lines_at_outage_end": max(written_at_end - accepted_at_end, 0),
            "first_accept_after_outage_seconds": round(first_after, 2),
            "catch_up_seconds": round(caught_up - out_end, 1),
            "rss_mib_before_outage": round(before_outage.rss_total / report.MIB, 1),
            "peak_rss_mib_before_outage": round(peak_before[0] / report.MIB, 1),
            "peak_rss_mib_during_outage": round(peak_during[0] / report.MIB, 1),
            "peak_rss_mib_main_during_outage": round(peak_during[1] / report.MIB, 1),
            "peak_rss_mib_catching_up": round(peak_after[0] / report.MIB, 1),
            "peak_rss_mib_main_catching_up": round(peak_after[1] / report.MIB, 1),
            "rss_mib_after_recovery": round(after.rss_total / report.MIB, 1),
            "queue_bytes_peak_mib": round(queue_peak / report.MIB, 1),
            "rss_bound_mib_tree": round(bound, 1),
            "rss_bound_mib_main": round(bound_main, 1),
            "rss_bound_source": bound_source,
            "cpu_us_per_line_whole_run": round(after.cpu / max(written, 1) * 1e6, 3),
            "send_failures": agent.metric("logflux_agent_send_failures_total"),
            "retries": agent.metric("logflux_agent_retries_total"),
        }
        worst = max(peak_during[0], peak_after[0]) / report.MIB
        worst_main = max(peak_during[1], peak_after[1]) / report.MIB
        res["checks"] = {
            "tree rss under bound": report.check(worst, "<=", bound),
            "main rss under bound": report.check(worst_main, "<=", bound_main),
            "caught up": "PASS",
            "recovered (rss after <= before + 10 %)": report.check(
                after.rss_total, "<=", before_outage.rss_total * 1.1
            ),
        }
        res["peak_breakdown"] = sampler.peak_breakdown
        res["exit_code"] = agent.stop()
        return res
    finally:
        if writer is not None:
            writer.stop()
        if agent is not None and agent.child.running():
            agent.stop()
        ing.stop()
