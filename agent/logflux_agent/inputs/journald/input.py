"""The journald input: follow the systemd journal through a managed ``journalctl -o json``.

It owns the reading loop and the start position; the command lines live in ``command.py`` (this
package), the child process in ``process.py``, the field mapping in ``mapping.py``.

Start position, in order: the committed cursor from the checkpoint store (resumed with
``--after-cursor``), else ``start_at`` (``beginning`` = the oldest entry; ``end`` = after the
newest entry present at the first start). A cursor is checked before every start of journalctl
(``--cursor=C --lines=1`` must print the entry carrying exactly ``C``): a cursor the journal no
longer knows (vacuumed, files replaced, another machine's journal) falls back to the oldest entry
with a ``journald.cursor_unknown`` warning — journalctl itself would silently seek to the nearest
entry by time, skipping or repeating entries without saying so.

journalctl is restarted with backoff whenever it exits; within one run it resumes after the last
entry handed to the pipeline, so a crash of the child neither loses nor repeats entries. A
missing binary, journal directory or journal file is logged and counted in
``logflux_agent_input_errors_total{reason=...}`` and retried; the agent keeps running.

Backpressure: a chunk's records are emitted before the next chunk is read, so while ``emit``
blocks nothing is read, the pipe fills, and journalctl waits.

Record ids (docs/record-ids.md): the entry's ``__CURSOR`` as journalctl prints it — the same
entry has the same cursor however often it is read. (A digest of it would save ~95 bytes per
entry but cost ~1.2 µs of CPU per entry: measured, and the bytes are cheaper.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from itertools import repeat
from operator import add, itemgetter
from typing import Any, cast

import structlog

from logflux_agent.checkpoints import Positions
from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.config.model import JournaldInputConfig
from logflux_agent.inputs.base import Emit
from logflux_agent.inputs.journald.command import (
    JournalSelection,
    cursor_probe_command,
    follow_command,
    tail_probe_command,
)
from logflux_agent.inputs.journald.mapping import BadEntry, EntryMapper
from logflux_agent.inputs.journald.process import (
    JournalctlMissing,
    JournalctlProcess,
    QueryResult,
    run_query,
)
from logflux_agent.observe import metrics
from logflux_agent.record import AckToken, Record, Resumable

log = structlog.get_logger(__name__)

_new_tuple = tuple.__new__
_ALL_BUT_RID = itemgetter(slice(0, 6))

READ_CHUNK_BYTES = 262_144
# One JSON line beyond this is skipped (and counted): bounds the memory a single entry can take.
MAX_ENTRY_BYTES = 8 * 1_048_576
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0
_STDERR_LOG_LINES = 20


def checkpoint_key(input_id: str) -> str:
    return f"journald:{input_id}"


class JournalAckStream(Resumable):
    """The journal's position stream: a committed cursor is stored as ``{"cursor": C}``."""

    __slots__ = ()

    def state(self, position: int | str) -> dict[str, Any]:
        return {"cursor": str(position)}


class _Failed(Exception):
    """This attempt cannot start journalctl; logged and counted already. Back off and retry."""


