"""The container image, built from the Dockerfile and run for real, without a Docker engine.

``packaging/docker/build-image.sh`` bootstraps a Debian base with mmdebstrap and builds the
repository's Dockerfile with ``buildah bud --isolation chroot`` (only ``PYTHON_IMAGE`` changes).
The tests run the image with ``buildah run --isolation chroot``, the command its ENTRYPOINT and
CMD say, as the user its USER says, with its ENV: ``podman run`` would need an OCI runtime, and
crun refuses the cgroup layout of the machines this runs on.

What chroot isolation gives and what it does not: the container has its own root filesystem and
mount namespace (made read-only here by a read-only bind of the container's root, with tmpfs on
``/tmp`` and on ``/run``, where buildah writes ``.containerenv``), but it shares the host's
network (the agent reaches the reference ingestor on host loopback, the HEALTHCHECK reaches the
agent) and PID namespace: the agent is the container's main process, not PID 1, and receives
SIGTERM the way a runtime delivers it to PID 1. Needs root and the Debian packages buildah,
mmdebstrap and podman (``scripts/test`` installs them).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from logflux_agent.errors import EXIT_CONFIG
from tests.support.agentproc import free_port
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "packaging" / "docker" / "build-image.sh"
IMAGE_CONFIG = ROOT / "packaging" / "docker" / "agent.yaml"
TOOLS = {"buildah": "buildah", "mmdebstrap": "mmdebstrap", "podman": "podman"}
UID = 10001
SITE_PACKAGES = (
    "import glob, os\n"
    "(site,) = glob.glob('/opt/logflux-agent/lib/python3*/site-packages')\n"
    "print('\\n'.join(sorted(os.listdir(site))))"
)


def _run(cmd: list[str], *, timeout: float = 120, check: bool = True, **kw: Any) -> Any:
    kw.setdefault("stdin", subprocess.DEVNULL)  # CI runs without a standard input
    proc = subprocess.run(cmd, text=True, capture_output=True, timeout=timeout, check=False, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Image:
    name: str
    config: dict[str, Any]  # the docker-format image config: User, Env, Entrypoint, ...
    build_seconds: float


@dataclass
class Container:
    name: str
    readonly_root: str | None  # None when enforced, else what prevented it


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    if os.geteuid() != 0:
        pytest.skip("building and running the image needs root (buildah, mmdebstrap)")
    missing = [
        f"{tool} (Debian package `{pkg}`)" for tool, pkg in TOOLS.items() if not shutil.which(tool)
    ]
    if missing:
        pytest.skip("not installed: " + ", ".join(missing))
    name = f"localhost/logflux-agent:test-{uuid.uuid4().hex[:12]}"
    start = time.monotonic()
    # pip config as this interpreter's pip sees it: the one the tests themselves installed with.
    env = {**os.environ, "PYTHON": sys.executable}
    proc = _run(["bash", str(BUILD), name], timeout=840, env=env)
    seconds = time.monotonic() - start
    assert proc.stdout.strip().splitlines()[-1] == name, proc.stdout
    inspect = json.loads(_run(["buildah", "inspect", "--type", "image", name]).stdout)
    try:
        yield Image(name, inspect["Docker"]["config"], seconds)
    finally:
        _run(["buildah", "rmi", name], check=False)


@pytest.fixture(scope="module")
def container(image: Image) -> Iterator[Container]:
    name = f"logflux-agent-test-{uuid.uuid4().hex[:12]}"
    _run(["buildah", "from", "--pull=never", "--name", name, image.name])
    # The tests bind a host directory over the image's VOLUME (`-v state:/var/lib/logflux-agent`
    # in docker terms). buildah 1.28 sometimes mounts its own anonymous volume over such a bind,
    # so the working container forgets the VOLUME; the image keeps it (checked below).
    mounted: list[str] = []
    problem: str | None = None
    try:
        for volume in image.config.get("Volumes") or {}:
            _run(["buildah", "config", "--volume", f"{volume}-", name])
        root = _run(["buildah", "mount", name]).stdout.strip()
        # A read-only bind over the container's root: buildah run's mount namespace is copied
        # from this one, so the container sees it. buildah creates and removes
        # /run/.containerenv around every run, hence a (root-owned) tmpfs on /run.
        steps = (
            (["mount", "--bind", root, root], root),
            (["mount", "-o", "remount,bind,ro", root], None),
            (["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", f"{root}/run"], "run"),
            # `docker run --read-only --tmpfs /tmp`. Not `buildah run --mount type=tmpfs`:
            # buildah 1.28 then mishandles the --volume binds (see the VOLUME above).
            (["mount", "-t", "tmpfs", "-o", "size=16m,mode=1777", "tmpfs", f"{root}/tmp"], "tmp"),
        )
        for cmd, target in steps:
            proc = _run(cmd, check=False)
            if proc.returncode != 0:
                problem = f"read-only root not enforced: {' '.join(cmd)}: {proc.stderr.strip()}"
                break
            if target is not None:
                mounted.append(cmd[-1])  # umount in reverse order
        yield Container(name, problem)
    finally:
        for target in reversed(mounted):
            _run(["umount", target], check=False)
        _run(["buildah", "rm", name], check=False)


def _run_argv(
    ctr: Container,
    argv: list[str],
    *,
    user: str = f"{UID}:{UID}",
    env: dict[str, str] | None = None,
    volumes: tuple[str, ...] = (),
) -> list[str]:
    cmd = ["buildah", "run", "--isolation", "chroot", "--user", user]
    for key, value in (env or {}).items():
        cmd += ["--env", f"{key}={value}"]
    for volume in volumes:
        cmd += ["--volume", volume]
    return [*cmd, ctr.name, "--", *argv]


def _healthcheck_argv(image: Image) -> list[str]:
    test = image.config["Healthcheck"]["Test"]
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    assert test[0] == "CMD", test
    return list(test[1:])


def _http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:  # breadth first: the shallowest match is the container's main process
        current = todo.pop(0)
        for child in sorted(children.get(current, [])):
            out.append(child)
            todo.append(child)
    return out


def _main_process(runner: subprocess.Popen[bytes], entrypoint: str) -> int | None:
    """The host pid of the command buildah runs (under buildah-chroot-runtime and -exec)."""
    for pid in _descendants(runner.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            uid = Path(f"/proc/{pid}").stat().st_uid
        except OSError:
            continue
        if uid == UID and argv[0] != b"buildah-chroot-exec" and entrypoint.encode() in argv[:2]:
            return pid
    return None


def test_image_metadata_contents_and_read_only_root(
    image: Image, container: Container, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg = image.config
    assert cfg["User"] == f"{UID}:{UID}"
    assert cfg["Entrypoint"] == ["/opt/logflux-agent/bin/logflux-agent"]
    assert cfg["StopSignal"] == "SIGTERM"
    assert "/var/lib/logflux-agent" in cfg["Volumes"]
    assert cfg["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL")
    size = int(_run(["podman", "image", "inspect", "--format", "{{.Size}}", image.name]).stdout)
    packages = _run(
        _run_argv(container, ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"])
    ).stdout.split("\n")
    listing = _run(
        _run_argv(
            container,
            [
                "python",
                "-c",
                SITE_PACKAGES,
            ],
        )
    ).stdout
    with capsys.disabled():
        print(
            f"\n== image {image.name}: {size / 1e6:.0f} MB, built in {image.build_seconds:.0f} s"
            f"\n== {len([p for p in packages if p])} Debian packages: "
            + ", ".join(p for p in packages if p)
            + "\n== /opt/logflux-agent site-packages: "
            + ", ".join(n for n in listing.split() if not n.endswith((".dist-info", ".pth")))
        )
    assert "pip" not in listing.split(), "no pip in the shipped venv"

    # journald: the image has no journalctl, and the docs say so.
    which = _run(_run_argv(container, ["sh", "-c", "command -v journalctl"]), check=False)
    assert which.returncode != 0, "journalctl is in the image: document journald support"
    assert "no `journalctl`" in (ROOT / "docs" / "operations.md").read_text()

    # The image's own config validates with a key, and is a config error without one. The
    # state directory is the image's VOLUME, writable as `docker run` provides it: on the
    # read-only root itself validate rightly says the agent could not start (exit 1).
    state = tmp_path / "state"
    state.mkdir(mode=0o750)
    os.chown(state, UID, UID)
    ok = _run(
        _run_argv(
            container,
            ["logflux-agent", "validate"],
            env={"LOGFLUX_API_KEY": "eu-lf_x" * 4},
            volumes=(f"{state}:/var/lib/logflux-agent",),
        ),
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    if container.readonly_root is None:  # the root really is read-only here
        unwritable = _run(
            _run_argv(
                container, ["logflux-agent", "validate"], env={"LOGFLUX_API_KEY": "eu-lf_x" * 4}
            ),
            check=False,
        )
        assert unwritable.returncode == 1, unwritable.stdout + unwritable.stderr
        assert "read-only filesystem" in unwritable.stdout
    bad = _run(_run_argv(container, ["logflux-agent", "validate"]), check=False)
    assert bad.returncode == EXIT_CONFIG, bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr

    if container.readonly_root is not None:
        pytest.skip(container.readonly_root)
    probe = (
        "import errno, sys\n"
        "for path in sys.argv[1:]:\n"
        "    try: open(path, 'w').close(); print(path, 0)\n"
        "    except OSError as e: print(path, e.errno)\n"
    )
    targets = ["/probe", "/etc/logflux-agent/probe", "/opt/logflux-agent/probe", "/tmp/probe"]
    for user in (f"{UID}:{UID}", "0:0"):
        out = _run(_run_argv(container, ["python", "-c", probe, *targets], user=user)).stdout
        result = dict(line.split() for line in out.splitlines())
        # EROFS even for root: read-only, not merely unwritable for the agent's user.
        assert result == {
            "/probe": str(errno.EROFS),
            "/etc/logflux-agent/probe": str(errno.EROFS),
            "/opt/logflux-agent/probe": str(errno.EROFS),
            "/tmp/probe": "0",
        }, (user, out)


def test_agent_in_the_image_ships_stdin_and_a_file_then_drains_on_sigterm(
    image: Image, container: Container, tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    app_log = logs / "app.log"
    file_lines = [f"file line {i} from the image test" for i in range(200)]
    app_log.write_text("".join(f"{line}\n" for line in file_lines))
    app_log.chmod(0o644)
    state = tmp_path / "state"
    state.mkdir(mode=0o750)
    os.chown(state, UID, UID)
    # The image's own config, pointed at the reference ingestor, reading files from the start.
    config = yaml.safe_load(IMAGE_CONFIG.read_text())
    config["endpoint"] = ref_ingestor.url
    config["sender"] = {"flush_interval": 0.2}
    config["inputs"][0]["start_at"] = "beginning"
    config_file = tmp_path / "agent.yaml"
    config_file.write_text(yaml.safe_dump(config))
    config_file.chmod(0o644)
    port = free_port()
    env = {
        "LOGFLUX_API_KEY": ref_ingestor.api_key,
        "LOGFLUX_METRICS_LISTEN": f"127.0.0.1:{port}",
    }
    volumes = (
        f"{logs}:/var/log:ro",
        f"{state}:/var/lib/logflux-agent",
        f"{config_file}:/etc/logflux-agent/agent.yaml:ro",
    )
    stdin_lines = [f"stdin line {i} from the image test" for i in range(300)]
    entrypoint = image.config["Entrypoint"]
    argv = [*entrypoint, *image.config["Cmd"], "--stdin"]
    output = tmp_path / "agent.out"
    health = _healthcheck_argv(image)
    with output.open("wb") as out:
        runner = subprocess.Popen(
            _run_argv(container, argv, env=env, volumes=volumes),
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert runner.stdin is not None
        runner.stdin.write("".join(f"{line}\n" for line in stdin_lines).encode())
        runner.stdin.close()
        wait_until(
            lambda: _http(f"http://127.0.0.1:{port}/ready")[0] == 200,
            120,
            message=f"/ready 200; agent output:\n{output.read_text(errors='replace')[-3000:]}",
        )
        more = [f"appended line {i}" for i in range(100)]
        with app_log.open("a") as f:
            f.writelines(f"{line}\n" for line in more)
        ref_ingestor.wait_for_entries(len(file_lines) + len(more) + len(stdin_lines), 120)

        # The HEALTHCHECK's command, inside the container, while the agent runs.
        probe = _run(_run_argv(container, health, env=env), check=False)
        assert probe.returncode == 0, probe.stdout + probe.stderr

        pid = _main_process(runner, entrypoint[0])
        assert pid is not None, "the agent's process under buildah run"
        os.kill(pid, signal.SIGTERM)
        assert runner.wait(timeout=60) == 0, output.read_text(errors="replace")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=30)
    text = output.read_text(errors="replace")
    assert "Traceback" not in text, text
    assert ref_ingestor.api_key not in text
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    names = [e.get("event") for e in events]
    assert "agent.stopping" in names and "agent.drain_timeout" not in names, names
    assert {"event": "agent.stopped", "exit_code": 0}.items() <= events[-1].items(), events[-1]
    ref_ingestor.verify({"/var/log/app.log": [*file_lines, *more], "stdin": stdin_lines})
    checkpoint = state / "checkpoints.json"
    assert checkpoint.stat().st_uid == UID
    assert "/var/log/app.log" in checkpoint.read_text()

    # Once the agent is gone, the same HEALTHCHECK command fails.
    probe = _run(_run_argv(container, health, env=env), check=False)
    assert probe.returncode != 0, probe.stdout + probe.stderr
