"""The encode worker keeps its heap (glibc): a large block comes from the heap, not a fresh map.

Checked in a child Python process (the test process keeps its own settings): where a 4 MiB
buffer lives, by its address against the ``[heap]`` line of ``/proc/self/maps``, with the
worker's settings applied and with ``LOGFLUX_AGENT_MALLOC=default``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHILD = """
import ctypes, sys
from logflux_agent.ingest.encode_worker import keep_heap
applied = keep_heap()
block = bytearray(4 << 20)
at = ctypes.addressof((ctypes.c_char * len(block)).from_buffer(block))
for line in open("/proc/self/maps"):
    if line.rstrip().endswith("[heap]"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        in_heap = lo <= at < hi
        break
else:
    in_heap = False
print(applied, in_heap)
"""


def child(**env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or not os.path.exists("/proc/self/maps"),
    reason="needs glibc's mallopt and /proc/self/maps",
)
def test_large_blocks_come_from_the_heap_unless_glibc_defaults_are_asked_for() -> None:
    assert child() == "True True"
    assert child(LOGFLUX_AGENT_MALLOC="default") == "False False"
