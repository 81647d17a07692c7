"""inputs/journald/process.py with a real child process standing in for journalctl: stdout
read in chunks, stderr lines kept (bounded, long lines cut) without a task, stop reaps it."""

from __future__ import annotations

import asyncio

import pytest

from logflux_agent.inputs.journald.process import (
    _STDERR_LINE_MAX,
    STDERR_KEEP_LINES,
    JournalctlMissing,
    JournalctlProcess,
)
from tests.support.wait import async_wait_until


async def read_all(proc: JournalctlProcess) -> bytes:
    out = b""
    while chunk := await proc.read():
        out += chunk
    return out


async def test_stdout_is_read_and_stderr_lines_are_kept_and_passed_on() -> None:
    seen: list[str] = []
    script = "echo out1; echo err1 >&2; printf 'err2\\n\\nerr3' >&2; echo out2; exit 3"
    proc = JournalctlProcess(["sh", "-c", script], on_stderr=seen.append)
    await proc.start()
    assert await read_all(proc) == b"out1\nout2\n"
    assert await proc.stop() == 3
    # Empty lines are skipped; a last line without a newline still counts.
    assert seen == ["err1", "err2", "err3"] and list(proc.stderr_tail) == seen


async def test_a_long_stderr_line_keeps_its_start_and_the_tail_stays_bounded() -> None:
    n = STDERR_KEEP_LINES + 5
    long_line = "head -c 100000 /dev/zero | tr '\\0' x >&2; echo >&2"
    script = f"{long_line}; for i in $(seq {n}); do echo l$i >&2; done; echo end >&2"
    seen: list[str] = []
    proc = JournalctlProcess(["sh", "-c", script], on_stderr=seen.append)
    await proc.start()
    await read_all(proc)
    await proc.stop()
    assert seen[0] == "x" * _STDERR_LINE_MAX and seen[1] == "l1" and seen[-1] == "end"
    assert len(seen) == n + 2
    tail = list(proc.stderr_tail)
    assert len(tail) == STDERR_KEEP_LINES and tail[-1] == "end"


async def test_stop_terminates_a_running_child_and_leaves_no_task() -> None:
    proc = JournalctlProcess(["sh", "-c", "echo started >&2; exec sleep 60"], grace=5)
    await proc.start()
    # Running for real: SIGTERM before the shell wrote its line would leave nothing to keep.
    await async_wait_until(lambda: list(proc.stderr_tail) == ["started"], timeout=10)
    returncode = await asyncio.wait_for(proc.stop(), 10)
    assert returncode is not None and returncode < 0  # ended by SIGTERM
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("journalctl-")]
    assert list(proc.stderr_tail) == ["started"]


async def test_a_missing_binary_is_reported_and_leaks_no_descriptor() -> None:
    import os

    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(JournalctlMissing):
        await JournalctlProcess(["/nonexistent/journalctl"]).start()
    assert len(os.listdir("/proc/self/fd")) == before
