"""Record ids for entries that arrive over a socket without a usable SDK ``id``.

The record id (``Record.rid``, sent as ``meta.record_id``) lets a consumer drop an entry it has
already seen. An SDK's own ``id`` (a string of 1-256 characters) is used as it is. Otherwise
the id is derived from where the entry was read:

    <input id>:<run>-<connection>:<sequence>      e.g.  apps:1f0c9a3e-17:20931

- ``run``: 8 hex characters drawn at random when the agent process starts, so connections of an
  earlier run (numbered from 0 again) never give the same ids;
- ``connection``: the number of the connection (or datagram socket) within the input and run,
  counted from 0 in the order they were accepted;
- ``sequence``: the entry's position among the records that connection produced, from 0.

Nothing here is read again after a restart, so the id does not need to be reproducible across
runs; it needs to be unique, and to stay with the entry on every resend within the run, which it
does because it travels in the Record (docs/socket-syslog.md).
"""

from __future__ import annotations

import secrets
from itertools import count

RUN = secrets.token_hex(4)


class ConnectionNumbers:
    """Per input: hands out connection numbers and their id sequences."""

    __slots__ = ("_next", "input_id")

    def __init__(self, input_id: str) -> None:
        self.input_id = input_id
        self._next = count()

    def sequence(self) -> RecordIds:
        return RecordIds(f"{self.input_id}:{RUN}-{next(self._next)}:")


class RecordIds:
    """One connection's record ids: ``prefix`` + the position of the record."""

    __slots__ = ("next", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.next = 0

    def take(self, n: int) -> list[str]:
        """The ids of the next ``n`` records (one ``map``: no per-entry Python code)."""
        start = self.next
        self.next = start + n
        return list(map(self.prefix.__add__, map(str, range(start, start + n))))

    def one(self, given: str | None = None) -> str:
        """The next record's id: ``given`` (its SDK id) when set; the position advances anyway."""
        position = self.next
        self.next = position + 1
        return given if given is not None else self.prefix + str(position)
