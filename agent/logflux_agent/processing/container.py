"""Container runtime log formats: ``cri`` (containerd, CRI-O) and ``docker`` (json-file).

Both unwrap the runtime's line (the text becomes the app's line, the runtime's time the entry's
``ts``, the stream a shared ``stream`` attribute) and join the pieces a runtime writes for one
long line: CRI ``P`` records until the ``F`` one, docker ``log`` values until one ends in
``\\n``. Pieces are joined per file and stream, up to ``max_bytes`` (then the joined text so far
is emitted as an entry of its own and counted as ``partial_split``); pieces whose end does not
come within ``partial_timeout`` seconds are emitted as they are (``partial_timeout``).

Acknowledgements (record.py: only some records carry an AckToken, the last of an emitted list
always does): while a file has held pieces, no token of that file may travel, or the position
after the pieces would be committed before they were delivered, and a restart would lose
them. So a token that arrives while pieces are held is kept (the newest replaces the older: a
later position covers an earlier one), and handed to the first entry after which nothing of
that file is held any more: the joined line (its ``F`` line's own token if it has one, else
the kept one), or the flushed pieces. A restart before that re-reads the pieces from the last
committed position, which is never past them.

Record ids (record.py ``rid``): a joined entry has the id of its first piece; an entry that
stands alone (an unparsable line, a complete line) keeps its own; the text emitted at the cap
has the id of its first held piece, and the pieces after it start a group of their own.

Memory: at most ``max_bytes`` (UTF-8) per (file, stream) held, plus one token per file.
"""

from __future__ import annotations

import json
from itertools import repeat
from operator import itemgetter

from logflux_agent.config.processors import CriProcessor, DockerProcessor
from logflux_agent.processing.attributes import fit_attributes
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Rows, slices
from logflux_agent.processing.timefmt import parse_rfc3339, parse_rfc3339_column
from logflux_agent.record import AckToken

STREAMS = ("stdout", "stderr")
_STREAMS = frozenset(STREAMS)
_FIRST, _SECOND, _THIRD, _FOURTH = map(itemgetter, range(4))
STREAM_ATTRIBUTE = "stream"
_CACHE_MAX = 1024
_loads = json.loads

# A parsed runtime line: (text, time or None, stream, partial?)
Parsed = tuple[str, float | None, str, bool]


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def parse_cri(line: str) -> Parsed | str:
    """``<RFC3339Nano> <stdout|stderr> <P|F>[:tags] <text>`` → Parsed, or the failure reason."""
    parts = line.split(" ", 3)
    if len(parts) < 3 or parts[1] not in STREAMS:
        return "not_cri"
    tag = parts[2]
    flag = tag if len(tag) == 1 else tag.partition(":")[0]
    if flag not in ("F", "P"):
        return "not_cri"
    ts = parse_rfc3339(parts[0])
    if ts is None:
        return "bad_timestamp"
    return (parts[3] if len(parts) == 4 else "", ts, parts[1], flag == "P")


def parse_docker(line: str) -> Parsed | str:
    """``{"log":"…\\n","stream":"stdout","time":"…"}`` → Parsed, or the failure reason."""
    try:
        obj = _loads(line)
    except (ValueError, RecursionError):
        return "invalid_json"
    if type(obj) is not dict or type(obj.get("log")) is not str:
        return "not_docker"
    text: str = obj["log"]
    stream = obj.get("stream")
    stamp = obj.get("time")
    ts = parse_rfc3339(stamp) if isinstance(stamp, str) else None
    partial = not text.endswith("\n")
    if not partial:
        text = text[:-1].removesuffix("\r")
    return (text, ts, stream if isinstance(stream, str) else "", partial)


class _Group:
    """Held pieces of one (file, stream) line."""

    __slots__ = ("attrs", "level", "parts", "rid", "size", "ts")

    def __init__(self, ts: float, level: int, attrs: dict[str, str], rid: str | None) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.ts = ts
        self.level = level
        self.attrs = attrs
        self.rid = rid  # the first held piece's record id

    def take(self) -> str:
        """The held text, joined; the group is empty afterwards."""
        text = "".join(self.parts)
        self.parts, self.size = [], 0
        return text


class _File:
    """What is held for one source: groups per stream, the kept token, the last piece's time."""

    __slots__ = ("groups", "last", "token")

    def __init__(self) -> None:
        self.groups: dict[str, _Group] = {}
        self.token: AckToken | None = None
        self.last = 0.0


