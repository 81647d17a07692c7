"""The checkpointer: the one owner of persisted positions (the ``CheckpointStore``).

Three things change the store, all here:

* **Commits from the ack path.** ``AckTracker`` hands over the highest position of each stream
  whose records were all accepted (``commit``). A ``Resumable`` stream's document is
  ``stream.state(position)``: identity and position, pure data carried by the token.
  A retired stream (replaced after truncation or inode reuse) ignores late commits; a released
  stream (its file is gone) has its entry removed once the last emitted position is committed,
  and is retired then, which is how its input learns it may forget it.
* **Start positions declared by inputs** (``track(stream, start=...)``): a position known
  without any record (a file started at its end, a copy resumed where its original stopped,
  the "started before" marker), remembered now so a crash does not re-read what was skipped.
* **Garbage collection.** Entries under an input's prefix that no live stream holds and that
  the input has not reported present for ``grace`` seconds are dropped.

Writing to disk is ``store.flush`` (atomic), called by the supervisor's flusher.

With a receipt ledger (``receipts``), declared starts and ``gap`` facts (a copytruncate window
never read) are recorded there too, so ``audit`` can say why a range was not delivered.
"""

from __future__ import annotations

from typing import Any

import structlog

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.ledger.receipts import Receipts
from logflux_agent.record import AckStream, CountingStream, Resumable

log = structlog.get_logger(__name__)


class Checkpointer:
    """Applies commits, declared start positions and garbage collection to one store."""

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store
        # The live stream of each key: a newer generation of the same key retires the older.
        self._live: dict[str, Resumable] = {}
        # Key → monotonic time it was first found neither live nor present.
        self._absent: dict[str, float] = {}
        self.receipts: Receipts | None = None

    # ---- the ack path ---------------------------------------------------------------------

    def commit(self, stream: AckStream, position: int | str) -> None:
        """Every record of ``stream`` up to ``position`` was accepted (or dead-lettered)."""
        if isinstance(stream, Resumable):
            self._apply(stream, position)
        elif isinstance(stream, CountingStream):
            stream.commit(position)  # nothing to resume (a socket): its owner only counts

    def _apply(self, stream: Resumable, position: int | str) -> None:
        if stream.retired:
            return
        progress = stream.progress(position)
        stream.committed = progress
        if not stream.durable:
            return
        final = stream.final
        if final is not None and isinstance(progress, int) and progress >= final:
            # Its source is gone and everything read from it is delivered: nothing to resume.
            self._forget(stream)
            return
        self.store.put(stream.key, stream.state(position))

    def _forget(self, stream: Resumable) -> None:
        self.store.remove(stream.key)
        self._retire(stream)

    def _retire(self, stream: Resumable) -> None:
        stream.retired = True
        if self._live.get(stream.key) is stream:
            del self._live[stream.key]

    # ---- what inputs declare (the ``Positions`` protocol) -----------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        return self.store.get(key)

    def items(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        return self.store.items(prefix)

    def track(self, stream: Resumable, *, start: int | str | None = None) -> None:
        """``stream`` is the live generation of its key; ``start``: remember it now."""
        old = self._live.get(stream.key)
        if old is not None and old is not stream:
            old.retired = True
        self._live[stream.key] = stream
        self._absent.pop(stream.key, None)
        if start is not None:
            if self.receipts is not None and stream.durable:
                self.receipts.started(stream, start)
            self._apply(stream, start)

    def gap(self, stream: Resumable, start: int, end: int, reason: str) -> None:
        """``[start, end)`` of ``stream`` will never be read (``reason``): for the ledger."""
        if self.receipts is not None:
            self.receipts.gap(stream, start, end, reason)

    def release(self, stream: Resumable, final: int) -> None:
        """``stream``'s source is gone; its entry goes once ``final`` is committed."""
        stream.final = final
        committed = stream.committed
        # committed None: never opened, so nothing was emitted from it.
        if committed is None or (isinstance(committed, int) and committed >= final):
            self._forget(stream)

    def present(self, prefix: str, keys: set[str], grace: float, now: float) -> None:
        """A scan at ``now`` (the input's clock) found ``keys``; drop entries absent ``grace`` s."""
        for key, state in self.store.items(prefix):
            if key in self._live or key in keys:
                self._absent.pop(key, None)
                continue
            first = self._absent.setdefault(key, now)
            if now - first >= grace:
                self.store.remove(key)
                del self._absent[key]
                log.info(
                    "file.checkpoint_dropped",
                    input=state.get("input"),
                    path=state.get("path"),
                    offset=state.get("offset"),
                )

    def detach(self, prefix: str) -> None:
        """Forget the live streams under ``prefix``: their input is rebuilt and declares anew.

        They are not retired: records of the old instance still in flight commit as before.
        """
        for key in [k for k in self._live if k.startswith(prefix)]:
            del self._live[key]

    def live(self, prefix: str = "") -> list[Resumable]:
        """Streams not retired (introspection: status, tests)."""
        return [s for k, s in self._live.items() if k.startswith(prefix)]
