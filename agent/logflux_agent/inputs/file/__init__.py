"""The file input: tail files matching globs, through rotation, with acked offsets.

``input.py`` schedules, ``finder.py`` matches globs, ``identity.py`` owns file identity and its
ack stream, ``descriptors.py`` the open descriptors (LRU), ``reading.py`` one turn's read and
the timers, ``rotation.py`` copies and moves, ``tailer.py`` one open file, ``watcher.py`` the
inotify watch. Line framing is shared with stdin in ``inputs/framing.py``.
"""

from __future__ import annotations

from logflux_agent.inputs.file.input import FileInput

__all__ = ["FileInput"]
