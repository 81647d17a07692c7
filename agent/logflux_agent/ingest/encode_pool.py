"""Encode worker processes seen from the agent: start them, hand them jobs, collect bodies.

Each worker is a plain child process (``ingest/encode_worker.py``) spoken to over its stdin/stdout
pipes by the event loop itself. This replaces ``concurrent.futures.ProcessPoolExecutor``, whose
management and feeder threads competed with the event loop for the GIL (~2.6 µs per line at
full speed) and whose forkserver and resource-tracker processes cost ~25 MiB of RSS. Bodies come
back as raw bytes after a small pickled header, so nothing large is pickled.

A job goes to the worker with the fewest jobs waiting; each worker answers in order. A worker
that dies fails its waiting jobs with ``WorkerDied`` (the client then encodes them itself) and
is started again on the next job; after ``MAX_DEATHS`` deaths within ``DEATH_WINDOW`` seconds
the pool gives up and ``encode`` returns None, so a broken install cannot spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import pickle
import sys
from collections import deque

import structlog

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.ingest.encode import EncodedBatch, EncodeJob
from logflux_agent.ingest.encode_worker import FRAME_HEADER, KEYS_KEPT
from logflux_agent.ingest.packed_job import PackedJob

log = structlog.get_logger(__name__)

MAX_DEATHS = 3
DEATH_WINDOW = 60.0
STOP_TIMEOUT = 5.0
_READ_LIMIT = 1 << 22  # buffer bodies in a few large reads
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size for unprivileged processes


def _widen_pipe(stream: asyncio.StreamWriter | asyncio.StreamReader | None) -> None:
    # A job (~200 KB) and a body (~600 KB) then cross in one or two system calls instead of
    # ten 64 KiB steps, each an event-loop wake-up. Best effort: the limit may be lower.
    transport = getattr(stream, "transport", None) or getattr(stream, "_transport", None)
    pipe = transport.get_extra_info("pipe") if transport is not None else None
    if pipe is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class WorkerError(Exception):
    """A worker could not encode this job; the caller can still encode it in-process."""


class WorkerDied(WorkerError):
    """The worker encoding this job exited before answering."""


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.waiting: deque[asyncio.Future[EncodedBatch]] = deque()
        self.keys: deque[str] = deque(maxlen=KEYS_KEPT)
        self.alive = True
        self.reader = asyncio.create_task(self._read(), name=f"encode-worker-{proc.pid}")

    async def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                header = await stdout.readexactly(FRAME_HEADER.size)
                meta_len, raw_len = FRAME_HEADER.unpack(header)
                meta = pickle.loads(await stdout.readexactly(meta_len))
                body = await stdout.readexactly(raw_len) if raw_len else b""
                future = self.waiting.popleft()
                if future.done():  # its caller was cancelled
                    continue
                if isinstance(meta, EncodedBatch):
                    meta.body = body
                    future.set_result(meta)
                else:
                    future.set_exception(WorkerError(f"encode worker {self.proc.pid}: {meta}"))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.alive = False
            code = await self.proc.wait() if self.proc.returncode is None else self.proc.returncode
            while self.waiting:
                future = self.waiting.popleft()
                if not future.done():
                    future.set_exception(
                        WorkerDied(f"encode worker {self.proc.pid} exited with status {code}")
                    )


class EncodePool:
    """``count`` encode worker processes, started on first use."""

    def __init__(self, count: int, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._count = count
        self._clock = clock
        self._workers: list[_Worker] = []
        self._deaths: deque[float] = deque(maxlen=MAX_DEATHS)
        self._starting = asyncio.Lock()
        self.disabled = False

    async def encode(self, job: EncodeJob | PackedJob, key: bytearray) -> EncodedBatch | None:
        """The encoded batch, or None when workers are disabled (encode in-process then).

        ``key`` is the session's AES key; it is sent only to workers that lack it.
        Raises ``WorkerDied`` if the worker exits first, ``WorkerError`` if it reports a failure.
        """
        worker = await self._pick()
        if worker is None:
            return None
        stdin = worker.proc.stdin
        assert stdin is not None
        meta = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        send_key = job.key_id not in worker.keys
        future: asyncio.Future[EncodedBatch] = asyncio.get_running_loop().create_future()
        # No await between queueing the future and writing the frame: answers come in order.
        worker.waiting.append(future)
        stdin.write(FRAME_HEADER.pack(len(meta), len(key) if send_key else 0))
        stdin.write(meta)
        if send_key:
            worker.keys.append(job.key_id)
            stdin.write(key)
        try:
            await stdin.drain()
        except (ConnectionError, OSError) as exc:
            worker.alive = False
            raise WorkerDied(f"encode worker {worker.proc.pid} is gone: {exc}") from exc
        return await future

    async def _pick(self) -> _Worker | None:
        if self.disabled:
            return None
        async with self._starting:
            for worker in [w for w in self._workers if not w.alive]:
                self._workers.remove(worker)
                self._note_death(worker)
            if self.disabled:
                return None
            while len(self._workers) < self._count:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "logflux_agent.ingest.encode_worker",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=_READ_LIMIT,
                )
                for stream in (proc.stdin, proc.stdout):
                    _widen_pipe(stream)
                self._workers.append(_Worker(proc))
        return min(self._workers, key=lambda w: len(w.waiting))

    def _note_death(self, worker: _Worker) -> None:
        now = self._clock.monotonic()
        self._deaths.append(now)
        log.error(
            "encode.worker_died",
            pid=worker.proc.pid,
            status=worker.proc.returncode,
            note="started again on the next batch",
        )
        if len(self._deaths) == MAX_DEATHS and now - self._deaths[0] < DEATH_WINDOW:
            self.disabled = True
            log.error(
                "encode.workers_disabled",
                deaths=MAX_DEATHS,
                window_s=DEATH_WINDOW,
                note="encoding in the agent process from now on",
            )

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.alive]

    async def close(self) -> None:
        """Close every worker's stdin (they exit at end of input); kill any that linger."""
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
        for worker in workers:
            try:
                await self._clock.wait_for(worker.proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.kill()
                await worker.proc.wait()
            await worker.reader
