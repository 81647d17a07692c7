"""Real systemd journal files for tests, written by ``systemd-journal-remote``.

``systemd-journal-remote -o X.journal -`` reads the journal *export format* on stdin and writes
(or appends to) a real ``.journal`` file that ``journalctl --file``/``--directory`` read like any
other. Verified behaviour (systemd 252): a second run with the same ``-o`` appends to the file,
and a running ``journalctl --follow`` on that file or its directory sees the appended entries, as
well as new ``.journal`` files created in a followed directory.

Export format: one ``FIELD=value`` line per field; a value containing a newline (or any value,
for binary safety) is written as ``FIELD\\n`` + 64-bit little-endian length + raw bytes + ``\\n``;
a blank line ends an entry. ``__REALTIME_TIMESTAMP`` (µs), ``__MONOTONIC_TIMESTAMP`` and
``_BOOT_ID`` are required; ``__CURSOR`` and ``__SEQNUM`` are assigned by the writer.

Debian/Ubuntu package: ``systemd-journal-remote`` (binary in /lib/systemd). ``journalctl``
itself comes with ``systemd``.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

_CANDIDATES = (
    "/lib/systemd/systemd-journal-remote",
    "/usr/lib/systemd/systemd-journal-remote",
)

FieldValue = str | bytes | int

# 2026-01-01T00:00:00Z in microseconds: a fixed, recognisable base for generated timestamps.
BASE_REALTIME_US = 1_767_225_600_000_000


def journal_remote_binary() -> str | None:
    """Path of ``systemd-journal-remote``, or None when it is not installed."""
    for path in _CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("systemd-journal-remote")


def journalctl_binary() -> str | None:
    return shutil.which("journalctl")


def require_journal_tools() -> tuple[str, str]:
    """(journal-remote, journalctl) paths; skips the test, naming what is missing, otherwise."""
    remote = journal_remote_binary()
    if remote is None:
        pytest.skip(
            "systemd-journal-remote is not installed (apt-get install systemd-journal-remote)"
        )
    journalctl = journalctl_binary()
    if journalctl is None:
        pytest.skip("journalctl is not installed (apt-get install systemd)")
    return remote, journalctl


def export_entry(fields: Mapping[str, FieldValue]) -> bytes:
    """One entry in journal export format (binary-safe form for values with a newline)."""
    out = bytearray()
    for name, value in fields.items():
        raw = value if isinstance(value, bytes) else str(value).encode()
        key = name.encode("ascii")
        if b"\n" in raw:
            out += key + b"\n" + struct.pack("<Q", len(raw)) + raw + b"\n"
        else:
            out += key + b"=" + raw + b"\n"
    out += b"\n"
    return bytes(out)


class JournalWriter:
    """Writes entries into one real ``.journal`` file; every ``append`` adds to the same file.

    Timestamps are generated (``BASE_REALTIME_US`` + 1 ms per entry, monotonic likewise) unless
    an entry gives its own ``__REALTIME_TIMESTAMP``; ``_BOOT_ID`` is fixed per writer.
    """

    def __init__(
        self, path: Path, *, boot_id: str | None = None, start_realtime_us: int = BASE_REALTIME_US
    ) -> None:
        if path.suffix != ".journal":
            raise ValueError("systemd-journal-remote only writes files ending in .journal")
        remote, _ = require_journal_tools()
        self.binary = remote
        self.path = path
        self.boot_id = boot_id or uuid.uuid4().hex
        self._next_realtime = start_realtime_us
        self._next_monotonic = 1_000_000
        self.count = 0

    def _complete(self, entry: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {
            "__REALTIME_TIMESTAMP": self._next_realtime,
            "__MONOTONIC_TIMESTAMP": self._next_monotonic,
            "_BOOT_ID": self.boot_id,
        }
        fields.update(entry)
        self._next_realtime = int(fields["__REALTIME_TIMESTAMP"]) + 1000
        self._next_monotonic += 1000
        return fields

    def append(self, entries: Iterable[Mapping[str, FieldValue]]) -> int:
        """Write ``entries`` (dicts of journal fields) to the file; returns how many."""
        data = bytearray()
        n = 0
        for entry in entries:
            data += export_entry(self._complete(entry))
            n += 1
        if n == 0:
            return 0
        proc = subprocess.run(
            [self.binary, "-o", str(self.path), "-"],
            input=bytes(data),
            capture_output=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"systemd-journal-remote failed ({proc.returncode}): "
                f"{proc.stderr.decode(errors='replace')}"
            )
        self.count += n
        return n

    def messages(self, *messages: str, **fields: FieldValue) -> int:
        """Append one entry per message, each with the same extra ``fields``."""
        return self.append([{"MESSAGE": m, **fields} for m in messages])


def journal_cursors(path: Path, journalctl: str | None = None) -> list[str]:
    """Every ``__CURSOR`` of a journal file, oldest first (read back with journalctl)."""
    import json

    binary = journalctl or journalctl_binary() or "journalctl"
    out = subprocess.run(
        [binary, f"--file={path}", "-o", "json", "--output-fields=__CURSOR", "--no-pager"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return [json.loads(line)["__CURSOR"] for line in out.splitlines() if line.strip()]
