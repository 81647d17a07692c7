"""Is logging keeping up? The status document behind ``/status`` and the freshness gauges.

It owns one computation, made on demand (each ``/status`` request and each ``/metrics``
scrape), never in the hot path: per input, entries read / resolved / dropped, the age of the
oldest entry read but not yet accepted, and for file inputs the lag — bytes between the
committed (accepted) offset and the current size of each followed file, summed, and the
``TOP_FILES`` largest listed. Plus the sender (in flight, retry state and why, session age)
and the queue. Cost: one ``stat`` per followed file; bounded by the inputs' ``max_open_files``
and tracked files, and no file path ever becomes a metric label.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from logflux_agent import __version__
from logflux_agent.credentials import mask_secrets
from logflux_agent.observe import metrics
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.pipeline.queue import RecordQueue

if TYPE_CHECKING:
    from logflux_agent.supervisor import Supervisor

TOP_FILES = 10
MAX_PROBLEMS = 5


class _LagSource(Protocol):
    def committed_offsets(self) -> list[tuple[str, int, int, int]]: ...


@dataclass
class InputView:
    """What the supervisor knows of one running input."""

    id: str
    type: str
    instance: object
    dropped: int = 0
    restarts: int = 0
    last_error: str | None = None
    describe: dict[str, Any] = field(default_factory=dict)


def file_lag(source: _LagSource) -> tuple[int, list[dict[str, Any]]]:
    """Total lag in bytes and the per-file list (largest first, ``TOP_FILES`` at most)."""
    rows: list[dict[str, Any]] = []
    total = 0
    for path, dev, ino, committed in source.committed_offsets():
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) != (dev, ino):
            continue  # rotated away: the name now holds another file
        lag = max(0, st.st_size - committed)
        total += lag
        rows.append({"path": path, "lag_bytes": lag, "size": st.st_size, "committed": committed})
    rows.sort(key=lambda r: (-int(r["lag_bytes"]), str(r["path"])))
    return total, rows[:TOP_FILES]


def _error_counts(input_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for family in metrics.INPUT_ERRORS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("input") == input_id:
                counts[sample.labels["reason"]] = int(sample.value)
    return counts


def input_status(view: InputView, tracker: AckTracker) -> dict[str, Any]:
    read = tracker.emitted_total.get(view.id, 0)
    age = tracker.oldest_unresolved_age(view.id)
    doc: dict[str, Any] = {
        "id": view.id,
        "type": view.type,
        "read": read,
        "resolved": tracker.resolved.get(view.id, 0),
        "unacknowledged": tracker.unresolved(view.id),
        "oldest_unacked_age_seconds": round(age, 3),
        "dropped": view.dropped,
        "restarts": view.restarts,
        "errors": _error_counts(view.id),
        "last_error": view.last_error,
    }
    metrics.OLDEST_UNACKED_AGE.labels(input=view.id).set(age)
    problems = getattr(view.instance, "open_problems", None)
    if problems is not None:
        current = [mask_secrets(p) for p in problems()]
        doc["problems"] = current[-MAX_PROBLEMS:]
        if current and not view.last_error:
            doc["last_error"] = current[-1]
    if hasattr(view.instance, "committed_offsets"):
        total, files = file_lag(view.instance)
        doc["lag_bytes"] = total
        doc["files"] = files
        metrics.FILE_LAG_BYTES.labels(input=view.id).set(total)
    return doc


def readiness_of(sup: Supervisor) -> tuple[bool, str, str]:
    """The Supervisor's (ready, reason, blocking stage): ``session`` before the first
    handshake, else ``sender`` (refused key, 507, sends failing)."""
    client = sup.client
    if not sup.session_ready.is_set():
        reason = "no session with the ingestor yet (discovery/handshake pending)"
        last = client.status().get("last_error") if client is not None else None
        return False, f"{reason}: {last}" if last else reason, "session"
    spool = sup.spool  # a spool never makes the agent unready; it says so
    note = spool.readiness_note() if spool is not None else ""
    if client is not None:
        ok, reason = client.readiness()
        reason = f"{reason}; {note}" if note else str(reason)
        return bool(ok), reason, "" if ok else "sender"
    return True, f"ready; {note}" if note else "ready", ""


def status_of(sup: Supervisor) -> dict[str, Any]:
    """The whole ``/status`` body of the Supervisor ``sup`` (JSON-able); also refreshes the
    freshness gauges."""
    views: list[InputView] = [r.view for r in sup.inputs.values()]
    for view in views:
        view.dropped = sup.dropped.get(view.id, 0)
    tracker: AckTracker = sup.tracker
    queue: RecordQueue = sup.queue
    ready, reason, stage = sup.readiness()
    in_flight = sup.stage.in_flight if sup.stage is not None else 0
    sender: dict[str, Any] = {"in_flight": in_flight, "pending_batches": tracker.pending_batches}
    if sup.client is not None:
        sender.update(sup.client.status())
    last = tracker.last_accepted_wall
    return {
        "version": __version__,
        "pid": os.getpid(),
        "config": sup.config_path,
        "uptime_seconds": round(max(0.0, time.time() - sup.started_wall), 1),
        "ready": ready,
        "ready_stage": stage,
        "ready_reason": reason,
        "inputs": [input_status(v, tracker) for v in views],
        "queue": {
            "entries": queue.entries,
            "bytes": queue.bytes,
            "max_entries": queue.max_entries,
            "max_bytes": queue.max_bytes,
        },
        "sender": sender,
        **({"spool": sup.spool.status()} if sup.spool is not None else {}),
        **({"ledger": sup.receipts.status()} if sup.receipts is not None else {}),
        "last_accepted_timestamp": last or None,
        "last_accepted_age_seconds": round(time.time() - last, 1) if last else None,
    }