class Unwrapper:
    """The shared machinery of ``cri`` and ``docker``; ``parse`` is the format."""

    name = ""

    def __init__(self, cfg: CriProcessor | DockerProcessor, reporter: Reporter) -> None:
        self.max_bytes = cfg.max_bytes
        self.timeout = cfg.partial_timeout
        self.reporter = reporter
        self.joined = 0
        self._files: dict[str, _File] = {}
        self._stream_attrs: dict[tuple[int, str], tuple[dict[str, str], dict[str, str]]] = {}

    @staticmethod
    def parse(line: str) -> Parsed | str:
        raise NotImplementedError

    # -- state

    @property
    def holding(self) -> bool:
        return bool(self._files)

    def deadline(self) -> float | None:
        if not self._files:
            return None
        return min(f.last for f in self._files.values()) + self.timeout

    def reset(self) -> None:
        self._files.clear()

    def _with_stream(self, attrs: dict[str, str], stream: str) -> dict[str, str]:
        if not stream:
            return attrs
        key = (id(attrs), stream)
        hit = self._stream_attrs.get(key)
        if hit is not None:
            return hit[1]
        if len(self._stream_attrs) >= _CACHE_MAX:
            self._stream_attrs.clear()
        result = fit_attributes({STREAM_ATTRIBUTE: stream}, attrs).attributes
        self._stream_attrs[key] = (attrs, result)
        return result

    # -- processing

    def fast(self, rows: Rows) -> bool:
        """Column-wise unwrapping of a list of complete, valid lines; False: not that case."""
        del rows
        return False

    def __call__(self, rows: Rows, now: float) -> Rows:
        if not self._files and self.fast(rows):
            return rows
        parse = self.parse
        parsed = list(map(parse, rows.text))
        bad: dict[str, int] = {}
        if not self._files and not any(not isinstance(p, str) and p[3] for p in parsed):
            self._in_place(rows, parsed, bad)
        else:
            rows = self._joining(rows, parsed, bad, now)
        for reason, count in bad.items():
            self.reporter.problem(self.name, reason, count)
        return rows

    def _in_place(self, rows: Rows, parsed: list[Parsed | str], bad: dict[str, int]) -> None:
        """No pieces held or started: every line maps to one entry, columns rewritten."""
        text, ts, attrs = rows.text, rows.ts, rows.attrs
        for i, p in enumerate(parsed):
            if isinstance(p, str):
                bad[p] = bad.get(p, 0) + 1
                continue
            body, when, stream, _ = p
            text[i] = body
            if when is not None:
                ts[i] = when
            else:  # docker without a usable "time": keep the read time
                bad["bad_timestamp"] = bad.get("bad_timestamp", 0) + 1
            attrs[i] = self._with_stream(attrs[i], stream)

    def _joining(
        self, rows: Rows, parsed: list[Parsed | str], bad: dict[str, int], now: float
    ) -> Rows:
        out = Rows.empty()
        for i, p in enumerate(parsed):
            source, token = rows.source[i], rows.ack[i]
            if isinstance(p, str):
                bad[p] = bad.get(p, 0) + 1
                held = self._files.get(source)
                token = self._token(source, held, token)
                _out(out, rows.text[i], rows.ts[i], rows.level[i], source, rows.attrs[i])
                out.ack.append(token)
                out.rid.append(rows.rid[i])
                continue
            body, when, stream, partial = p
            if when is None:
                when = rows.ts[i]
                bad["bad_timestamp"] = bad.get("bad_timestamp", 0) + 1
            attrs = self._with_stream(rows.attrs[i], stream)
            if partial:
                self._hold(out, (body, when, stream), rows, i, attrs, bad, now)
            else:
                self._complete(out, (body, when, stream), rows, i, attrs, bad)
        return out

    def _hold(
        self,
        out: Rows,
        piece: tuple[str, float, str],
        rows: Rows,
        i: int,
        attrs: dict[str, str],
        bad: dict[str, int],
        now: float,
    ) -> None:
        """A ``P`` piece: held in its (file, stream) group, or out at once when over the cap."""
        body, when, stream = piece
        source, token, rid = rows.source[i], rows.ack[i], rows.rid[i]
        held = self._files.get(source)
        if held is None:
            held = self._files[source] = _File()
        group = held.groups.get(stream)
        size = _size(body)
        if group is None:
            group = held.groups[stream] = _Group(when, rows.level[i], attrs, rid)
        elif group.parts and group.size + size > self.max_bytes:
            # The joined line would pass the cap: what is held goes out as an entry.
            _split_out(out, group, source, group.attrs, bad)
        if not group.parts:
            group.ts, group.rid = when, rid
        group.parts.append(body)
        group.size += size
        held.last = now
        if size > self.max_bytes:  # one piece over the cap alone: out at once
            _split_out(out, group, source, attrs, bad)
        if token is not None:
            held.token = token

    def _complete(
        self,
        out: Rows,
        piece: tuple[str, float, str],
        rows: Rows,
        i: int,
        attrs: dict[str, str],
        bad: dict[str, int],
    ) -> None:
        """An ``F`` piece (a complete line): the held pieces before it and it, as one entry."""
        body, when, stream = piece
        source, rid = rows.source[i], rows.rid[i]
        held = self._files.get(source)
        group = held.groups.pop(stream, None) if held is not None else None
        if group is not None and group.parts:
            if group.size + _size(body) > self.max_bytes:
                # The joined line would pass the cap: what is held goes out as an entry.
                bad["partial_split"] = bad.get("partial_split", 0) + 1
                _out(out, group.take(), group.ts, group.level, source, group.attrs)
                out.ack.append(None)
                out.rid.append(group.rid)
            else:
                body = group.take() + body
                when, rid = group.ts, group.rid
                self.joined += 1
        token = self._token(source, held, rows.ack[i])
        _out(out, body, when, rows.level[i], source, attrs)
        out.ack.append(token)
        out.rid.append(rid)

    def _token(self, source: str, held: _File | None, token: AckToken | None) -> AckToken | None:
        """The token the entry just emitted for ``source`` may carry (see the module doc)."""
        if held is None:
            return token
        if any(g.parts for g in held.groups.values()):
            if token is not None:
                held.token = token
            return None
        del self._files[source]
        return token if token is not None else held.token

    def flush(self, now: float, *, force: bool = False) -> Rows:
        """Emit the pieces held longer than ``partial_timeout`` (all of them when ``force``)."""
        out = Rows.empty()
        for source, held in list(self._files.items()):
            if not force and now - held.last < self.timeout:
                continue
            groups = [g for g in held.groups.values() if g.parts]
            for n, group in enumerate(groups, 1):
                _out(out, group.take(), group.ts, group.level, source, group.attrs)
                out.ack.append(held.token if n == len(groups) else None)
                out.rid.append(group.rid)
            # (No pieces left but a kept token — after an over-long piece went out alone: no
            # entry can carry it; the file's next token commits past it.)
            self.reporter.problem(self.name, "partial_timeout", len(groups))
            del self._files[source]
        return out


