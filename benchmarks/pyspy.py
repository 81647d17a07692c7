"""Summarise a py-spy ``--format raw`` profile: where the agent's CPU goes, as a top-N table.

Each raw line is ``frame;frame;...;leaf count``; with ``--subprocesses`` the first frames
name the process. Self time is charged to the leaf frame (a C call such as zlib or AES shows as
the Python line that made it), inclusive time to every distinct function on the stack.

    python benchmarks/pyspy.py profile.txt [--top 10] [--by line|function]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_PROCESS = re.compile(r'^process (\d+):"(.*)"$')


def _short(path: str) -> str:
    for marker in ("logflux_agent/", "site-packages/", "lib/python3"):
        i = path.find(marker)
        if i >= 0:
            return path[i:]
    return path


def split_stack(stack: str) -> list[str]:
    """Frames of one stack; a process frame's quoted command line may itself contain ';'."""
    frames: list[str] = []
    for piece in stack.split(";"):
        if frames and frames[-1].startswith("process ") and frames[-1].count('"') == 1:
            frames[-1] += ";" + piece
        else:
            frames.append(piece)
    return frames


def summarise(raw: str, top: int = 10, by: str = "function") -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    per_process: Counter[str] = Counter()
    self_by_process: dict[str, Counter[str]] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = split_stack(stack)
        process = "main"
        code: list[str] = []
        depth = 0
        for frame in frames:
            m = _PROCESS.match(frame)
            if m:
                depth += 1
                process = "main" if depth == 1 else _process_name(m.group(2))
                continue
            f = _FRAME.match(frame)
            if f is None:
                code.append(frame)
                continue
            name = f"{f.group('func')} ({_short(f.group('file'))}"
            name += f":{f.group('line')})" if by == "line" and f.group("line") else ")"
            code.append(name)
        per_process[process] += count
        if code:
            self_time[code[-1]] += count
            self_by_process.setdefault(process, Counter())[code[-1]] += count
            for name in set(code):
                inclusive[name] += count

    def rows(counter: Counter[str]) -> list[dict[str, Any]]:
        return (
            [
                {"where": k, "samples": v, "percent": round(v / total * 100, 1)}
                for k, v in counter.most_common(top)
            ]
            if total
            else []
        )

    return {
        "samples": total,
        "by_process": dict(per_process),
        "self": rows(self_time),
        "inclusive": rows(inclusive),
        "self_by_process": {
            p: rows(c) for p, c in self_by_process.items() if per_process[p] >= total * 0.05
        },
    }


def _process_name(cmdline: str) -> str:
    """A short label for a child process from its command line."""
    for marker, label in (
        ("ingest.encode_worker", "encode-worker"),
        ("resource_tracker", "tracker"),
        ("spawn", "spawn-child"),
        ("multiprocessing", "mp-child"),
    ):
        if marker in cmdline:
            return label
    return "child:" + cmdline[:40]


def render(summary: dict[str, Any]) -> str:
    out = [
        f"py-spy samples: {summary['samples']} (per process: {summary['by_process']})",
        "",
        "top self time:",
    ]
    for r in summary["self"]:
        out.append(f"  {r['percent']:5.1f}%  {r['samples']:7d}  {r['where']}")
    for proc, rows in summary.get("self_by_process", {}).items():
        out += ["", f"top self time in {proc} ({summary['by_process'].get(proc, 0)} samples):"]
        out += [f"  {r['percent']:5.1f}%  {r['samples']:7d}  {r['where']}" for r in rows]
    out += ["", "top inclusive time:"]
    for r in summary["inclusive"]:
        out.append(f"  {r['percent']:5.1f}%  {r['samples']:7d}  {r['where']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="summarise a py-spy raw profile")
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--by", choices=("function", "line"), default="function")
    args = parser.parse_args(argv)
    print(render(summarise(args.profile.read_text(), args.top, args.by)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
