"""glibc allocator settings for the encode path: keep batch-sized buffers instead of
returning them to the kernel after every batch.

Each batch allocates and frees a few buffers of ~0.1-1 MiB (the pickled job, the plaintext,
the sealed parts, the ~0.55 MiB body) in the agent and in each encode worker. With glibc's
defaults the heap top is trimmed after nearly every batch (the trim threshold follows the
largest freed block, ~1 MiB), so the next batch faults the same pages in again: ~60 minor page
faults per batch in the agent and ~30 in a worker, which on a virtual machine cost more than
the work around them. ``tune`` raises the trim threshold to ``TRIM_BYTES`` and pins the mmap
threshold at ``MMAP_BYTES`` (setting one disables glibc's sliding thresholds, so both are set):
blocks below 8 MiB come from the heap, and up to 16 MiB of free heap is kept for reuse. The
agent calls ``tune`` (``mallopt`` through ``ctypes``); an encode worker gets the same settings
from ``worker_env``'s variables, which glibc reads at start-up, so it need not load ``ctypes``
(~0.3 MiB). Settings the user already put in the environment win.

Memory stays bounded: what is kept was in use before (the peak RSS, which the README's memory
bound covers, does not grow; measured +0.5 MiB on the process tree), it is only not handed
back between batches. Elsewhere than glibc (musl, macOS) ``tune`` does nothing.
"""

from __future__ import annotations

import ctypes
import os
import platform

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3
TRIM_BYTES = 16 << 20
MMAP_BYTES = 8 << 20

_done = False


def worker_env() -> dict[str, str]:
    """The environment for an encode worker: the agent's, plus the allocator settings."""
    env = dict(os.environ)
    env.setdefault("MALLOC_TRIM_THRESHOLD_", str(TRIM_BYTES))
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_BYTES))
    return env


def tune() -> bool:
    """Apply the settings once per process; True when glibc took them."""
    global _done
    if _done:
        return True
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)
    )
    return _done
