"""The file input's reading: one bounded read per turn, framing, emitting with ack tokens, timers.

A turn reads at most ``read_chunk_bytes`` of one file with ``pread`` (after one small pread
checking its first bytes: a file truncated and rewritten past the offset has other first bytes),
frames it, joins multiline entries and emits lists of at most ``MAX_EMIT_RECORDS`` records whose
last record carries the ack token of its end (packed ``Lines`` when the input has no
processors, packed.py). The timers flush partial lines and multiline
entries held past their timeout, and let go of a renamed or deleted file read to its end and
quiet for ``ROTATED_LINGER`` (its stream is then released to the checkpointer). With
``record_ids`` on, each record gets its stable id (record_ids.py: identity and start offset),
carried as columns (packed.py ``IdColumns``) until a Record or the encoder needs its text.

This reaches back into its ``FileInput`` (input.py) for the schedule, like rotation.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from logflux_agent.inputs.base import Emit
from logflux_agent.inputs.file.identity import Match, compare, position
from logflux_agent.inputs.file.record_ids import FileIds
from logflux_agent.inputs.file.tailer import Tailer
from logflux_agent.inputs.framing import Frames, newline_slices
from logflux_agent.inputs.levels import LEVEL_INFO, make_records
from logflux_agent.observe import metrics
from logflux_agent.packed import IdColumns, Lines, id_strings
from logflux_agent.record import AckToken, Record

if TYPE_CHECKING:
    from logflux_agent.inputs.file.input import FileInput

log = structlog.get_logger(__name__)

# A renamed or deleted file is kept open this long after its last growth (bounded by
# close_inactive), for writers that keep writing to it until they reopen their log.
ROTATED_LINGER = 5.0
# How often the size of a renamed/deleted file is polled (it may be outside watched dirs).
ROTATED_POLL = 0.25
# Records per emitted list; a chunk of very short lines is emitted in several lists.
MAX_EMIT_RECORDS = 8192

_INF = float("inf")


class Reading:
    """Reads, frames and emits the files of one ``FileInput``; services its hold timers."""

    def __init__(self, owner: FileInput) -> None:
        self._in = owner
        config = owner.config
        self._attrs = config.labels
        self._m_entries = metrics.INPUT_ENTRIES.labels(input=config.id)
        self._m_bytes = metrics.INPUT_BYTES.labels(input=config.id)
        self._m_long = metrics.LONG_LINES.labels(input=config.id, action=config.long_lines)
        self._m_utf8 = metrics.INVALID_UTF8.labels(input=config.id)
        self._ids = FileIds(config.id) if config.record_ids else None
        # Without level detection every line of a chunk shares all fields but its text: emit
        # them packed (packed.py), no Record per line in the agent process. A processor chain
        # takes them column-wise as they are (chain.py), and gives back ``Lines`` or records.
        self._packed = not config.detect_level

    async def turn(self, tailer: Tailer, emit: Emit) -> None:
        """One bounded read of one file, framed and emitted."""
        if not await self._readable(tailer):
            return
        cfg = self._in.config
        now = self._in._clock.monotonic()
        try:
            data = await self._read(tailer, emit, now)
        except OSError as exc:
            self._in._files.read_failed(tailer, exc)
            return
        if data is None:
            return
        tailer.at_eof = False
        tailer.last_data = tailer.last_active = now
        self._m_bytes.inc(len(data))
        # At most MAX_EMIT_RECORDS lines per framed part: each emitted list then ends at its
        # own exact position, so a stop between lists never strands accepted lines.
        for part in newline_slices(data, MAX_EMIT_RECORDS):
            await self._deliver(tailer, tailer.framer.feed(part), now, emit)
        if len(data) < cfg.read_chunk_bytes:
            self._reached_eof(tailer, now)
        else:
            self._in._queue(tailer)

    async def _readable(self, tailer: Tailer) -> bool:
        """Open, in rotation order and not parked: whether this turn may read the file."""
        if tailer.binary or tailer.dead or self._waits(tailer):
            return False
        if tailer.fd is None:
            if not self._in._files.open(tailer) or self._waits(tailer):
                return False
        else:
            self._in._files.opened.move_to_end(tailer)
        return tailer.parked_for is None and not (
            tailer.copy_check and self._in._rotation.parks(tailer)
        )

    async def _read(self, tailer: Tailer, emit: Emit, now: float) -> bytes | None:
        """The next bytes to frame, or None (end reached, restarted, or binary)."""
        cfg = self._in.config
        # Every turn, one small pread: a file truncated and rewritten past our offset
        # (copytruncate under a fast writer) has other first bytes.
        if tailer.fingerprint:
            match = compare(tailer.fingerprint, tailer.head(len(tailer.fingerprint)))
            if match is not Match.SAME:
                await self._restart_file(tailer, emit, match)
                if tailer.fd is None or tailer.after is not None:  # reopen / wait: next turn
                    self._in._queue(tailer)
                    return None
        data = tailer.read(cfg.read_chunk_bytes)
        if not data:
            if tailer.size() < tailer.offset:
                await self._restart_file(tailer, emit, Match.SHORTER)
                self._in._queue(tailer)
                return None
            self._reached_eof(tailer, now)
            return None
        if tailer.refresh_head(cfg.fingerprint_bytes):
            self._in._files.skip_binary(tailer)
            return None
        return data

    @staticmethod
    def _waits(tailer: Tailer) -> bool:
        """Rotation order: a file waits until the one before it reached its end once."""
        after = tailer.after
        if after is None:
            return False
        if not after.dead and not after.at_eof:
            after.successor = tailer
            return True
        tailer.after = None
        return False

    async def _deliver(
        self, tailer: Tailer, frames: Frames, now: float, emit: Emit, *, cut: bool = False
    ) -> None:
        """Count, join multiline entries, build records and emit them with ack tokens.

        ``cut``: ``frames`` is a partial line flushed at its timeout (its id names its end).
        """
        if frames.long_lines:
            self._m_long.inc(frames.long_lines)
        if frames.invalid_utf8:
            self._m_utf8.inc(frames.invalid_utf8)
        ends: list[int] | None
        ids = self._ids
        rids: IdColumns | None = None
        if tailer.multiline is not None:
            held = tailer.multiline.held
            lines, ends = tailer.multiline.push(frames.lines, frames.ends, now)
            if ids is not None:
                rids = ids.entries(tailer, frames, held, ends)
            end = ends[-1] if ends else tailer.emitted_end
        else:
            lines, ends = frames.lines, frames.ends
            if ids is not None:
                rids = ids.lines(tailer, frames, cut=cut)
            end = frames.end
        await self._emit_lines(tailer, lines, end, emit, ends, rids)

    async def _emit_lines(
        self,
        tailer: Tailer,
        lines: list[str],
        end: int,
        emit: Emit,
        ends: list[int] | None = None,
        rids: IdColumns | None = None,
    ) -> None:
        if not lines:
            return
        cfg = self._in.config
        records: list[Record] | Lines
        if self._packed:
            wall = self._in._clock.wall()
            records = Lines(lines, wall, LEVEL_INFO, tailer.source, self._attrs, None, rids)
        else:
            records = make_records(
                lines,
                self._in._clock.wall(),
                tailer.source,
                self._attrs,
                detect=cfg.detect_level,
                rids=None if rids is None else id_strings(rids),
            )
        self._m_entries.inc(len(records))
        if len(records) <= MAX_EMIT_RECORDS:
            _set_ack(records, self._token(tailer, end))
            tailer.emitted_end = end
            await emit(records)
            return
        # More lines than newlines (split long lines): each list ends at its last line's
        # position when known, else at the position before this batch (safe, never ahead).
        before = tailer.emitted_end
        for i in range(0, len(records), MAX_EMIT_RECORDS):
            part = records[i : i + MAX_EMIT_RECORDS]
            if i + MAX_EMIT_RECORDS >= len(records):
                at = end
            else:
                at = ends[i + MAX_EMIT_RECORDS - 1] if ends else before
            _set_ack(part, self._token(tailer, at))
            tailer.emitted_end = at
            await emit(part)

    @staticmethod
    def _token(tailer: Tailer, at: int) -> AckToken:
        return AckToken(tailer.stream, position(at, tailer.framer.mid_line(at)))

    def _reached_eof(self, tailer: Tailer, now: float) -> None:
        tailer.at_eof = True
        successor, tailer.successor = tailer.successor, None
        if successor is not None:
            self._in._queue(successor)
        if tailer.holding():
            self._in._holding.add(tailer)
            self._in._timer_due = min(self._in._timer_due, self.hold_deadline(tailer))

    def hold_deadline(self, tailer: Tailer) -> float:
        due = _INF
        if tailer.framer.pending:
            due = tailer.last_data + self._in.config.partial_line_timeout
        if tailer.multiline is not None:
            deadline = tailer.multiline.deadline
            if deadline is not None:
                due = min(due, deadline)
        return due

    async def _restart_file(self, tailer: Tailer, emit: Emit, match: Match) -> None:
        """Same inode, other content: truncated (copytruncate) or replaced. Read from 0.

        The old content goes on in its copy when one is found (rotation.py); else what is held
        of it is shipped now.
        """
        at = tailer.emitted_end
        if not self._in._rotation.on_truncated(
            tailer, at, tailer.framer.mid_line(at), tailer.fingerprint
        ):
            await self.flush_held(tailer, emit)
        event = "file.truncated" if match is Match.SHORTER else "file.replaced"
        log.info(
            event,
            input=self._in.config.id,
            path=tailer.source,
            ino=tailer.ino,
            offset=tailer.offset,
        )
        tailer.restart_at(0)
        tailer.fingerprint = b""
        tailer.head_len = 0
        tailer.stream = self._in._new_stream(tailer.source, tailer.dev, tailer.ino, committed=0)

    async def flush_held(self, tailer: Tailer, emit: Emit) -> None:
        """Emit everything held for ``tailer``: its file is gone or its content replaced."""
        frames = tailer.framer.flush(final=True)
        now = self._in._clock.monotonic()
        ids = self._ids
        if tailer.multiline is not None:
            held = tailer.multiline.held
            lines, ends = tailer.multiline.push(frames.lines, frames.ends, now)
            more, more_ends = tailer.multiline.flush()
            rids = None
            if ids is not None:
                rids = ids.entries(tailer, frames, held, ends)
                if more:
                    rids[1].append(ids.flushed(tailer, tailer.emitted_end))
            lines += more
            ends += more_ends
            end = ends[-1] if ends else tailer.emitted_end
            await self._emit_lines(tailer, lines, end, emit, ends, rids)
        else:
            rids = ids.lines(tailer, frames, cut=True) if ids is not None else None
            await self._emit_lines(tailer, frames.lines, frames.end, emit, frames.ends, rids)

    async def service_timers(self, now: float, emit: Emit) -> None:
        due = _INF
        for tailer in list(self._in._holding):
            if tailer.dead or not tailer.holding():
                self._in._holding.discard(tailer)
                continue
            await self._flush_due(tailer, now, emit)
            if tailer.holding():
                due = min(due, self.hold_deadline(tailer))
            else:
                self._in._holding.discard(tailer)
        linger = min(self._in.config.close_inactive, ROTATED_LINGER)
        for tailer in list(self._in._rotated):
            if tailer.path is not None or tailer.dead:
                self._in._rotated.discard(tailer)
                continue
            if tailer.fd is None:
                await self._finish(tailer, emit)
                continue
            try:
                size = tailer.size()
            except OSError:
                size = tailer.offset
            if size != tailer.offset:
                tailer.last_data = now
                self._in._queue(tailer)
            elif (
                not tailer.queued
                and tailer.at_eof
                and tailer.rotated_at is not None
                and now - max(tailer.rotated_at, tailer.last_data) >= linger
            ):
                await self._finish(tailer, emit)
                continue
            due = min(due, now + ROTATED_POLL)
        self._in._timer_due = due

    async def _flush_due(self, tailer: Tailer, now: float, emit: Emit) -> None:
        """Emit the partial line and the multiline entry of ``tailer`` held past their timeout."""
        if tailer.framer.pending and now >= tailer.last_data + self._in.config.partial_line_timeout:
            await self._deliver(tailer, tailer.framer.flush(), now, emit, cut=True)
        joiner = tailer.multiline
        if joiner is not None and joiner.deadline is not None and now >= joiner.deadline:
            lines, ends = joiner.flush()
            rids = None
            if self._ids is not None and lines:
                start = self._ids.flushed(tailer, tailer.emitted_end)
                rids = (self._ids.prefix(tailer), [start], -1)
            await self._emit_lines(tailer, lines, ends[-1], emit, None, rids)

    async def _finish(self, tailer: Tailer, emit: Emit) -> None:
        """A renamed/deleted file was read to its end and stayed quiet: let it go."""
        await self.flush_held(tailer, emit)
        if tailer.path is not None:
            return  # found again under a matching name while emitting
        self._in._files.close(tailer)
        tailer.dead = True
        self._in._rotated.discard(tailer)
        self._in._holding.discard(tailer)
        if self._in._by_ident.get((tailer.dev, tailer.ino)) is tailer:
            del self._in._by_ident[(tailer.dev, tailer.ino)]
        for real in [r for r, p in self._in._aliases.items() if p == tailer.source]:
            if tailer.source not in self._in._by_path:
                del self._in._aliases[real]
        successor, tailer.successor = tailer.successor, None
        if successor is not None:
            self._in._queue(successor)
        self._in._rotation.release_parked(tailer)
        self._in._positions.release(tailer.stream, tailer.emitted_end)
        self._in._m_watched.set(len(self._in._by_ident))
        log.info(
            "file.released",
            input=self._in.config.id,
            path=tailer.source,
            ino=tailer.ino,
            offset=tailer.offset,
        )


def _set_ack(records: list[Record] | Lines, token: AckToken) -> None:
    """Give the last entry of ``records`` its list's ack token."""
    if isinstance(records, Lines):
        records.ack = token
    else:
        records[-1] = records[-1].with_ack(token)
