"""An unusable ``state_dir`` stops the real agent with exit 1 and the true reason.

Read-only filesystems are real mounts (a read-only bind mount in a private mount namespace, so
nothing leaks to the host); permission cases run the agent as ``nobody``, since root ignores
mode bits.
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
from typing import Any

import pytest
import yaml

from logflux_agent.devserver.options import DEV_API_KEY
from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

NOBODY = 65534


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    cmd = ["unshare", "-m", "true"] if os.geteuid() == 0 else ["unshare", "-rm", "true"]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


needs_mount_ns = pytest.mark.skipif(
    not _can_unshare(),
    reason="needs util-linux unshare and a mount namespace (root or user namespaces)",
)
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="running the agent as another user needs root and setpriv",
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory every user can traverse (pytest's own tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="lf-state-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_config(workdir: Path, state_dir: Path | None, owner: int | None = None) -> Path:
    log = workdir / "app.log"
    log.touch()
    log.chmod(0o644)
    doc: dict[str, Any] = {
        "api_key": DEV_API_KEY,
        "endpoint": "http://127.0.0.1:9",
        "inputs": [{"type": "file", "id": "app", "paths": [str(log)]}],
        "metrics": {"enabled": False},
        "logging": {"level": "info", "format": "json"},
    }
    if state_dir is not None:
        doc["state_dir"] = str(state_dir)
    config = workdir / "agent.yaml"
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    config.chmod(0o600)
    if owner is not None:
        os.chown(config, owner, owner)
    return config


def run_agent(prefix: list[str], config: Path) -> tuple[int, str]:
    env = dict(os.environ)
    env.pop("LOGFLUX_API_KEY", None)
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "logflux_agent", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout.decode() + proc.stderr.decode()


def failure(output: str) -> str:
    for line in output.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "agent.failed":
            return str(event["error"])
    raise AssertionError(f"no agent.failed event in:\n{output}")


def read_only_bind(directory: Path) -> list[str]:
    """Run the command with ``directory`` bind-mounted read-only onto itself, privately."""
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
    ns = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    return [*ns, "sh", "-c", script, str(directory)]


@needs_mount_ns
def test_an_existing_state_dir_on_a_read_only_mount_says_read_only_filesystem(
    workdir: Path,
) -> None:
    state = workdir / "state"
    state.mkdir()
    (state / "checkpoints.json").write_text('{"version": 1, "streams": {}}')
    config = write_config(workdir, state)
    code, output = run_agent(read_only_bind(state), config)
    assert code == 1, output
    message = failure(output)
    assert f"state_dir {state} is on a read-only filesystem" in message
    assert f"mounted read-only at {state}" in message
    assert "permission" not in message and "not writable by this user" not in message


@needs_mount_ns
def test_a_state_dir_to_create_below_a_read_only_mount_says_read_only_filesystem(
    workdir: Path,
) -> None:
    ro = workdir / "ro"
    ro.mkdir()
    state = ro / "var" / "state"
    config = write_config(workdir, state)
    code, output = run_agent(read_only_bind(ro), config)
    assert code == 1, output
    message = failure(output)
    assert f"state_dir {state} is on a read-only filesystem (mounted read-only at {ro})" in message


@needs_root
def test_a_state_dir_this_user_may_not_write_says_permission_with_owner_and_mode(
    workdir: Path,
) -> None:
    state = workdir / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    config = write_config(workdir, state, owner=NOBODY)
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    code, output = run_agent(as_nobody, config)
    assert code == 1, output
    message = failure(output)
    assert f"state_dir {state}: permission denied for user nobody (uid {NOBODY})" in message
    assert f"{state} is owned by uid 0 with mode 0755" in message
    assert "read-only" not in message


@needs_root
def test_a_missing_parent_this_user_may_not_create_in_names_that_parent(workdir: Path) -> None:
    locked = workdir / "locked"
    locked.mkdir()
    locked.chmod(0o755)
    state = locked / "a" / "b"
    config = write_config(workdir, state, owner=NOBODY)
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    code, output = run_agent(as_nobody, config)
    assert code == 1, output
    message = failure(output)
    assert f"state_dir {state}: permission denied" in message
    assert f"{locked} is owned by uid 0 with mode 0755" in message


@needs_root
def test_the_default_state_dir_as_another_user_says_how_to_fix_it(workdir: Path) -> None:
    config = write_config(workdir, None, owner=NOBODY)
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    code, output = run_agent(as_nobody, config)
    assert code == 1, output
    message = failure(output)
    assert "state_dir /var/lib/logflux-agent: permission denied for user nobody" in message
    assert "set state_dir: to a directory you own" in message


def test_a_state_dir_below_a_regular_file_says_not_a_directory(workdir: Path) -> None:
    blocker = workdir / "file"
    blocker.write_text("not a directory")
    state = blocker / "state"
    config = write_config(workdir, state)
    code, output = run_agent([], config)
    assert code == 1, output
    assert f"state_dir {state}: {blocker} exists and is not a directory" in failure(output)


def test_a_second_agent_on_the_same_state_dir_exits_1_saying_it_is_in_use(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    """Two agents on one state_dir would each rewrite checkpoints.json with only their own
    files (a stray agent left by a crashed run loses the other's checkpoints): the second one
    stops at start; the lock goes with the first one, also on kill -9."""
    log = tmp_path / "app.log"
    log.write_text("one\n", encoding="utf-8")
    first = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[{"type": "file", "id": "app", "paths": [str(log)], "start_at": "beginning"}],
        metrics=False,
    )
    try:
        first.start()
        first.wait_for_event("file.input_started")
        code, output = run_agent([], first.config_path)
        assert code == 1, output
        assert failure(output) == (
            f"state_dir {first.state_dir}: in use by another logflux-agent process; give each "
            "agent its own state_dir"
        )
        assert first.alive()
        ref_ingestor.wait_for_entries(1, timeout=30)
        first.kill9()
        first.start()  # the kernel released the lock with the killed process
        wait_until(
            lambda: [e.get("event") for e in first.events()].count("file.input_started") == 2,
            timeout=30,
            message="the restarted agent's input started",
        )
        assert first.alive()
    finally:
        first.stop()
