"""A file the process really cannot read: reported once, counted, retried, never fatal.

The tests run as root, and root reads any file whatever its mode. So the input runs in a child
process that imports everything it needs, then drops to ``nobody`` (setgroups/setgid/setuid)
before it starts: from then on the kernel refuses it a 0600 root-owned file and a 0700 root-owned
directory, exactly as it would refuse an unprivileged agent. (The interpreter lives under
/root, which ``nobody`` cannot traverse, hence the switch after start-up rather than ``su``.)
inotify is off in the child (it would import anyio's backend lazily, after the switch); the
rescan, every 50 ms, is what retries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHILD = r"""
import asyncio, json, os, pwd, sys
import structlog, structlog.testing
from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.pipeline.checkpointer import Checkpointer
from logflux_agent.config.model import FileInputConfig
from logflux_agent.inputs.file import FileInput
from logflux_agent.observe import metrics

directory, state = sys.argv[1], sys.argv[2]
store = CheckpointStore(state)
store.load()
nobody = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)


def errors(reason):
    return metrics.INPUT_ERRORS.labels(input="perm", reason=reason)._value.get()


def report(phase, got, logs):
    problems = [(e["reason"], e["path"]) for e in logs if e["event"] == "file.problem"]
    print(json.dumps({"phase": phase, "uid": os.getuid(), "got": got, "problems": problems,
                      "permission_errors": errors("permission")}), flush=True)


async def wait(cond, seconds):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not cond():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def main(logs):
    config = FileInputConfig(id="perm", paths=(directory + "/*.log", directory + "/locked/*.log"),
                             start_at="beginning", rescan_interval=0.05)
    inp = FileInput(config, Checkpointer(store))
    inp.watch_events = False
    got = []

    async def emit(records):
        got.extend(r.message for r in records)

    task = asyncio.create_task(inp.run(emit))
    ok = await wait(lambda: got == ["readable"] and errors("permission") >= 6, 20)
    report("denied" if ok else "timeout", got, logs)
    ok = await wait(lambda: "secret" in got, 20)
    report("done" if ok else "timeout", got, logs)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


with structlog.testing.capture_logs() as logs:
    asyncio.run(main(logs))
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory under /tmp that ``nobody`` can traverse (pytest's tmp_path is 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="logflux-perm-", dir="/tmp"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to nobody")
def test_unreadable_file_and_directory_are_reported_once_and_retried(shared_dir: Path) -> None:
    readable = shared_dir / "readable.log"
    readable.write_text("readable\n")
    readable.chmod(0o644)
    secret = shared_dir / "secret.log"
    secret.write_text("secret\n")
    secret.chmod(0o600)
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o700)
    state = shared_dir / "state"
    state.mkdir(mode=0o700)

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(shared_dir), str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = json.loads(child.stdout.readline() or "{}")
        assert first.get("phase") == "denied", (first, child.stderr and child.stderr.read())
        assert first["uid"] != 0
        assert first["got"] == ["readable"]
        # Retried on every rescan and counted each time, logged once per path.
        assert first["permission_errors"] >= 6
        assert sorted(first["problems"]) == [
            ["permission", str(locked)],
            ["permission", str(secret)],
        ]

        # Fix the permission: the next rescan reads the file.
        secret.chmod(0o644)
        second = json.loads(child.stdout.readline() or "{}")
        assert second.get("phase") == "done", second
        assert second["got"] == ["readable", "secret"]
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
