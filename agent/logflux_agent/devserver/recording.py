"""What the server saw: accepted entries (JSON lines, file + bounded memory) and the counters.

Each accepted entry is one compact JSON line ``{"key_id","nonce","entry_type","payload_type",
"x_timestamp","search_tokens","payload","accepted_at","request_id","index"}`` (plus
``"duplicate":true`` for a replay kept with ``--store-duplicates``). Lines are written and
flushed before the HTTP answer, so a client that saw 2xx finds its entries in the file. Memory
keeps the last ``keep`` lines (for ``GET /_ref/entries``); the file keeps everything.
"""

from __future__ import annotations

import os
import sys
from collections import Counter, deque
from typing import IO, Any

import structlog

from logflux_agent.errors import ConfigError

log = structlog.get_logger(__name__)


class Recorder:
    """Appends entry lines to the output (path, ``-`` = stdout, or None) and keeps the last few."""

    def __init__(self, output: str | None, keep: int) -> None:
        self._output = output
        self._file: IO[str] | None = None
        if output == "-":
            self._file = sys.stdout
        elif output:
            try:
                self._file = open(output, "a", encoding="utf-8")  # noqa: SIM115 - long-lived
            except OSError as exc:
                raise ConfigError(f"cannot open --output {output}: {exc.strerror}") from None
        self._memory: deque[str] = deque(maxlen=max(0, keep))
        self.total = 0  # lines recorded since start/reset; the next line's index

    @property
    def first_in_memory(self) -> int:
        return self.total - len(self._memory)

    def record(self, lines: list[str]) -> None:
        """Write and flush ``lines``; raises OSError when the output cannot take them."""
        if not lines:
            return
        if self._file is not None:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
        self._memory.extend(lines)
        self.total += len(lines)

    def page(self, since: int, limit: int) -> tuple[int, list[str]]:
        """Lines with index >= ``since`` still in memory, at most ``limit``: (first, lines)."""
        first = max(since, self.first_in_memory)
        if first >= self.total or limit <= 0:
            return first, []
        offset = first - self.first_in_memory
        count = min(limit, self.total - first)
        if offset == 0 and count == len(self._memory):
            return first, list(self._memory)
        mem = self._memory
        return first, [mem[i] for i in range(offset, offset + count)]

    def reset(self) -> None:
        """Forget every entry; a regular output file is truncated too."""
        self._memory.clear()
        self.total = 0
        if self._file is not None and self._file is not sys.stdout:
            self._file.flush()
            try:
                if os.path.isfile(self._output or ""):
                    self._file.truncate(0)
            except OSError as exc:
                log.warning("devserver.output_truncate_failed", error=str(exc))

    def close(self) -> None:
        if self._file is not None and self._file is not sys.stdout:
            self._file.close()
        self._file = None


class Stats:
    """Counters for ``GET /_ref/stats``; all reset by ``POST /_ref/reset``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0  # ingest requests
        self.bytes_in = 0  # ingest request body bytes read
        self.parts = 0  # parts parsed
        self.part_bytes = 0  # part content bytes
        self.entries_accepted = 0  # new entries accepted (duplicates not included)
        self.parts_failed = 0
        self.plaintext_bytes = 0
        self.parts_uncompressed = 0  # decrypted payloads without the gzip magic
        self.decrypt_failures = 0
        self.duplicates = 0
        self.nonce_reuse = 0
        self.handshakes = 0
        self.handshake_failures = 0
        self.handshakes_oaep_mgf1_sha1 = 0  # accepted only through the compatibility switch
        self.status: Counter[str] = Counter()  # ingest statuses
        self.status_by_endpoint: dict[str, Counter[str]] = {}
        self.failure_reasons: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()  # error codes of refused requests

    def count_status(self, endpoint: str, status: int) -> None:
        key = str(status)
        if endpoint == "ingest":
            self.status[key] += 1
        self.status_by_endpoint.setdefault(endpoint, Counter())[key] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "bytes_in": self.bytes_in,
            "parts": self.parts,
            "part_bytes": self.part_bytes,
            "entries_accepted": self.entries_accepted,
            "parts_failed": self.parts_failed,
            "plaintext_bytes": self.plaintext_bytes,
            "parts_uncompressed": self.parts_uncompressed,
            "decrypt_failures": self.decrypt_failures,
            "duplicates": self.duplicates,
            "nonce_reuse": self.nonce_reuse,
            "handshakes": self.handshakes,
            "handshake_failures": self.handshake_failures,
            "handshakes_oaep_mgf1_sha1": self.handshakes_oaep_mgf1_sha1,
            "status": dict(self.status),
            "status_by_endpoint": {k: dict(v) for k, v in self.status_by_endpoint.items()},
            "failure_reasons": dict(self.failure_reasons),
            "faults_injected": dict(self.faults_injected),
            "rejections": dict(self.rejections),
        }
