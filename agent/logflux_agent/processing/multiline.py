"""``multiline``: rows joined into entries (stack traces) after ``cri``/``docker`` unwrapped them.

The rule is the input option's (inputs/multiline.py ``Rule``: a start or a continue pattern,
``max_lines``, ``max_bytes``, ``timeout``); here it applies per (file, ``stream`` attribute),
so a Java stack trace a container wrote to stderr is joined while its stdout lines go on. The
joined entry is the first row's (its ts, level, source, attributes — and its record id) with
the lines' texts joined by ``\\n``. An entry completed because it was full (a line that would
have joined it began a new one instead) is counted by cap, ``max_lines`` or ``max_bytes``
(``logflux_agent_multiline_splits_total``).

An entry is complete only when the next one begins, so the last entry of every (file, stream)
is held until then or until ``timeout`` passed without a line (the stage's timer calls
``flush``). Acknowledgements (record.py: some rows carry an AckToken, the last of an emitted
list always does): a token on a row that is held may not travel until every row before it is
in an entry sent. So each token is kept with its row's sequence number, and handed to the first
entry after which no held entry of that file started at or before it — usually the entry it
was in, or the next one. A restart before that re-reads from the last committed position,
which is never past a held line: no half entry is shipped, none is lost. At a normal stop held
lines are not sent (they are read again); when stdin ends they are sent.

Memory: at most ``max_bytes`` characters per (file, stream) held, plus the tokens of rows
still held (at most one per emitted list).
"""

from __future__ import annotations

from logflux_agent.config.processors import MultilineProcessor
from logflux_agent.inputs.multiline import Joining, Rule
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Rows
from logflux_agent.record import AckToken

STREAM = "stream"


class _Entry(Joining):
    """One entry being joined: its lines, and its first row (kept as a one-row Rows)."""

    __slots__ = ("first", "seq")

    def __init__(self, rows: Rows, i: int, seq: int) -> None:
        super().__init__()
        self.first = rows, i  # while the chunk is processed; own copy when held past it
        self.seq = seq


class _File:
    """What is held for one source: entries per stream, and tokens by sequence number."""

    __slots__ = ("entries", "tokens")

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.tokens: list[tuple[int, AckToken]] = []


class MultilineStep:
    name = "multiline"

    def __init__(self, cfg: MultilineProcessor, reporter: Reporter) -> None:
        self.rule = Rule(cfg, max_bytes=cfg.max_bytes)
        self.reporter = reporter
        self._files: dict[str, _File] = {}
        self._seq = 0

    # -- state

    def deadline(self) -> float | None:
        lasts = [e.last for f in self._files.values() for e in f.entries.values()]
        return min(lasts) + self.rule.timeout if lasts else None

    def reset(self) -> None:
        self._files.clear()

    # -- processing

    def __call__(self, rows: Rows) -> Rows:
        out = Rows.empty()
        rule, files, now = self.rule, self._files, self.reporter.now
        begins = rule.begins
        seq = self._seq
        full_lines = full_bytes = 0
        for i, text in enumerate(rows.text):
            source = rows.source[i]
            held = files.get(source)
            if held is None:
                held = files[source] = _File()
            stream = rows.attrs[i].get(STREAM, "")
            entry = held.entries.get(stream)
            if entry is not None:
                starts = begins(text)
                if entry.ends_before(rule, text, starts):
                    if not starts:  # the entry was full: the cap split it (counted)
                        full_lines += len(entry.lines) >= rule.max_lines
                        full_bytes += len(entry.lines) < rule.max_lines
                    self._emit(out, held, stream, entry)
                    entry = None
            if entry is None:
                entry = held.entries[stream] = _Entry(rows, i, seq)
            entry.add(text, now)
            token = rows.ack[i]
            if token is not None:
                held.tokens.append((seq, token))
            seq += 1
        self._seq = seq
        self.reporter.split(self.name, "max_lines", full_lines)
        self.reporter.split(self.name, "max_bytes", full_bytes)
        for held in files.values():  # what stays held must not keep this chunk alive
            for entry in held.entries.values():
                first, i = entry.first
                if first is rows:
                    own = Rows.empty()
                    own.append(rows, i)
                    entry.first = own, 0
        return out

    def flush(self, now: float, *, force: bool = False) -> Rows:
        """The entries whose last line came ``timeout`` ago or more (all when ``force``)."""
        out = Rows.empty()
        timeout = self.rule.timeout
        for source, held in list(self._files.items()):
            due = [
                (entry.seq, stream, entry)
                for stream, entry in held.entries.items()
                if force or entry.last + timeout <= now  # the same sum as deadline()
            ]
            for _, stream, entry in sorted(due, key=lambda d: d[0]):
                self._emit(out, held, stream, entry)
            if not held.entries:
                del self._files[source]
        return out

    @classmethod
    def _emit(cls, out: Rows, held: _File, stream: str, entry: _Entry) -> None:
        del held.entries[stream]
        first, i = entry.first
        out.append(first, i)  # the first row's fields (and record id): only text and ack change
        out.text[-1] = entry.take()
        out.ack[-1] = cls._release(held)

    @staticmethod
    def _release(held: _File) -> AckToken | None:
        """The newest kept token no held entry started at or before (see the module doc)."""
        tokens = held.tokens
        if not tokens:
            return None
        oldest = min((e.seq for e in held.entries.values()), default=None)
        n = len(tokens) if oldest is None else sum(1 for s, _ in tokens if s < oldest)
        if n == 0:
            return None
        token = tokens[n - 1][1]
        del tokens[:n]
        return token