class CriUnwrapper(Unwrapper):
    name = "cri"
    parse = staticmethod(parse_cri)

    def fast(self, rows: Rows) -> bool:
        # Each step one map() over the column: the per-line work runs in C but for the time.
        # The split lists live for one slice of the read (rows.SLICE says why).
        stamps: list[str] = []
        streams: list[str] = []
        texts: list[str] = []
        for part in slices(rows.text):
            splits = list(map(str.split, part, repeat(" "), repeat(3)))
            if min(map(len, splits)) < 4 or not {"F"}.issuperset(map(_THIRD, splits)):
                return False
            stamps += map(_FIRST, splits)
            streams += map(_SECOND, splits)
            texts += map(_FOURTH, splits)
        if not _STREAMS.issuperset(streams):
            return False
        times = parse_rfc3339_column(stamps)
        if times is None:
            return False
        rows.text = texts
        rows.ts = times
        attrs = rows.attrs
        if len(set(streams)) == 1 and len(set(map(id, attrs))) == 1:
            rows.attrs = [self._with_stream(attrs[0], streams[0])] * len(attrs)
        else:
            rows.attrs = list(map(self._with_stream, attrs, streams))
        return True


class DockerUnwrapper(Unwrapper):
    name = "docker"
    parse = staticmethod(parse_docker)


def _out(out: Rows, text: str, ts: float, level: int, source: str, attrs: dict[str, str]) -> None:
    out.text.append(text)
    out.ts.append(ts)
    out.level.append(level)
    out.source.append(source)
    out.attrs.append(attrs)


def _split_out(
    out: Rows, group: _Group, source: str, attrs: dict[str, str], bad: dict[str, int]
) -> None:
    """What ``group`` holds goes out as an entry of its own: the cap split the joined line.

    It carries no ack token (the piece's token waits for the rest) and the group's record id.
    """
    bad["partial_split"] = bad.get("partial_split", 0) + 1
    _out(out, group.take(), group.ts, group.level, source, attrs)
    out.ack.append(None)
    out.rid.append(group.rid)
