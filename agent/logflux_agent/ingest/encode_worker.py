"""The encode worker process: ``python -m logflux_agent.ingest.encode_worker``.

It reads encode requests from stdin and writes encoded batches to stdout, one at a time, in
order, until stdin closes. Each frame is an 8-byte header (``!II``: meta length, raw length),
a pickled meta object, then raw bytes. Requests: meta = ``EncodeJob`` or ``PackedJob``
(packed_job.py), raw = the session's 32-byte AES key the first time this worker sees that key
id, else nothing.
Responses: meta = ``EncodedBatch`` with an empty body, or an error text; raw = the body, so the
large part never goes through pickle.

The worker keeps the ciphers of the last ``KEYS_KEPT`` key ids it was given; the parent mirrors
that list to know when to send a key again (both evict in the same frame order). SIGINT, SIGTERM
and SIGHUP are ignored: the agent decides when workers stop (it closes their stdin), so a
``systemctl stop`` or Ctrl-C cannot kill encoding in the middle of the agent's drain.
"""

from __future__ import annotations

import gc
import io
import os
import pickle
import signal
import struct
import sys
from collections import OrderedDict

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.ingest.encode import EncodeJob, encode_with_aead
from logflux_agent.ingest.packed_job import PackedJob
from logflux_agent.ingest.wipe import zero

FRAME_HEADER = struct.Struct("!II")
KEYS_KEPT = 2


def read_exact(stream: io.RawIOBase, size: int) -> bytearray | None:
    """``size`` bytes from ``stream``, or None at a clean end of stream before the first byte."""
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            if got == 0:
                return None
            raise EOFError(f"stream ended after {got} of {size} bytes")
        got += n
    return buf


def write_frame(fd: int, meta: bytes, raw: bytes = b"") -> None:
    pieces = [memoryview(FRAME_HEADER.pack(len(meta), len(raw))), memoryview(meta), memoryview(raw)]
    while pieces:
        written = os.writev(fd, pieces)
        while pieces and written >= len(pieces[0]):
            written -= len(pieces[0])
            pieces.pop(0)
        if pieces and written:
            pieces[0] = pieces[0][written:]


def serve(stream: io.RawIOBase, out_fd: int) -> None:
    ciphers: OrderedDict[str, AESGCM] = OrderedDict()
    while True:
        header = read_exact(stream, FRAME_HEADER.size)
        if header is None:
            return
        meta_len, raw_len = FRAME_HEADER.unpack(header)
        meta = read_exact(stream, meta_len)
        key = read_exact(stream, raw_len) if raw_len else None
        if meta is None or (raw_len and key is None):
            raise EOFError("stream ended inside a frame")
        job: EncodeJob | PackedJob = pickle.loads(meta)
        if isinstance(job, PackedJob):
            job = job.unpack()
        if key is not None:
            try:
                ciphers[job.key_id] = AESGCM(bytes(key))
            finally:
                zero(key)
            while len(ciphers) > KEYS_KEPT:
                ciphers.popitem(last=False)
        aead = ciphers.get(job.key_id)
        if aead is None:
            write_frame(out_fd, pickle.dumps(f"no key for key id {job.key_id!r}"))
            continue
        try:
            enc = encode_with_aead(job, aead)
        except Exception as exc:  # answer, so the parent's request does not hang
            write_frame(out_fd, pickle.dumps(f"{type(exc).__name__}: {exc}"))
            continue
        body, enc.body = enc.body, b""
        write_frame(out_fd, pickle.dumps(enc, protocol=pickle.HIGHEST_PROTOCOL), body)


# The encoder allocates a few GC-tracked objects per entry (entry tuples, part lists) and frees
# them all by reference counting within the batch: at the default threshold (700 allocations)
# the collector ran every few dozen entries and cost ~1 µs of the ~5-6 µs per entry. What was
# imported is frozen (never scanned again); a rare cycle (an exception's traceback) is still
# collected, just after 100,000 allocations instead of 700.
GC_THRESHOLD = (100_000, 50, 50)


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    stdout_fd = os.dup(sys.stdout.fileno())
    # Anything printed by accident must not corrupt the frames: stdout becomes stderr.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        with open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as stdin:
            serve(stdin, stdout_fd)
    except (BrokenPipeError, EOFError):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
