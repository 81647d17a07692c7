"""Line framing shared by the file, stdin and socket inputs: bytes → lines.

This module owns turning a byte stream into lines: splitting on ``\\n`` (a ``\\r`` before it
is dropped), the ``max_line_bytes`` limit (split or truncate, never holding more than about
``max_line_bytes`` of one line in memory), UTF-8 decoding with replacement, and flushing a
partial last line. Joining multiline entries is ``inputs/multiline.py``; guessing a level and
building Records is ``inputs/levels.py``. It knows nothing about files, offsets on disk,
metrics or the event loop: callers feed bytes and get lines with the stream position each one
ends at.

Public API (used by ``inputs/file`` and ``inputs/stdin``)::

    framer = LineFramer(max_line_bytes=262_144, long_lines="split", position=0,
                        track_offsets=False)
    frames = framer.feed(chunk)      # complete lines of the stream so far
    frames = framer.flush()          # the held partial line (timeout), if any
    frames = framer.flush(final=True)  # … including a trailing half UTF-8 character (EOF)
    framer.reset(position)           # forget everything; continue at ``position``
    framer.pending                   # bytes held (partial line), for memory accounting
    framer.position                  # stream offset after the last line returned (or skipped)
    framer.mid_line(position)        # "skip"/"rest" when position is inside a shipped line
    framer.resume(mid_line)          # … and continue there after a restart

    # inputs/multiline.py
    joiner = Multiline(config.multiline, max_bytes=config.max_line_bytes)
    lines, ends = joiner.push(frames.lines, frames.ends, now)   # completed entries
    lines, ends = joiner.flush()     # the held entry (timeout, EOF)
    joiner.deadline                  # monotonic time the held entry is due, or None

    # inputs/levels.py
    records = make_records(lines, timestamp, source, attributes, detect=config.detect_level)

``Frames`` carries the lines, the position after them (``end``), the position before them
(``start``), per-line end positions when ``track_offsets`` is on (``ends``), and how many
long lines and invalid UTF-8 lines it contained (for the caller's metrics).

Hot path: a chunk whose complete-lines region is valid UTF-8 (the usual case) is decoded once
and split on the str; only a chunk with invalid UTF-8 or over-long lines falls back to per-line
work. ``track_offsets`` (needed by multiline) adds per-line end positions computed from the
raw byte lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add

from logflux_agent.config.model import LongLines

# The smallest max_line_bytes that can always hold one UTF-8 character.
MIN_LINE_BYTES = 4
# Where a stream position can sit inside a line (see ``LineFramer.mid_line``).
MID_SKIP = "skip"
MID_REST = "rest"
MID_LINE_STATES = (MID_SKIP, MID_REST)


@dataclass(slots=True)
class Frames:
    """What one ``feed``/``flush`` produced.

    ``end`` is the stream offset after the last byte accounted for: the position to commit once
    every line here (and before) was accepted. ``start`` is the position before these lines, a
    safe (conservative) position for a record that is not the last one.
    """

    lines: list[str]
    start: int
    end: int
    ends: list[int] | None = None
    long_lines: int = 0
    invalid_utf8: int = 0


def _cut(data: bytes, limit: int) -> int:
    """Length of the longest prefix ≤ ``limit`` that does not end inside a UTF-8 character."""
    if limit >= len(data):
        return len(data)
    cut = limit
    # A continuation byte (10xxxxxx) at the cut means a character straddles it: back off to its
    # lead byte (at most 3 bytes back); if it is not there the data is not UTF-8 anyway.
    while cut > 0 and limit - cut < 3 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    if cut == 0 or (data[cut] & 0xC0) == 0x80:
        return limit
    return cut


def _incomplete_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` are an unfinished UTF-8 character (0..3)."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead byte
        if 0xC0 <= byte < 0xF8:
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if back < needed else 0
        return 0
    return 0


class LineFramer:
    """Incremental line splitter with a per-line byte bound.

    Semantics, all documented for operators in docs/file-input.md:

    * a line ends at ``\\n``; one ``\\r`` before it is removed; the terminator is not part of
      the message;
    * a line longer than ``max_line_bytes`` is counted once in ``Frames.long_lines`` and either
      split into pieces of at most ``max_line_bytes`` (``split``: pieces are emitted as soon as
      they are full, cut on a UTF-8 character boundary) or cut to its first ``max_line_bytes``
      with the rest discarded up to the newline (``truncate``: the head is emitted when the
      newline arrives or on ``flush``);
    * ``flush`` emits the held partial line; when its newline arrives later, the remainder is
      emitted as a separate line, and a remainder that is empty (just the newline) is dropped;
    * invalid UTF-8 is decoded with U+FFFD replacement characters and counted per line.
    """

    __slots__ = (
        "_buf",
        "_continuation",
        "_discarding",
        "_head",
        "_in_long",
        "_max",
        "_track",
        "_truncate",
        "consumed",
        "position",
    )

    def __init__(
        self,
        *,
        max_line_bytes: int = 262_144,
        long_lines: LongLines = "split",
        position: int = 0,
        track_offsets: bool = False,
    ) -> None:
        if max_line_bytes < MIN_LINE_BYTES:
            raise ValueError(f"max_line_bytes must be at least {MIN_LINE_BYTES}")
        self._max = max_line_bytes
        self._truncate = long_lines == "truncate"
        self._track = track_offsets
        self._buf = b""
        # truncate mode: the kept head of an over-long line while its tail is being discarded.
        self._head: bytes | None = None
        self._discarding = False
        # The current line was already partly emitted (flush or split piece): an empty
        # completion is not a line of its own.
        self._continuation = False
        # The current line was already counted as long.
        self._in_long = False
        self.position = position
        self.consumed = position

    @property
    def pending(self) -> int:
        """Bytes held for the current, incomplete line."""
        return len(self._buf) + (len(self._head) if self._head is not None else 0)

    def reset(self, position: int) -> None:
        """Drop every held byte and continue as if the stream started at ``position``."""
        self._buf = b""
        self._head = None
        self._discarding = self._continuation = self._in_long = False
        self.position = self.consumed = position

    def mid_line(self, position: int) -> str | None:
        """How a restart at ``position`` must go on, when it is inside a line already shipped.

        ``"skip"``: the head of a truncated line went out; the rest up to its newline is to be
        discarded. ``"rest"``: the line's head went out (partial-line timeout, split piece);
        the rest is its own entry, and a rest that is only the newline is dropped. ``None``:
        ``position`` is at a line boundary (or is not where this framer stands).
        """
        if position != self.position:
            return None
        if self._discarding and self._head is None:
            return MID_SKIP
        if self._continuation:
            return MID_REST
        return None

    def resume(self, mid_line: str | None) -> None:
        """Continue inside a line whose head was shipped before a restart (see ``mid_line``)."""
        if mid_line == MID_SKIP:
            self._discarding = self._in_long = True
        elif mid_line == MID_REST:
            self._continuation = True

    # ---- feeding --------------------------------------------------------------------------

    def feed(self, data: bytes) -> Frames:
        """Add ``data`` (the next bytes of the stream); return the lines it completed."""
        out = Frames([], self.position, self.position, [] if self._track else None)
        if not data:
            return out
        buf_offset = self.consumed - len(self._buf)
        self.consumed += len(data)
        buf = self._buf + data if self._buf else data
        self._buf = b""
        i = 0
        if self._discarding or self._continuation:
            nl = buf.find(b"\n")
            if nl < 0:
                self._hold(buf, buf_offset, out)
                out.end = self.position
                return out
            self._finish_line(buf[:nl], buf_offset, out)
            if not out.lines:  # nothing of it shipped now: the next line starts after it
                out.start = self.position
            i = nl + 1
        last = buf.rfind(b"\n")
        if last >= i:
            self._region(buf, i, last, buf_offset, out)
            i = last + 1
        if i < len(buf):
            self._hold(buf[i:] if i else buf, buf_offset + i, out)
        out.end = self.position
        return out

    def flush(self, *, final: bool = False) -> Frames:
        """Emit the held partial line (partial-line timeout, end of input), if there is one.

        A UTF-8 character cut by the writer mid-way stays held (unless ``final``), so it is
        not turned into replacement characters when the rest of it arrives.
        """
        out = Frames([], self.position, self.position, [] if self._track else None)
        if self._discarding:
            if self._head is not None:
                self._emit(self._head, self.consumed, out)
                self._head = None
            # Keep discarding the rest of the over-long line until its newline.
            self.position = self.consumed
        elif self._buf:
            keep = 0 if final else _incomplete_tail(self._buf)
            if keep < len(self._buf):
                line = self._buf[: len(self._buf) - keep]
                self._buf = self._buf[len(self._buf) - keep :]
                self._emit(self._strip_cr(line), self.consumed - keep, out)
                self._continuation = True
        out.end = self.position
        return out

    # ---- internals ------------------------------------------------------------------------

    @staticmethod
    def _strip_cr(line: bytes) -> bytes:
        return line[:-1] if line.endswith(b"\r") else line

    def _decode(self, raw: bytes, out: Frames) -> str:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            out.invalid_utf8 += 1
            return raw.decode("utf-8", "replace")

    def _emit(self, raw: bytes, end: int, out: Frames) -> None:
        out.lines.append(self._decode(raw, out))
        if out.ends is not None:
            out.ends.append(end)
        self.position = end

    def _finish_line(self, raw: bytes, start: int, out: Frames) -> None:
        """Complete the line that was already being held, cut or discarded."""
        end = start + len(raw) + 1
        if self._discarding:
            if self._head is not None:
                self._emit(self._head, end, out)
                self._head = None
            self._discarding = False
            self.position = end
        else:
            line = self._strip_cr(raw)
            if not line and self._continuation:
                self.position = end
            else:
                self._line(raw, start, out)
        self._continuation = self._in_long = False

    def _line(self, raw: bytes, start: int, out: Frames) -> None:
        """One complete line (``raw`` without its ``\\n``) starting at stream offset ``start``."""
        end = start + len(raw) + 1
        line = self._strip_cr(raw)
        limit = self._max
        if len(line) <= limit:
            self._emit(line, end, out)
            return
        if not self._in_long:
            out.long_lines += 1
        if self._truncate:
            self._emit(line[: _cut(line, limit)], end, out)
            return
        pos = 0
        while len(line) - pos > limit:
            piece = _cut(line[pos : pos + limit + 1], limit)
            self._emit(line[pos : pos + piece], start + pos + piece, out)
            pos += piece
        if pos < len(line):
            self._emit(line[pos:], end, out)
        self.position = end

    def _region(self, buf: bytes, i: int, last: int, buf_offset: int, out: Frames) -> None:
        """The complete lines in ``buf[i:last]`` (``buf[last]`` is a newline)."""
        region = buf[i:last]
        try:
            text = region.decode()
        except UnicodeDecodeError:
            text = None
        if text is not None:
            cr = "\r" in text
            if cr:
                text = text.replace("\r\n", "\n")
                if text.endswith("\r"):
                    text = text[:-1]
            lines = text.split("\n")
            fits = len(region) <= self._max
            if not fits:
                longest = max(map(len, lines))
                # A str's length is its byte length when it is ASCII; otherwise 4 bytes per
                # character bounds it, and anything beyond that bound is checked exactly.
                fits = longest * (1 if text.isascii() else 4) <= self._max
            if fits:
                if out.ends is not None:
                    # Positions from the raw byte lengths (a stripped \r still counts); for
                    # ASCII text without \r those are the str lengths (no second split).
                    raw = lines if not cr and text.isascii() else region.split(b"\n")
                    ends = list(
                        accumulate(map(add, map(len, raw), repeat(1)), initial=buf_offset + i)
                    )
                    del ends[0]
                    out.ends.extend(ends)
                if out.lines:
                    out.lines.extend(lines)
                else:
                    out.lines = lines
                self.position = buf_offset + last + 1
                return
        pos = i
        while pos <= last:
            nl = buf.find(b"\n", pos)
            self._line(buf[pos:nl], buf_offset + pos, out)
            pos = nl + 1

    def _hold(self, rest: bytes, rest_offset: int, out: Frames) -> None:
        """Keep ``rest`` (no newline in it) for later, cutting it if it is already too long."""
        if self._discarding:
            return
        limit = self._max
        # A trailing \r may be half of the coming \r\n terminator: not part of the line.
        size = len(rest) - 1 if rest.endswith(b"\r") else len(rest)
        if size <= limit:
            self._buf = rest
            return
        if not self._in_long:
            out.long_lines += 1
            self._in_long = True
        if self._truncate:
            self._head = rest[: _cut(rest, limit)]
            self._discarding = True
            return
        pos = 0
        while size - pos > limit:
            piece = _cut(rest[pos : pos + limit + 1], limit)
            self._emit(rest[pos : pos + piece], rest_offset + pos + piece, out)
            pos += piece
        self._buf = rest[pos:]
        self._continuation = True


def newline_slices(data: bytes, most: int) -> list[bytes]:
    """``data`` cut right after every ``most``-th newline (one slice if it has fewer).

    Lets a caller frame one read in parts of at most ``most`` complete lines, so each part's
    ``Frames.end`` is the exact position after its own lines.
    """
    if data.count(b"\n") <= most:
        return [data]
    out = []
    start = pos = 0
    find = data.find
    while True:
        for _ in range(most):
            pos = find(b"\n", pos) + 1
            if pos == 0:
                out.append(data[start:])
                return out
        out.append(data[start:pos])
        start = pos
        if start == len(data):
            return out
