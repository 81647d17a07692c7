"""The dead-letter file: entries the ingestor will never accept, kept for a human to inspect.

JSON lines in ``{state_dir}/dead-letter.jsonl`` (reason, status, error, source, timestamp,
message, and ``record_id`` when the input sets stable ids: ``logflux-agent audit`` reports a
file entry's bytes as dead-lettered from it), mode 0600 (it holds log data). When the next
line would pass ``max_bytes`` the file is rotated to ``dead-letter.jsonl.1`` (replacing the
previous one), so disk use stays bounded by twice the cap. Every entry counts in
``logflux_agent_dead_lettered_entries_total{reason}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import structlog

from logflux_agent.clock import Clock
from logflux_agent.credentials import mask_secrets
from logflux_agent.ingest.encode import format_timestamp
from logflux_agent.observe import metrics
from logflux_agent.record import Record

log = structlog.get_logger(__name__)

FILE_NAME = "dead-letter.jsonl"
_MAX_ERROR_CHARS = 500


class DeadLetters:
    """Appends dead-lettered records; never raises (a failed write is logged and counted)."""

    def __init__(self, state_dir: str, max_bytes: int, clock: Clock) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self.max_bytes = max(4096, max_bytes)
        self._clock = clock
        self.written = 0

    def write(
        self, records: Sequence[Record], *, reason: str, status: int | None, error: str
    ) -> None:
        if not records:
            return
        metrics.DEAD_LETTERED.labels(reason=reason).inc(len(records))
        now = format_timestamp(self._clock.wall())
        error = mask_secrets(error)[:_MAX_ERROR_CHARS]
        lines = []
        for rec in records:
            doc = {
                "time": now,
                "reason": reason,
                "status": status,
                "error": error,
                "source": rec.source,
                "timestamp": format_timestamp(rec.timestamp),
                "level": rec.level,
                "message": rec.message,
            }
            if rec.rid is not None:
                # Where the entry came from (docs/record-ids.md): audit maps it to its bytes.
                doc["record_id"] = rec.rid
            line = json.dumps(doc, ensure_ascii=False).encode("utf-8", "replace") + b"\n"
            if len(line) > self.max_bytes:
                keep = self.max_bytes // 2
                doc["message"] = rec.message[:keep] + "…[truncated]"
                doc["truncated"] = True
                line = json.dumps(doc, ensure_ascii=False).encode("utf-8", "replace") + b"\n"
            lines.append(line)
        try:
            self._append(lines)
        except OSError as exc:
            log.error(
                "deadletter.write_failed",
                path=str(self.path),
                entries=len(records),
                reason=reason,
                error=str(exc),
            )
            return
        self.written += len(records)
        log.warning(
            "deadletter.written",
            path=str(self.path),
            entries=len(records),
            reason=reason,
            status=status,
            error=error,
        )

    def write_too_large(
        self,
        records: Sequence[Record],
        too_large: Sequence[tuple[int, int]],
        *,
        max_payload: int,
        max_request: int,
    ) -> None:
        """Entries the encoder found over the server limits (index, size); never sent."""
        for index, size in too_large:
            self.write(
                [records[index]],
                reason="too_large",
                status=None,
                error=f"entry is {size} bytes: over the server limit "
                f"(max_payload_size {max_payload}, max_request_size {max_request}); not sent",
            )

    def _append(self, lines: list[bytes]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        fd = -1
        try:
            for line in lines:
                if size + len(line) > self.max_bytes and size > 0:
                    if fd >= 0:
                        os.close(fd)
                        fd = -1
                    os.replace(self.path, self.path.with_name(FILE_NAME + ".1"))
                    size = 0
                if fd < 0:
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                os.write(fd, line)
                size += len(line)
        finally:
            if fd >= 0:
                os.close(fd)
