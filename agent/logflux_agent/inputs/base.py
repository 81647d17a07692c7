"""The Input protocol every source implements, and the Emit callback it feeds.

An input reads its start positions (``checkpoints.Positions``) when it is built and never writes
them: the ack tracker hands accepted positions to the checkpointer (pipeline/checkpointer.py),
the one writer of the store, only after the ingestor accepted the records (Filebeat's
harvester/registrar split). Tokens carry the stream and its resume state as data; nothing under
inputs/ is called back from the ack path.

Inputs emit *lists* of records (typically one list per read chunk; a file input without
processors emits a packed ``Lines``, packed.py) rather than one record at a
time: a queue operation per line would dominate the hot path. ``await emit(records)`` blocks
while the queue is full; that is the backpressure. A record whose ``ack`` is None is shipped like
any other; its stream's position advances when a later record of the same stream carrying a
token is committed, so an input may put a token only on the last record of each chunk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from logflux_agent.record import Record

Emit = Callable[[Sequence[Record]], Awaitable[None]]


class Input(Protocol):
    """A source of records. ``run`` reads until cancelled (or, for stdin, until EOF)."""

    @property
    def name(self) -> str: ...

    async def run(self, emit: Emit) -> None: ...
