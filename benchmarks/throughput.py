"""Scenario ``throughput``: ship one generated file as fast as possible, agent vs syslog-ng.

Both shippers read the same file (the same bytes, from the page cache) and post batches of
1000 over loopback HTTP to a receiver in its own process: the agent to the reference ingestor
in counting mode (``--no-decrypt``: framing parsed and parts counted; the agent still does the
full protocol), syslog-ng to the counting sink. A run is complete when the receiver has counted
every line. CPU is user+sys of the shipper's whole process tree from /proc, RSS the sum over it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import procstat
import report
import syslogng
from agentrun import Agent, HealthProber, bench_config
from common import Options
from gen import cached_file, container_file
from ingestor import Ingestor
from procs import Child, HarnessError, Http, python_env


def measure_shipping(
    pid: int,
    n: int,
    count: Callable[[], int],
    alive: Child,
    timeout: float,
    sampler: procstat.TreeSampler,
    launched_at: float,
) -> dict[str, Any]:
    """Poll the receiver until ``n`` lines arrived; figures from the launch to the last line."""
    # (time, lines counted, CPU s of the root process alone, of the tree): the main/child split.
    series: list[tuple[float, int, float, float]] = []
    ticks0 = procstat.system_ticks()
    deadline = time.monotonic() + timeout
    first_at: float | None = None
    while True:
        got = count()
        now = time.monotonic()
        main_cpu = procstat.cpu_seconds(pid, include_reaped=False)
        series.append((now, got, main_cpu, procstat.sample_tree(pid).cpu))
        if got > 0 and first_at is None:
            first_at = now
        if got >= n:
            break
        if not alive.running():
            raise HarnessError(
                f"{alive.name} exited (code {alive.proc.returncode}) after "
                f"{got:,} of {n:,} lines; see {alive.log_path}\n{alive.tail()}"
            )
        if now > deadline:
            raise HarnessError(f"{alive.name}: only {got:,} of {n:,} lines after {timeout:.0f}s")
        time.sleep(0.02)
    done_at = series[-1][0]
    end = sampler.now()
    processes = procstat.breakdown(pid)
    assert first_at is not None
    i10 = next(i for i, row in enumerate(series) if row[1] >= n * 0.1)
    i90 = next(i for i, row in enumerate(series) if row[1] >= n * 0.9)
    t10, t90 = series[i10][0], series[i90][0]
    steady_lines = series[i90][1] - series[i10][1]
    cpu_steady = series[i90][3] - series[i10][3]
    main_steady = series[i90][2] - series[i10][2]
    main_total = series[-1][2]
    peak_tree, peak_main = sampler.peak_rss(launched_at, done_at)
    seconds = max(done_at - first_at, 1e-6)
    return {
        "lines": got,
        "seconds": round(seconds, 3),
        "wall_seconds": round(done_at - launched_at, 3),
        "lines_per_s": round(n / seconds),
        "lines_per_s_wall": round(n / (done_at - launched_at)),
        "lines_per_s_steady": round(steady_lines / (t90 - t10)) if t90 > t10 else None,
        "cpu_seconds": round(end.cpu, 3),
        "cpu_us_per_line": round(end.cpu / n * 1e6, 3),
        "cpu_us_per_line_steady": round(cpu_steady / steady_lines * 1e6, 3)
        if steady_lines
        else None,
        "cpu_percent": round(end.cpu / (done_at - launched_at) * 100, 1),
        # The split between the root process (for the agent: reading, batching, HTTP, acks) and
        # its children (the encode workers), whole run and 10-90 % window.
        "cpu_us_per_line_main": round(main_total / n * 1e6, 3),
        "cpu_us_per_line_children": round((end.cpu - main_total) / n * 1e6, 3),
        "cpu_us_per_line_main_steady": round(main_steady / steady_lines * 1e6, 3)
        if steady_lines
        else None,
        "cpu_us_per_line_children_steady": round((cpu_steady - main_steady) / steady_lines * 1e6, 3)
        if steady_lines
        else None,
        "peak_rss_mib_tree": round(peak_tree / report.MIB, 1),
        "peak_rss_mib_main": round(peak_main / report.MIB, 1),
        # The tree at its RSS peak with shared library pages counted once (split by PSS).
        "peak_pss_mib_tree": round(
            sum(float(str(p.get("pss_mib", 0))) for p in sampler.peak_breakdown), 1
        )
        if sampler.peak_breakdown
        else None,
        "processes": max(s.processes for s in sampler.samples),
        "process_breakdown": processes,
        # Everything on the machine (shipper, receiver, harness, others) and the hypervisor's
        # steal, over the run: a high steal or busy share means the figures are pessimistic.
        **procstat.system_share(ticks0, procstat.system_ticks()),
    }


def run_agent(opts: Options, log_file: Path, n: int, size: int, tag: str = "") -> dict[str, Any]:
    work = opts.workdir / f"throughput-agent{tag}"
    ing = Ingestor(opts.agent_bin, work / "ingestor", decrypt=False)
    agent: Agent | None = None
    prober: HealthProber | None = None
    try:
        cfg = bench_config(opts, ing.api_key, ing.url, work, [str(log_file)])
        if opts.processors:
            cfg["inputs"][0]["processors"] = opts.processors
        base = ing.accepted()
        launched = time.monotonic()
        agent = Agent(opts.agent_bin, work, cfg)
        sampler = procstat.TreeSampler(agent.pid, 0.05).start()
        prober = HealthProber(agent.metrics_port, opts.health_interval).start()
        profiler = start_profiler(opts, agent.pid, work) if opts.profile else None
        res = measure_shipping(
            agent.pid,
            n,
            lambda: ing.accepted() - base,
            agent.child,
            opts.timeout,
            sampler,
            launched,
        )
        prober.stop()
        if profiler is not None:
            res["profile"] = stop_profiler(profiler, work)
        sampler.stop(dump_to=work / "samples.csv")
        res["mib_per_s"] = round(size / report.MIB / res["seconds"], 1)
        lat = prober.latencies
        res.update(
            health_p50_ms=report.ms(report.percentile(lat, 50)),
            health_p99_ms=report.ms(report.percentile(lat, 99)),
            health_max_ms=report.ms(max(lat) if lat else None),
            health_probes=len(lat),
            health_failures=prober.failures,
        )
        res["exit_code"] = agent.stop()
        res["stop_seconds"] = round(agent.stop_seconds or 0.0, 2)
        res["ingestor_stats"] = ing.stats()
        res["log"] = str(agent.child.log_path)
        return res
    finally:
        if prober is not None:
            prober.stop()
        if agent is not None and agent.child.running():
            agent.stop()
        ing.stop()


def run_syslog_ng(
    opts: Options, binary: str, log_file: Path, n: int, size: int, tag: str = ""
) -> dict[str, Any]:
    work = opts.workdir / f"throughput-syslog-ng{tag}"
    work.mkdir(parents=True, exist_ok=True)
    ready = work / "sink.ready.json"
    sink = Child(
        "sink",
        [sys.executable, str(Path(__file__).with_name("sink.py")), "--ready-file", str(ready)],
        work / "sink.log",
        env=python_env(),
    )
    sng: Child | None = None
    try:
        info = sink.wait_ready_file(ready)
        http = Http(info["url"])
        config = work / "syslog-ng.conf"
        syslogng.write_config(config, log_file=log_file, sink_url=info["url"])
        problem = syslogng.check_config(binary, config)
        if problem:
            raise HarnessError(f"syslog-ng rejected {config}: {problem}")
        launched = time.monotonic()
        sng = Child("syslog-ng", syslogng.command(binary, work, config), work / "syslog-ng.log")
        sampler = procstat.TreeSampler(sng.pid, 0.05).start()
        res = measure_shipping(
            sng.pid,
            n,
            lambda: int(http.get_json("/stats")["lines"]),
            sng,
            opts.timeout,
            sampler,
            launched,
        )
        sampler.stop(dump_to=work / "samples.csv")
        res["mib_per_s"] = round(size / report.MIB / res["seconds"], 1)
        res["sink_cpu_seconds"] = round(procstat.cpu_seconds(sink.pid), 3)
        res["exit_code"] = sng.stop()
        res["config"] = str(config)
        return res
    finally:
        if sng is not None and sng.running():
            sng.stop()
        sink.stop()


def run(opts: Options) -> dict[str, Any]:
    n = opts.lines
    source = cached_file(n) if opts.line_format == "plain" else container_file(n)
    size = source.stat().st_size
    res: dict[str, Any] = {
        "lines": n,
        "bytes": size,
        "avg_line_bytes": round(size / n, 1),
        "file": str(source),
        "line_format": opts.line_format,
        "processors": opts.processors or [],
    }
    binary = syslogng.find_syslog_ng() if opts.syslog_ng != "no" else None
    agent_runs: list[dict[str, Any]] = []
    sng_runs: list[dict[str, Any]] = []
    for i in range(opts.repeat):
        tag = f"-{i + 1}" if opts.repeat > 1 else ""
        if opts.syslog_ng != "only":
            agent_runs.append(run_agent(opts, source, n, size, tag))
        if binary is not None:
            sng_runs.append(run_syslog_ng(opts, binary, source, n, size, tag))
        if opts.repeat > 1:
            print(
                f"  run {i + 1}/{opts.repeat}: "
                + ", ".join(
                    f"{name} {r[-1]['lines_per_s']:,} lines/s {r[-1]['cpu_us_per_line']} µs/line"
                    for name, r in (("agent", agent_runs), ("syslog-ng", sng_runs))
                    if r
                ),
                file=sys.stderr,
                flush=True,
            )
    if agent_runs:
        res["agent"] = median_run(agent_runs)
    if binary is not None:
        res["syslog_ng_name"] = syslogng.version(binary)
        res["syslog_ng"] = median_run(sng_runs)
    elif opts.syslog_ng != "no":
        res["syslog_ng_note"] = syslogng.INSTALL_HINT
    agent, sng = res.get("agent"), res.get("syslog_ng")
    if agent:
        res["checks"] = {
            "lines/s": report.check(agent["lines_per_s"], ">=", report.TARGET_LINES_PER_S),
            "cpu µs/line": report.check(
                agent["cpu_us_per_line"], "<=", report.TARGET_CPU_US_PER_LINE
            ),
            "rss": report.check(agent["peak_rss_mib_tree"], "<=", report.TARGET_RSS_MIB),
            "/health p99": report.check(agent["health_p99_ms"], "<=", report.TARGET_HEALTH_P99_MS),
        }
    if agent and sng:
        res["ratios"] = {
            "lines_per_s": report.ratio(agent["lines_per_s"], sng["lines_per_s"]),
            "cpu_us_per_line": report.ratio(agent["cpu_us_per_line"], sng["cpu_us_per_line"]),
            "peak_rss": report.ratio(agent["peak_rss_mib_tree"], sng["peak_rss_mib_tree"]),
        }
    if agent:
        res["targets_18"] = report.targets_18(agent, sng, res.get("ratios") or {})
    return res


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median lines/s, plus every run's headline figures."""
    ordered = sorted(runs, key=lambda r: r["lines_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        chosen["runs"] = [
            {
                k: r.get(k)
                for k in (
                    "lines_per_s",
                    "cpu_us_per_line",
                    "cpu_us_per_line_steady",
                    "cpu_us_per_line_main",
                    "cpu_us_per_line_children",
                    "peak_rss_mib_tree",
                    "peak_pss_mib_tree",
                    "health_p99_ms",
                    "steal_percent",
                )
            }
            for r in runs
        ]
    return chosen


# -- optional py-spy profile of the agent during the run ---------------------------------------


def start_profiler(opts: Options, pid: int, work: Path) -> Child | None:
    spy = Path(opts.agent_bin).with_name("py-spy")
    if not spy.exists():
        print(f"--profile: {spy} not found (pip install py-spy into the venv)", file=sys.stderr)
        return None
    return Child(
        "py-spy",
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "200",
            "--format",
            "raw",
            "-o",
            str(work / "profile.txt"),
            "--nonblocking",
        ],
        work / "py-spy.log",
    )


def stop_profiler(child: Child, work: Path) -> dict[str, Any]:
    import pyspy

    child.proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
    try:
        child.proc.wait(timeout=60)
    finally:
        child.stop()
    raw = work / "profile.txt"
    if not raw.exists():
        return {"error": f"py-spy wrote no profile; see {child.log_path}"}
    return {"file": str(raw), "summary": pyspy.summarise(raw.read_text(), top=10)}
