"""Where a batch is encoded: an encode worker process, else a thread of the agent.

Owns the choice and the fallback. With ``sender.encode_workers`` > 0 each batch goes to the
worker pool (``encode_pool.py``; the session key is copied for the pipe and zeroed after);
when that is 0, or a worker dies mid-batch, or the pool gave up after repeated deaths, the batch
is encoded on a small thread pool with the session's cipher object, so delivery never waits for
a worker that is not coming back. The encoding itself is ``encode.py``'s pure function.

What the job carries per entry: the five payload fields (``ENTRY_FIELDS``) and, only when some
record of the batch has one, the record ids as a column of their own (``EncodeJob.rids``), so a
batch without ids pickles to the worker exactly as before. Labels the encoder had to leave out
at the attribute limit are counted here, in the agent process, whichever side encoded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence

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
from logflux_agent.ingest.session import Limits, Session
from logflux_agent.observe import metrics
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
        entries: list[EntryTuple] = list(map(ENTRY_FIELDS, records))
        # One C-level pass when no record has an id (the feature off): nothing else changes.
        rids = list(map(RID, records)) if any(map(RID, records)) else None
        job = EncodeJob(
            rids=rids,
            entries=entries,
            key_id=session.key_id,
            nonce_prefix=session.nonce_prefix,
            counter_start=session.reserve(len(entries)),
            statics=self._statics,
            boundary=new_boundary(),
            max_payload=limits.max_payload_bytes,
            max_request=limits.max_request_bytes,
            compressor=self.compressor,
            compress_min_bytes=self._compress_min_bytes,
        )
        enc = await self._encoded(job, session)
        if enc.labels_cut:
            self._labels_cut.inc(enc.labels_cut)
        return enc

    async def _encoded(self, job: EncodeJob, session: Session) -> EncodedBatch:
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
        return await loop.run_in_executor(self._threads, encode_with_aead, job, aead)

    async def _in_worker(self, job: EncodeJob, session: Session) -> EncodedBatch | None:
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
