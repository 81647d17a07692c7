"""Where a batch is encoded: an encode worker process, else a thread of the agent.

Owns the choice and the fallback. With ``sender.encode_workers`` > 0 each batch goes to the
worker pool (``encode_pool.py``; the session key is copied for the pipe and zeroed after);
when that is 0, or a worker dies mid-batch, or the pool gave up after repeated deaths, the batch
is encoded on a small thread pool with the session's cipher object, so delivery never waits for
a worker that is not coming back. The encoding itself is ``encode.py``'s pure function.

What the job carries per entry: the five payload fields (``ENTRY_FIELDS``) and, only when some
record of the batch has one, the record ids as a column of their own (``EncodeJob.rids``), so a
batch without ids pickles to the worker exactly as before. A packed batch (packed.py) goes as
columns per read chunk instead (``PackedJob``), unpacked on the encoding side; a file input's
ids stay columns there too (prefix and offsets, no id str made in the agent process). Labels the
encoder had to leave out at the attribute limit are counted here, in the agent process,
whichever side encoded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from typing import cast

import structlog

from logflux_agent.ingest import crypto
from logflux_agent.ingest.encode import (
    DEFAULT_COMPRESSOR,
    EncodedBatch,
    EncodeJob,
    EntryTuple,
    PayloadStatics,
    encode_with_aead,
    new_boundary,
)
from logflux_agent.ingest.encode_pool import EncodePool, WorkerError
from logflux_agent.ingest.packed_job import PackedJob, Piece
from logflux_agent.ingest.session import Limits, Session
from logflux_agent.observe import metrics
from logflux_agent.packed import PACKED, Entries, Lines, Run
from logflux_agent.record import ENTRY_FIELDS, RID, Record

log = structlog.get_logger(__name__)

LABELS_INPUT = "labels"


class EncodeDispatch:
    """Encodes record lists under a session, in a worker process or on a thread."""

    def __init__(
        self,
        statics: PayloadStatics,
        *,
        workers: int,
        threads: int,
        compress_min_bytes: int,
    ) -> None:
        self._statics = statics
        self._compress_min_bytes = compress_min_bytes
        self._thread_count = max(1, min(2, threads))
        self.compressor = DEFAULT_COMPRESSOR
        # Worker processes start and exit in real time, whatever clock the client runs on.
        self.pool = EncodePool(workers) if workers > 0 else None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        # Top-level labels cut at the attribute limit: the encoder does not know which input
        # an attributes set came from, so they are counted under input "labels".
        self._labels_cut = metrics.ATTRIBUTES_TRUNCATED.labels(
            input=LABELS_INPUT, reason="labels_dropped"
        )

    async def encode(
        self, records: Sequence[Record], session: Session, limits: Limits
    ) -> EncodedBatch:
        job: EncodeJob | PackedJob
        if type(records) is Run and records.packed:
            # Columns per read chunk (ingest/packed_job.py): no per-entry object here.
            job = PackedJob(self._job([], None, len(records), session, limits), job_pieces(records))
        else:
            entries: list[EntryTuple] = list(map(ENTRY_FIELDS, records))
            # One C-level pass when no record has an id (the feature off): nothing else changes.
            rids = list(map(RID, records)) if any(map(RID, records)) else None
            job = self._job(entries, rids, len(entries), session, limits)
        enc = await self._encoded(job, session)
        if enc.labels_cut:
            self._labels_cut.inc(enc.labels_cut)
        return enc

    def _job(
        self,
        entries: list[EntryTuple],
        rids: list[str | None] | None,
        count: int,
        session: Session,
        limits: Limits,
    ) -> EncodeJob:
        return EncodeJob(
            rids=rids,
            entries=entries,
            key_id=session.key_id,
            nonce_prefix=session.nonce_prefix,
            counter_start=session.reserve(count),
            statics=self._statics,
            boundary=new_boundary(),
            max_payload=limits.max_payload_bytes,
            max_request=limits.max_request_bytes,
            compressor=self.compressor,
            compress_min_bytes=self._compress_min_bytes,
        )

    async def _encoded(self, job: EncodeJob | PackedJob, session: Session) -> EncodedBatch:
        aead = session.aead
        if self.pool is not None:
            enc = await self._in_worker(job, session)
            if enc is not None:
                return enc
        if self._threads is None:
            self._threads = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._thread_count, thread_name_prefix="encode"
            )
        loop = asyncio.get_running_loop()
        plain = job.unpack() if isinstance(job, PackedJob) else job
        return await loop.run_in_executor(self._threads, encode_with_aead, plain, aead)

    async def _in_worker(self, job: EncodeJob | PackedJob, session: Session) -> EncodedBatch | None:
        assert self.pool is not None
        key = session.key_copy()
        try:
            return await self.pool.encode(job, key)
        except WorkerError as exc:
            log.error(
                "encode.worker_lost_batch",
                error=str(exc),
                note="encoding this batch in the agent process",
            )
            return None
        finally:
            crypto.zero(key)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        self._threads = None


def job_pieces(run: Run) -> list[Piece]:
    """The job's pieces: a ``Lines`` or ``Entries`` as its columns, a record list as entry
    tuples."""
    pieces: list[Piece] = []
    for piece in run.pieces:
        if type(piece) in PACKED:
            pieces.append(cast("Lines | Entries", piece).columns())
        else:
            ids = list(map(RID, piece)) if any(map(RID, piece)) else None
            pieces.append((list(map(ENTRY_FIELDS, piece)), ids))
    return pieces
