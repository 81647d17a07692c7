"""journalctl command lines: which journal, which filters, where to start.

Every option is passed as ``--name=value`` so that a value starting with ``-`` can never be
read as another option. Facts these command lines rely on (systemd 252, verified by the tests):

- ``--follow`` implies ``--boot`` (current boot only) unless ``--merge`` is given, which would
  silently skip the rest of an earlier boot after a reboot, and fails outright on a directory
  holding no journal yet. Every command therefore passes ``--merge``.
- ``-o json`` prints fields longer than 4096 bytes as ``null`` unless ``--all`` is given.
- ``--output-fields`` limits the JSON to the fields the mapping needs (``__CURSOR`` and the
  timestamps are always printed), which roughly halves journalctl's cost per entry.
- ``--file`` needs absolute paths in follow mode (a bare file name makes journalctl give up
  with "Failed to get journal fd: Destination address required" and exit 0).
- ``--cursor=C -n 1`` prints exactly the entry at ``C`` if the journal still has it; a cursor
  the journal does not know is resolved "fuzzily" (by sequence number, then time), so the entry
  printed then carries a different cursor, or nothing is printed at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from logflux_agent.config.model import JournaldInputConfig

# Fields the mapping reads (see mapping.py); include_fields are added to these.
BASE_FIELDS = (
    "MESSAGE",
    "PRIORITY",
    "_SYSTEMD_UNIT",
    "SYSLOG_IDENTIFIER",
    "_HOSTNAME",
    "_PID",
    "_COMM",
)


@dataclass(frozen=True, slots=True)
class JournalSelection:
    """Which journal to read (default, a directory, or files) and the entry filters."""

    journalctl: str
    directory: str | None
    files: tuple[str, ...]
    units: tuple[str, ...]
    identifiers: tuple[str, ...]
    priority: int | None
    fields: tuple[str, ...]

    @classmethod
    def from_config(cls, cfg: JournaldInputConfig) -> JournalSelection:
        fields = tuple(dict.fromkeys((*BASE_FIELDS, *cfg.include_fields)))
        return cls(
            journalctl=cfg.journalctl,
            directory=os.path.abspath(cfg.directory) if cfg.directory else None,
            files=tuple(os.path.abspath(f) for f in cfg.files),
            units=cfg.units,
            identifiers=cfg.identifiers,
            priority=cfg.priority,
            fields=fields,
        )

    def source_args(self, files: Sequence[str] | None = None) -> list[str]:
        """The journal to open; ``files`` overrides the configured list (the ones that exist)."""
        if self.directory is not None:
            return [f"--directory={self.directory}", "--merge"]
        chosen = self.files if files is None else tuple(files)
        if chosen:
            return [*(f"--file={f}" for f in chosen), "--merge"]
        return ["--merge"]

    def filter_args(self) -> list[str]:
        args = [f"--unit={u}" for u in self.units]
        args += [f"--identifier={i}" for i in self.identifiers]
        if self.priority is not None:
            args.append(f"--priority=0..{self.priority}")
        return args


# No --quiet: journalctl's stderr hints (e.g. missing group permissions) are worth logging.
_COMMON = ["--no-pager", "--output=json", "--all"]


def follow_command(
    sel: JournalSelection, after_cursor: str | None, files: Sequence[str] | None = None
) -> list[str]:
    """Follow the journal from its oldest entry (``after_cursor`` None) or after a cursor."""
    argv = [
        sel.journalctl,
        *sel.source_args(files),
        *sel.filter_args(),
        *_COMMON,
        f"--output-fields={','.join(sel.fields)}",
        "--follow",
        "--no-tail",
    ]
    if after_cursor is not None:
        argv.append(f"--after-cursor={after_cursor}")
    return argv


def cursor_probe_command(
    sel: JournalSelection, cursor: str, files: Sequence[str] | None = None
) -> list[str]:
    """Print the entry at ``cursor`` (no filters: the exact entry, whatever the filters say)."""
    return [
        sel.journalctl,
        *sel.source_args(files),
        *_COMMON,
        "--output-fields=__CURSOR",
        f"--cursor={cursor}",
        "--lines=1",
    ]


def tail_probe_command(sel: JournalSelection, files: Sequence[str] | None = None) -> list[str]:
    """Print the newest entry of the journal (to start after it: ``start_at: end``)."""
    return [
        sel.journalctl,
        *sel.source_args(files),
        *_COMMON,
        "--output-fields=__CURSOR",
        "--lines=1",
    ]
