"""Helpers the e2e tests share: an agent tailing files into the reference ingestor, the agent's
metrics read over HTTP, entries keyed by message, numbered lines appended to a file."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.agentproc import AgentProcess

if TYPE_CHECKING:
    from tests.support.refingestor import RefIngestor


def file_agent(
    workdir: Path,
    ingestor: RefIngestor,
    paths: list[Path],
    *,
    extra: dict[str, Any] | None = None,
    metrics: bool = True,
    **options: Any,
) -> AgentProcess:
    """The real agent in ``workdir`` with one file input ``app`` reading ``paths`` from the
    beginning (``options``: more keys of that input), shipping to ``ingestor``."""
    file_input = {"type": "file", "id": "app", "paths": [str(p) for p in paths]}
    file_input |= {"start_at": "beginning", **options}
    return AgentProcess(
        workdir,
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=[file_input],
        extra=extra,
        metrics=metrics,
    )


def write_lines(path: Path, prefix: str, n: int, start: int = 0) -> list[str]:
    lines = [f"{prefix}-{i:08d} payload" for i in range(start, start + n)]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    return lines


def by_message(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["payload"]["message"]: e["payload"] for e in entries}


def metric(agent: AgentProcess, name: str, **labels: str) -> float:
    """The sum of ``name`` over the series carrying ``labels``; 0 while nothing listens yet."""
    url = f"http://127.0.0.1:{agent.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
    except OSError:  # not listening yet
        return 0.0
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            inner = head[len(name) :].strip("{}")
            parts = ",".join(sorted(p for p in inner.split(",") if p))
            if all(f in parts.split(",") for f in want.split(",") if f):
                total += float(value)
    return total
