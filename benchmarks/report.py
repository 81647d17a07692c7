"""Figures into words: percentiles, the targets of issue 8, and the printed tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MIB = 1024 * 1024

# The targets (issue 8). Checked here, by the benchmark, never by a timed test.
TARGET_LINES_PER_S = 250_000
TARGET_CPU_US_PER_LINE = 6.0
TARGET_RSS_MIB = 80.0
TARGET_HEALTH_P99_MS = 100.0
TARGET_IDLE_CPU_PERCENT = 1.0
TARGET_LATENCY_SLACK_S = 0.3
# Issue 18: against syslog-ng in the same run, and the agent's memory.
TARGET_18_CPU_RATIO = 2.0  # agent CPU per line ≤ 2.0 times syslog-ng's
TARGET_18_LINES_RATIO = 0.75  # agent lines/s ≥ 0.75 times syslog-ng's
TARGET_18_RSS_MIB = 80.0  # peak RSS of the agent's tree
TARGET_18_PSS_MIB = 60.0  # PSS of the tree at that peak


def targets_18(
    agent: dict[str, Any], sng: dict[str, Any], ratios: dict[str, Any]
) -> list[dict[str, Any]]:
    """Issue 18's targets, each with its value and met / not met / n/a (no syslog-ng run)."""
    rows = [
        (
            "CPU µs/line, agent / syslog-ng",
            ratios.get("cpu_us_per_line"),
            "<=",
            TARGET_18_CPU_RATIO,
        ),
        ("lines/s, agent / syslog-ng", ratios.get("lines_per_s"), ">=", TARGET_18_LINES_RATIO),
        ("peak RSS MiB, agent tree", agent.get("peak_rss_mib_tree"), "<=", TARGET_18_RSS_MIB),
        ("PSS MiB, agent tree", agent.get("peak_pss_mib_tree"), "<=", TARGET_18_PSS_MIB),
    ]
    out = []
    for label, value, op, bound in rows:
        verdict = {"PASS": "met", "FAIL": "NOT met", "n/a": "n/a"}[check(value, op, bound)]
        if value is None and not sng and "syslog-ng" in label:
            verdict = "n/a (no syslog-ng run)"
        out.append(
            {"target": label, "value": value, "bound": f"{op} {bound:g}", "verdict": verdict}
        )
    return out


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),
        "p90_ms": ms(percentile(seconds, 90)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


def check(value: float | None, op: str, bound: float) -> str:
    if value is None:
        return "n/a"
    ok = value >= bound if op == ">=" else value <= bound
    return "PASS" if ok else "FAIL"


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in header]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, "-" * len(title)]
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def render_throughput(res: dict[str, Any]) -> str:
    agent = res.get("agent") or {}
    sng = res.get("syslog_ng") or {}
    rows_spec: list[tuple[str, str, str]] = [
        ("lines", "lines", ""),
        ("seconds (first accept -> last)", "seconds", ""),
        ("wall seconds (launch -> last)", "wall_seconds", ""),
        ("lines/s", "lines_per_s", f">= {TARGET_LINES_PER_S:,}"),
        ("lines/s incl. startup", "lines_per_s_wall", ""),
        ("MiB/s", "mib_per_s", ""),
        ("CPU µs/line (whole run)", "cpu_us_per_line", f"<= {TARGET_CPU_US_PER_LINE}"),
        ("  of it: main process", "cpu_us_per_line_main", ""),
        ("  of it: child processes (encode workers)", "cpu_us_per_line_children", ""),
        ("CPU µs/line (10-90 % window)", "cpu_us_per_line_steady", ""),
        ("  of it: main process", "cpu_us_per_line_main_steady", ""),
        ("  of it: child processes (encode workers)", "cpu_us_per_line_children_steady", ""),
        ("CPU % of one core (avg)", "cpu_percent", ""),
        ("peak RSS MiB (process tree)", "peak_rss_mib_tree", f"<= {TARGET_RSS_MIB:.0f}"),
        ("peak RSS MiB (main process)", "peak_rss_mib_main", ""),
        ("PSS MiB of the tree at that peak", "peak_pss_mib_tree", ""),
        ("processes", "processes", ""),
        ("/health p50 ms", "health_p50_ms", ""),
        ("/health p99 ms", "health_p99_ms", f"< {TARGET_HEALTH_P99_MS:.0f}"),
        ("/health max ms", "health_max_ms", ""),
        ("/health probes (failed)", "health_probes", ""),
        ("exit code after SIGTERM", "exit_code", "0"),
        ("machine busy % (all cores)", "machine_busy_percent", ""),
        ("hypervisor steal %", "steal_percent", ""),
    ]
    rows = []
    for label, key, target in rows_spec:
        a, s = agent.get(key), sng.get(key)
        r = (
            ratio(a, s)
            if key
            in (
                "lines_per_s",
                "cpu_us_per_line",
                "cpu_us_per_line_steady",
                "peak_rss_mib_tree",
                "mib_per_s",
            )
            else None
        )
        if key == "health_probes" and a is not None:
            a = f"{a} ({agent.get('health_failures', 0)})"
        rows.append((label, a, s, r, target))
    head = [
        "",
        res.get("agent_name", "logflux-agent"),
        res.get("syslog_ng_name", "syslog-ng"),
        "agent/syslog-ng",
        "target",
    ]
    out = [
        table(
            f"throughput: {res.get('lines', 0):,} lines of ~{res.get('avg_line_bytes')} B, "
            "file -> loopback HTTP, batches of 1000",
            head,
            rows,
        )
    ]
    if res.get("checks"):
        out.append("checks: " + ", ".join(f"{k} {v}" for k, v in res["checks"].items()))
    if res.get("targets_18"):
        out.append(
            table(
                "issue 18 targets (median runs)",
                ["target", "value", "bound", "verdict"],
                [(t["target"], t["value"], t["bound"], t["verdict"]) for t in res["targets_18"]],
            )
        )
    shippers: tuple[tuple[str, dict[str, Any]], ...] = (("agent", agent), ("syslog-ng", sng))
    for name, shipper in shippers:
        if shipper.get("runs"):
            out.append(
                f"{name} runs (median shown): "
                + "; ".join(
                    f"{x['lines_per_s']:,}/s {x['cpu_us_per_line']} µs" for x in shipper["runs"]
                )
            )
    if res.get("syslog_ng_note"):
        out.append(res["syslog_ng_note"])
    if agent.get("process_breakdown"):
        out.append("agent processes at the end of the run:")
        out += render_processes(agent["process_breakdown"])
    profile = agent.get("profile") or {}
    if profile.get("summary"):
        import pyspy

        out += ["", f"agent profile ({profile['file']}):", pyspy.render(profile["summary"])]
    elif profile.get("error"):
        out.append(f"profile: {profile['error']}")
    return "\n".join(out)


def render_processes(procs: list[dict[str, Any]]) -> list[str]:
    out = []
    for p in procs:
        out.append(
            f"  pid {p['pid']:>7}  rss {p['rss_mib']:6.1f} MiB  "
            f"pss {p.get('pss_mib', 0):6.1f} MiB  cpu {p['cpu_s']:7.2f} s  "
            f"faults {p.get('minor_faults') or 0:>8}  "
            f"{p['cmd'][:80]}"
        )
        threads = p.get("threads") or []
        if len(threads) > 1:
            out.append(
                "      threads: " + ", ".join(f"{t['name']} {t['cpu_s']} s" for t in threads)
            )
    return out


def render_kv(title: str, res: dict[str, Any]) -> str:
    rows = []
    notes = []
    for key, value in res.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                rows.append((f"{key}.{sub}", v))
        elif isinstance(value, str) and len(value) > 40:
            notes.append(f"{key}: {value}")
        elif not isinstance(value, list):
            rows.append((key, value))
    out = [table(title, ["figure", "value"], rows), *notes]
    if res.get("peak_breakdown"):
        out.append("processes at the peak RSS:")
        out += render_processes(res["peak_breakdown"])
    return "\n".join(out)