class JournaldInput:
    """``type: journald``. Runs until cancelled."""

    def __init__(
        self, config: JournaldInputConfig, positions: Positions, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.config = config
        self.name = config.id
        self.clock = clock
        self.stream = JournalAckStream(checkpoint_key(config.id))
        positions.track(self.stream)
        # Read once, here: the committed cursor of the last run.
        saved = positions.get(self.stream.key) or {}
        cursor = saved.get("cursor")
        self.saved_cursor: str | None = cursor if isinstance(cursor, str) and cursor else None
        self.selection = JournalSelection.from_config(config)
        self.mapper = EntryMapper(
            labels=config.labels, include_fields=config.include_fields, clock=clock
        )
        # Where the next journalctl starts: after this cursor, or at the oldest entry (None).
        # Unresolved until the first attempt decided it from the store or start_at.
        self._resume: str | None = None
        self._resolved = False
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._skipping = False
        # Observable by tests and debugging.
        self.process: JournalctlProcess | None = None
        self.starts = 0
        self.emitted = 0
        self._entries = metrics.INPUT_ENTRIES.labels(input=config.id)
        self._bytes = metrics.INPUT_BYTES.labels(input=config.id)
        self._invalid_utf8 = metrics.INVALID_UTF8.labels(input=config.id)
        self._record_ids = config.record_ids

    # ---- errors ---------------------------------------------------------------------------

    def _error(self, reason: str, event: str, *, level: str = "warning", **fields: Any) -> None:
        metrics.INPUT_ERRORS.labels(input=self.name, reason=reason).inc()
        getattr(log, level)(event, input=self.name, **fields)

    # ---- the loop -------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        delay = BACKOFF_MIN
        while True:
            try:
                progressed = await self._attempt(emit)
            except _Failed:
                progressed = False
            if progressed:
                delay = BACKOFF_MIN
            log.debug("journald.restarting", input=self.name, restart_in=delay)
            await self.clock.sleep(delay)
            if not progressed:
                delay = min(delay * 2, BACKOFF_MAX)

    async def _attempt(self, emit: Emit) -> bool:
        """Start journalctl once and read until it exits. True if any entry was emitted."""
        files = self._existing_files()
        await self._resolve_start(files)
        argv = follow_command(self.selection, self._resume, files)
        proc = JournalctlProcess(
            argv, chunk_bytes=READ_CHUNK_BYTES, on_stderr=self._stderr_logger()
        )
        try:
            await proc.start()
        except JournalctlMissing as exc:
            self._missing(exc)
            raise _Failed from exc
        self.process = proc
        self.starts += 1
        log.info(
            "journald.started",
            input=self.name,
            pid=proc.pid,
            after_cursor=self._resume,
            journal=self._journal_label(),
        )
        self._reset_framing()
        progressed = False
        try:
            while True:
                chunk = await proc.read()
                if not chunk:
                    break
                self._bytes.inc(len(chunk))
                records = self._records(chunk)
                if records:
                    await emit(records)
                    self.emitted += len(records)
                    self._entries.inc(len(records))
                    token = records[-1].ack
                    if token is not None:
                        self._resume = str(token.position)
                    progressed = True
        finally:
            returncode = await proc.stop()
        self._error(
            "journalctl_exited",
            "journald.journalctl_exited",
            returncode=returncode,
            stderr=" | ".join(proc.stderr_tail),
            resume_after=self._resume,
        )
        return progressed

    def _stderr_logger(self) -> Callable[[str], None]:
        logged = 0

        def on_stderr(line: str) -> None:
            nonlocal logged
            if logged < _STDERR_LOG_LINES:
                logged += 1
                log.warning("journald.journalctl_stderr", input=self.name, line=line)

        return on_stderr

    def _journal_label(self) -> str:
        sel = self.selection
        if sel.directory is not None:
            return sel.directory
        if sel.files:
            return ",".join(sel.files)
        return "system"

    def _missing(self, exc: JournalctlMissing) -> None:
        self._error(
            "journalctl_missing",
            "journald.journalctl_missing",
            level="error",
            journalctl=self.config.journalctl,
            error=str(exc),
            hint="install journalctl (package systemd) or set `journalctl:` to its path",
        )

    # ---- which journal, where to start -----------------------------------------------------

    def _existing_files(self) -> list[str] | None:
        sel = self.selection
        if sel.directory is not None:
            if not os.path.isdir(sel.directory):
                self._error(
                    "directory_missing", "journald.directory_missing", directory=sel.directory
                )
                raise _Failed
            return None
        if not sel.files:
            return None
        existing = [f for f in sel.files if os.path.exists(f)]
        missing = [f for f in sel.files if f not in existing]
        if missing:
            self._error("file_missing", "journald.file_missing", files=missing, following=existing)
        if not existing:
            raise _Failed
        return existing

    async def _query(self, argv: list[str]) -> QueryResult:
        try:
            return await run_query(argv)
        except JournalctlMissing as exc:
            self._missing(exc)
            raise _Failed from exc
        except TimeoutError as exc:
            self._error("journalctl_timeout", "journald.query_timeout", argv=argv)
            raise _Failed from exc

    async def _resolve_start(self, files: list[str] | None) -> None:
        if not self._resolved:
            if self.saved_cursor is not None:
                self._resume = self.saved_cursor
            elif self.config.start_at == "end":
                self._resume = await self._tail_cursor(files)
                log.info("journald.start_at_end", input=self.name, after_cursor=self._resume)
            else:
                self._resume = None
            self._resolved = True
        if self._resume is not None and not await self._cursor_known(self._resume, files):
            self._error(
                "cursor_unknown",
                "journald.cursor_unknown",
                cursor=self._resume,
                fallback="oldest entry",
                note="the journal no longer has this entry (vacuumed or replaced); "
                "entries between it and the oldest one are lost, others may repeat",
            )
            self._resume = None

    async def _tail_cursor(self, files: list[str] | None) -> str | None:
        result = await self._query(tail_probe_command(self.selection, files))
        if result.returncode != 0:
            self._error(
                "journalctl_failed",
                "journald.query_failed",
                returncode=result.returncode,
                stderr=" | ".join(result.stderr),
            )
            raise _Failed
        return _first_cursor(result.stdout)

    async def _cursor_known(self, cursor: str, files: list[str] | None) -> bool:
        result = await self._query(cursor_probe_command(self.selection, cursor, files))
        if result.returncode != 0:
            if any("cursor" in line.lower() for line in result.stderr):
                return False  # "Failed to seek to cursor": malformed for this journal
            self._error(
                "journalctl_failed",
                "journald.query_failed",
                returncode=result.returncode,
                stderr=" | ".join(result.stderr),
            )
            raise _Failed
        return _first_cursor(result.stdout) == cursor

    # ---- framing and mapping -----------------------------------------------------------------

    def _reset_framing(self) -> None:
        self._parts = []
        self._parts_size = 0
        self._skipping = False

    def _lines(self, chunk: bytes) -> list[str]:
        """Complete lines of this chunk (plus what earlier chunks left), decoded in one go."""
        if self._skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                return []
            self._skipping = False
            chunk = chunk[nl + 1 :]
        last = chunk.rfind(b"\n")
        if last < 0:
            if chunk:
                self._parts.append(chunk)
                self._parts_size += len(chunk)
            if self._parts_size > MAX_ENTRY_BYTES:
                self._error("entry_too_large", "journald.entry_too_large", limit=MAX_ENTRY_BYTES)
                self._reset_framing()
                self._skipping = True
            return []
        head = chunk[:last]
        if self._parts:
            self._parts.append(head)
            head = b"".join(self._parts)
        tail = chunk[last + 1 :]
        self._parts = [tail] if tail else []
        self._parts_size = len(tail)
        # journalctl's JSON is UTF-8 (undecodable field values are printed as byte arrays) and
        # escapes newlines inside strings, so splitting the decoded text on "\n" is exact.
        return head.decode("utf-8", "replace").split("\n")

    def _records(self, chunk: bytes) -> list[Record]:
        records: list[Record] = []
        cursors: list[str | None] = []
        parse = self.mapper.parse
        invalid_before = self.mapper.invalid_utf8
        for line in self._lines(chunk):
            if not line:
                continue
            try:
                record, cursor = parse(line)
            except BadEntry as exc:
                self._error("bad_entry", "journald.bad_entry", error=str(exc), line=line[:200])
                continue
            records.append(record)
            cursors.append(cursor)
        last_cursor = next((c for c in reversed(cursors) if c is not None), None)
        if records and self._record_ids:
            records = with_rids(records, cursors)
        if records and last_cursor is not None:
            records[-1] = records[-1].with_ack(AckToken(self.stream, last_cursor))
        invalid = self.mapper.invalid_utf8 - invalid_before
        if invalid:
            self._invalid_utf8.inc(invalid)
        return records


def with_rids(records: list[Record], rids: list[str | None]) -> list[Record]:
    """``records`` with these ids, rebuilt in one C-level pass (no ``_replace`` per entry)."""
    fields = map(add, map(_ALL_BUT_RID, records), zip(rids, strict=True))
    return cast("list[Record]", list(map(_new_tuple, repeat(Record), fields)))


def _first_cursor(stdout: bytes) -> str | None:
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            return None
        cursor = entry.get("__CURSOR") if isinstance(entry, dict) else None
        return cursor if isinstance(cursor, str) else None
    return None
