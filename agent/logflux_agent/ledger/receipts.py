"""What the ack path tells the ledger: which ranges of which streams each batch covered.

The ack tracker (pipeline/acks.py) calls ``emitted`` when an input's list entered the queue,
``completed`` right after a batch was accepted (before the checkpoint moves) and ``gap`` /
``started`` for facts the checkpointer learns from inputs. Nothing here blocks or raises: the
ledger is evidence, not the ack path.

Spooled batches (delivery/): the spool sink calls ``spooling`` with the requests' multipart
boundaries (random per request, stored in the spool with the ciphertext) once they are durably
in the spool; the sender then completes the batch as ``spooled`` in the same task, with no
await in between, so the ids are found by the current task and the batch record carries them
(``sp``). The replayer calls ``replayed`` when the ingestor took one of those requests: an
``a`` record, written before the spool forgets the request, so ``audit`` says "accepted via
spool" with when (a crash in between sends it again: a second ``a``, as the ingestor saw).

How a batch's ranges are known without per-line state: every emitted list ends with an ack
token (stream, position after its last entry), so a list is a *chunk* ``[start, end)`` of one
stream, ``start`` being where the stream's previous chunk ended. Per input, chunks wait in a
FIFO; a batch holds ``owners[input]`` entries of that input, which are the next ones of its
FIFO (the queue is FIFO and the sender completes each input's batches in order). So a batch
consumes whole chunks, or the head or tail of one when the batcher cut a list in two: claims
``[sid, start, end, n, lo, hi]`` say "entries ``[lo, hi)`` of the ``n`` read from
``[start, end)``". Memory: one small list per chunk not yet accepted (bounded like the queue)
and the last end of each stream seen, at most ``MAX_STREAMS`` (the oldest forgotten: its next
chunk then starts at the stream's committed position).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from itertools import compress
from typing import Any

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.credentials import mask_secrets
from logflux_agent.ledger.drops import Drops, stream_digest
from logflux_agent.ledger.writer import LedgerWriter
from logflux_agent.record import ACK, AckStream, AckToken, Record

MAX_STREAMS = 16384
# Spool ids waiting for their batch's ``completed``: one entry per batch being spooled (at most
# the sender's in-flight slots); a batch whose spooling failed leaves one, so keep it bounded.
MAX_SPOOLING = 1024

# A chunk: [entries left, entries in total, token (None: no token in its list), start].
Chunk = list[Any]


def _offset(position: int | str) -> int | str:
    """A file position as its byte offset ("123:skip" → 123); cursors and counts unchanged."""
    if isinstance(position, str) and ":" in position[:24]:
        head = position.partition(":")[0]
        if head.isdigit():
            return int(head)
    return position


class Receipts:
    """Turns emitted chunks and completed batches into ledger records."""

    def __init__(self, writer: LedgerWriter, clock: Clock = SYSTEM_CLOCK) -> None:
        self.writer = writer
        self._clock = clock
        self._fifo: dict[str, deque[Chunk]] = {}
        self._last: dict[int, tuple[AckStream, int | str]] = {}
        self._spooling: dict[object, list[str]] = {}
        # Lines filters dropped (ledger/drops.py): written before the next batch record.
        self.drops = Drops(writer, clock)

    def status(self) -> dict[str, Any]:
        """The ledger in ``/status``: where, how big, what failed (docs/audit.md)."""
        w = self.writer
        return {
            "directory": str(w.dir),
            "bytes": w.size_bytes,
            "max_bytes": w.max_bytes,
            "records": w.records,
            "write_failures": w.failures,
            "torn_tails_cut": w.torn_cut,
        }

    def sync(self) -> None:
        """Durable now, and old segments expired: called before every checkpoint flush."""
        self.drops.flush()
        self.writer.sync()
        self.writer.expire()

    # ---- chunks ---------------------------------------------------------------------------

    def emitted(self, owner: str, records: Sequence[Record]) -> None:
        n = len(records)
        fifo = self._fifo.get(owner)
        if fifo is None:
            fifo = self._fifo[owner] = deque()
        last = records[-1].ack
        if last is not None:
            # The usual list: one chunk ending at its last entry's token, no per-entry work.
            # A token a filter carried from another stream inside it is not claimed here; that
            # stream's next chunk starts where its last claim ended, so it covers those lines.
            fifo.append([n, n, last, self._advance(last)])
            return
        # A processor holds this list's last token: cut it at the tokens it does carry.
        at = list(compress(range(n), map(ACK, records)))
        prev = -1
        for i in at:
            token = records[i].ack
            assert token is not None
            fifo.append([i - prev, i - prev, token, self._advance(token)])
            prev = i
        if prev < n - 1:  # entries after the last token: a processor holds their token
            fifo.append([n - 1 - prev, n - 1 - prev, None, None])

    def _advance(self, token: AckToken) -> int | str | None:
        """Where ``token``'s chunk starts (the stream's previous end), and remember its end."""
        stream = token.stream
        key = id(stream)
        known = self._last.pop(key, None)
        if known is not None and known[0] is stream:
            start: int | str | None = known[1]
        else:
            start = getattr(stream, "committed", None)
        self._last[key] = (stream, token.position)
        if len(self._last) > MAX_STREAMS:
            del self._last[next(iter(self._last))]
        return start

    # ---- batches --------------------------------------------------------------------------

    def completed(
        self, seq: int, owners: dict[str, int], report: object | None, status: str
    ) -> None:
        claims: list[list[Any]] = []
        for owner, count in owners.items():
            self._consume(owner, count, claims)
        self.drops.flush()
        writer = self.writer
        if not writer.enabled:
            return
        doc: dict[str, Any] = {"t": "b", "at": round(self._clock.wall(), 3), "seq": seq}
        dead = int(getattr(report, "dead_lettered", 0) or 0)
        doc["st"] = "dead_lettered" if dead and status == "accepted" else status
        if dead:
            doc["dl"] = dead
        request_ids = getattr(report, "request_ids", ())
        if request_ids:
            doc["rq"] = list(request_ids)
        key_id = getattr(report, "key_id", None)
        if key_id:
            doc["key"] = mask_secrets(str(key_id))
        if status == "spooled":
            ids = self._spooling.pop(_task(), None)
            if ids:
                doc["sp"] = ids
        doc["c"] = [self._claim(*c) for c in claims]
        writer.append(doc, "batch")

    # ---- the spool -------------------------------------------------------------------------

    def spooling(self, spool_ids: Sequence[str]) -> None:
        """Requests of the batch this task is spooling are durably in the spool."""
        if not spool_ids:
            return
        self._spooling.setdefault(_task(), []).extend(spool_ids)
        if len(self._spooling) > MAX_SPOOLING:
            del self._spooling[next(iter(self._spooling))]

    def replayed(
        self,
        spool_id: str,
        *,
        accepted: int,
        parts: int,
        request_ids: Sequence[str],
        key_id: str | None,
    ) -> None:
        """The replayer delivered spooled request ``spool_id`` (``accepted`` of ``parts``)."""
        if not self.writer.enabled:
            return
        doc: dict[str, Any] = {"t": "a", "at": round(self._clock.wall(), 3), "sp": spool_id}
        doc["n"], doc["parts"] = accepted, parts
        if request_ids:
            doc["rq"] = list(request_ids)
        if key_id:
            doc["key"] = mask_secrets(str(key_id))
        self.writer.append(doc, "replay")

    def _consume(self, owner: str, count: int, claims: list[list[Any]]) -> None:
        fifo = self._fifo.get(owner)
        while fifo and count > 0:
            chunk = fifo[0]
            left, total, token, start = chunk
            take = min(count, left)
            lo = total - left
            chunk[0] -= take
            count -= take
            if chunk[0] <= 0:
                fifo.popleft()
            if token is None:
                continue  # no position known for these entries: nothing to claim
            prev = claims[-1] if claims else None
            if (
                prev is not None
                and prev[0] is token.stream
                and prev[2] == start
                and prev[4] == 0
                and prev[5] == prev[3]
                and lo == 0
                and take == total
            ):
                prev[2], prev[3], prev[5] = token.position, prev[3] + total, prev[5] + total
                continue
            claims.append([token.stream, start, token.position, total, lo, lo + take])

    def _claim(
        self, stream: AckStream, start: int | str | None, end: int | str, n: int, lo: int, hi: int
    ) -> list[Any]:
        return [self._sid(stream, end), _plain(start), _plain(end), n, lo, hi]

    def _sid(self, stream: AckStream, position: int | str) -> int:
        key, describe = _describe(stream, position)
        if describe["kind"] == "file":
            # The identity of its record ids (docs/record-ids.md): a file gone from disk is
            # still matched to its dead letters and dropped lines by it.
            digest = stream_digest(stream, self.drops.digests)
            if digest is not None:
                describe["rd"] = digest
        return self.writer.sid(key, describe)

    # ---- facts from the checkpointer -------------------------------------------------------

    def gap(self, stream: AckStream, start: int, end: int, reason: str) -> None:
        """``[start, end)`` of ``stream`` will never be read (copytruncate window, ...)."""
        if not self.writer.enabled:
            return
        doc = {
            "t": "g",
            "at": round(self._clock.wall(), 3),
            "sid": self._sid(stream, start),
            "start": start,
            "end": end,
            "reason": reason,
        }
        self.writer.append(doc, "gap")

    def started(self, stream: AckStream, position: int | str) -> None:
        """Reading of ``stream`` begins at ``position`` (a file started at its end, a copy)."""
        if not self.writer.enabled:
            return
        if _describe(stream, position)[1]["kind"] != "file":
            return  # a journal resumes at its cursor; markers and counts start nothing
        doc = {"t": "p", "at": round(self._clock.wall(), 3), "sid": self._sid(stream, position)}
        doc["pos"] = _plain(position)
        self.writer.append(doc, "start")


def _task() -> object:
    """The current asyncio task (None outside one): who is spooling which batch."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _describe(stream: AckStream, position: int | str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ledger's description of ``stream`` (a file identity, a journal, a counted stream)."""
    state = getattr(stream, "state", None)
    doc: dict[str, Any] = state(position) if callable(state) else {}
    if "ino" in doc:
        key: tuple[Any, ...] = (
            "file",
            doc.get("input"),
            doc.get("path"),
            doc.get("dev"),
            doc.get("ino"),
            doc.get("fingerprint_len"),
            doc.get("fingerprint_sha256"),
        )
        describe = {
            "kind": "file",
            "input": key[1],
            "path": key[2],
            "dev": key[3],
            "ino": key[4],
            "fp_len": key[5],
            "fp": key[6],
        }
    elif "cursor" in doc:
        key = ("journal", stream.key)
        describe = {"kind": "journal", "key": stream.key}
    else:
        key = ("count", stream.key)
        describe = {"kind": "count", "key": stream.key}
    return key, describe


def _plain(position: int | str | None) -> int | str | None:
    return None if position is None else _offset(position)
