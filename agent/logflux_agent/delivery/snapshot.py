"""A read-only look at a spool directory, for ``tap`` (which never changes the agent's state).

It scans the segments as the agent would at start (segment.py) but cuts, moves and deletes
nothing: requests waiting (not yet accepted), the entries in them, bytes on disk, segments,
the oldest waiting request's age, and what the agent would find to cut or set aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from logflux_agent.delivery import segment as sg
from logflux_agent.delivery.segment import SpoolItem


@dataclass(slots=True)
class SpoolState:
    """What a spool directory holds now."""

    directory: str
    exists: bool = False
    requests: int = 0
    entries: int = 0
    bytes: int = 0
    segments: int = 0
    oldest_created: float = 0.0  # wall time of the oldest waiting request (0: none)
    damaged_segments: int = 0  # a torn or corrupt tail the agent will cut at its next start
    foreign_segments: int = 0  # unknown format: the agent will set them aside
    dead_letter_bytes: int = 0
    error: str = ""  # the directory could not be read (permissions): nothing else is known

    def describe(self, now: float) -> str:
        """One line for a person (``tap`` prints it on stderr)."""
        if self.error:
            return f"cannot read it: {self.error}"
        if not self.exists:
            return "empty (the directory does not exist yet)"
        if not self.requests:
            text = "empty: nothing waits for the ingestor"
        else:
            age = max(0.0, now - self.oldest_created) if self.oldest_created else 0.0
            text = (
                f"{self.requests} request(s) waiting ({self.entries} entries), {self.bytes} "
                f"bytes in {self.segments} segment(s), oldest {age:.0f} s"
            )
        if self.damaged_segments:
            text += f"; {self.damaged_segments} segment(s) with a damaged tail (cut at start)"
        if self.foreign_segments:
            text += f"; {self.foreign_segments} file(s) of an unknown format (set aside)"
        if self.dead_letter_bytes:
            text += f"; dead letters: {self.dead_letter_bytes} bytes"
        return text


def look(directory: str | Path) -> SpoolState:
    """The state of the spool in ``directory``, reading only."""
    path = Path(directory)
    state = SpoolState(str(path))
    try:
        if not path.is_dir():
            return state
        state.exists = True
        for seg in sorted(path.glob("*" + sg.SUFFIX)):
            _count(seg, state)
        dead = path / "dead"
        if dead.is_dir():
            state.dead_letter_bytes = sum(p.stat().st_size for p in dead.iterdir() if p.is_file())
    except OSError as exc:
        state.error = exc.strerror or str(exc)
    return state


def _count(seg: Path, state: SpoolState) -> None:
    try:
        found = sg.scan(seg)
    except sg.ForeignSegment:
        state.foreign_segments += 1
        return
    if found.problem:
        state.damaged_segments += 1
    waiting = found.records[sg.acked_count(seg) :]
    if not waiting:
        return
    state.segments += 1
    state.bytes += found.size
    for _offset, payload in waiting:
        state.requests += 1
        try:
            item = SpoolItem.decode(payload)
        except (ValueError, KeyError, TypeError):
            continue  # CRC-valid but not readable: the agent keeps it; not counted as entries
        state.entries += item.parts
        if not state.oldest_created or item.created < state.oldest_created:
            state.oldest_created = item.created
