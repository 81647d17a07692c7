"""Scenario ``idle-files``: the agent's CPU while it tails many files that do not change.

1,000 files of a few lines each are shipped first (so every file is open and caught up), then
the agent is left alone: its process-tree CPU over the idle window, as a percentage of one
core, is the figure (target < 1 %). /health is probed only a few times, outside the window, so
the probes do not add to what is measured.
"""

from __future__ import annotations

import time
from typing import Any

import procstat
import report
from agentrun import Agent, agent_config, free_port, probe_health
from common import Options
from gen import AccessLogGenerator
from ingestor import Ingestor

LINES_PER_FILE = 5


def run(opts: Options) -> dict[str, Any]:
    work = opts.workdir / "idle-files"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    gen = AccessLogGenerator()
    for i in range(opts.idle_files):
        (logs / f"app-{i:04d}.log").write_text("\n".join(gen.lines(LINES_PER_FILE)) + "\n")
    expected = opts.idle_files * LINES_PER_FILE
    ing = Ingestor(opts.agent_bin, work / "ingestor", decrypt=False)
    agent: Agent | None = None
    try:
        cfg = agent_config(
            api_key=ing.api_key,
            endpoint=ing.url,
            state_dir=work / "state",
            paths=[str(logs / "*.log")],
            metrics_port=free_port(),
            sender={"flush_interval": opts.flush_interval},
        )
        agent = Agent(opts.agent_bin, work, cfg)
        sampler = procstat.TreeSampler(agent.pid, 0.5).start()
        caught_up_at = ing.wait_accepted(expected, opts.timeout)
        startup = sampler.now()
        settle = opts.scaled(10.0, 5.0)
        time.sleep(settle)  # let the post-startup work (checkpoints, first rescans) finish
        before = sampler.now()
        time.sleep(opts.idle_seconds)
        after = sampler.now()
        probes = [probe_health(agent.metrics_port)[1] for _ in range(20)]
        sampler.stop(dump_to=work / "samples.csv")
        idle_cpu = after.cpu - before.cpu
        window = after.t - before.t
        res: dict[str, Any] = {
            "files": opts.idle_files,
            "lines_shipped_first": expected,
            "seconds_to_catch_up": round(caught_up_at - sampler.samples[0].t, 2),
            "startup_cpu_seconds": round(startup.cpu, 3),
            "idle_window_seconds": round(window, 1),
            "idle_cpu_seconds": round(idle_cpu, 3),
            "idle_cpu_percent": round(idle_cpu / window * 100, 3),
            "rss_mib_tree": round(after.rss_total / report.MIB, 1),
            "rss_mib_main": round(after.rss_main / report.MIB, 1),
            "processes": after.processes,
            "health_p50_ms_idle": report.ms(report.percentile(probes, 50)),
            "files_open_metric": agent.metric("logflux_agent_files_open"),
            "entries_accepted": ing.accepted(),
        }
        res["checks"] = {
            "idle cpu": report.check(res["idle_cpu_percent"], "<=", report.TARGET_IDLE_CPU_PERCENT)
        }
        res["exit_code"] = agent.stop()
        return res
    finally:
        if agent is not None and agent.child.running():
            agent.stop()
        ing.stop()
