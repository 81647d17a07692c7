"""Durable positions (file offsets, journal cursors): one JSON document in the state directory.

The store has one writer, the checkpointer (pipeline/checkpointer.py): it applies the commits
of the ack path, the start positions inputs declare, and garbage collection. ``flush`` persists:
tmp file + fsync + rename + fsync of the directory, so a crash at any instant leaves either the
old or the new document, never a torn one. Inputs see only ``Positions`` (below): they read
their saved states when they are built and declare facts about their streams; what is written
is decided by the checkpointer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from logflux_agent.errors import StateError

if TYPE_CHECKING:
    from logflux_agent.record import Resumable

log = structlog.get_logger(__name__)

CHECKPOINT_FILE = "checkpoints.json"
_FORMAT_VERSION = 1


class Positions(Protocol):
    """What an input sees of the checkpointer: saved states, and facts about its streams.

    Nothing here writes by itself: ``track`` (a stream now exists, optionally at a position
    known without any record, e.g. a file started at its end), ``release`` (its source is gone)
    ``present`` (which keys the input still sees) and ``gap`` (a range that will never be read,
    for the receipt ledger) are facts; the checkpointer decides what to persist or drop.
    """

    def get(self, key: str) -> dict[str, Any] | None: ...

    def items(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]: ...

    def track(self, stream: Resumable, *, start: int | str | None = None) -> None: ...

    def release(self, stream: Resumable, final: int) -> None: ...

    def present(self, prefix: str, keys: set[str], grace: float, now: float) -> None: ...

    def gap(self, stream: Resumable, start: int, end: int, reason: str) -> None: ...


class CheckpointStore:
    """Stream key → JSON-able state dict, flushed atomically to ``state_dir/checkpoints.json``."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / CHECKPOINT_FILE
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self.writes = 0
        self.failures = 0
        self._last_error: str | None = None

    def load(self) -> None:
        """Create the state dir if needed and read the last persisted document."""
        from logflux_agent.statedir import prepare

        prepare(self.dir)  # StateError naming the true cause: read-only fs, permission, ...
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}") from exc
        try:
            doc = json.loads(raw)
            entries = doc["streams"]
            if not isinstance(entries, dict):
                raise TypeError("streams is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            # A corrupt document cannot come from our atomic writes; keep it for inspection
            # and start fresh rather than refuse to run.
            backup = self.path.with_suffix(".corrupt")
            os.replace(self.path, backup)
            log.error(
                "checkpoints.corrupt", path=str(self.path), moved_to=str(backup), error=str(exc)
            )
            return
        self._entries = {str(k): v for k, v in entries.items() if isinstance(v, dict)}

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        return dict(entry) if entry is not None else None

    def items(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        return [(k, dict(v)) for k, v in self._entries.items() if k.startswith(prefix)]

    def put(self, key: str, state: dict[str, Any]) -> None:
        self._entries[key] = state
        self._dirty = True

    def remove(self, key: str) -> None:
        if self._entries.pop(key, None) is not None:
            self._dirty = True

    @property
    def dirty(self) -> bool:
        return self._dirty

    def flush(self) -> bool:
        """Persist if anything changed. Returns False (logged once per cause) on failure."""
        if not self._dirty:
            return True
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps(
            {"version": _FORMAT_VERSION, "streams": self._entries}, separators=(",", ":")
        ).encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            self.failures += 1
            cause = f"{exc.errno}"
            if cause != self._last_error:
                log.error("checkpoints.write_failed", path=str(self.path), error=exc.strerror)
                self._last_error = cause
            return False
        if self._last_error is not None:
            log.info("checkpoints.write_recovered", path=str(self.path))
            self._last_error = None
        self._dirty = False
        self.writes += 1
        return True
