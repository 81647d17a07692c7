"""glibc allocator settings: batch-sized buffers are reused instead of faulted in again, in the
agent (mallopt) and in encode workers (environment), and a user's own settings win."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from logflux_agent.ingest import allocator
from logflux_agent.ingest.encode_pool import EncodePool

# Allocate and free a body-sized buffer per "batch", as the agent does with encoded bodies.
_CYCLE = """
import resource, sys
if sys.argv[1] == "tuned":
    from logflux_agent.ingest import allocator
    assert allocator.tune()
keep = [bytes(300_000) for _ in range(4)]  # other live buffers, as with batches in flight
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    # A job's buffers: plaintexts, sealed parts, the body; freed together when it is sent.
    bufs = [bytearray(size) for size in (300_000, 600_000, 650_000)]
    for buf in bufs:
        buf[::4096] = b"x" * len(buf[::4096])  # touch every page, as writing them does
    del bufs, buf
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the settings are glibc's (mallopt)"
)


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", _CYCLE, mode], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@glibc_only
def test_tuned_process_reuses_freed_batch_buffers_instead_of_faulting_them_in() -> None:
    plain, tuned = _faults("plain"), _faults("tuned")
    # 50 cycles of ~380 pages: untuned glibc trims the heap top after most of them and faults
    # the pages in again on the next (~1,800 faults here); tuned, the first cycle's are reused.
    assert tuned * 3 < plain


def test_worker_environment_carries_the_settings_unless_the_user_set_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    env = allocator.worker_env()
    assert env["MALLOC_TRIM_THRESHOLD_"] == str(allocator.TRIM_BYTES)
    assert env["MALLOC_MMAP_THRESHOLD_"] == "131072"


@glibc_only
async def test_encode_workers_start_with_the_allocator_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.unit.ingest.test_encode_pool import job

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    workers = EncodePool(1)
    try:
        assert await workers.encode(job(["a"], "k"), bytearray(os.urandom(32))) is not None
        (pid,) = workers.pids
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read().split(b"\0")
    finally:
        await workers.close()
    assert b"MALLOC_TRIM_THRESHOLD_=%d" % allocator.TRIM_BYTES in environ
    assert b"MALLOC_MMAP_THRESHOLD_=%d" % allocator.MMAP_BYTES in environ
