"""What the agent prints can be trusted and leaks nothing, with the real CLI as a subprocess:

* a key-shaped value planted in any printable config field (node, environment, labels, input
  ids, paths, patterns, units, endpoint, state_dir) never appears unmasked in the output of
  ``validate`` (text and ``--json``), ``check`` or ``run``;
* the PAT hint is printed as written, not masked by itself;
* ``validate`` reports what would fail at run time (state_dir, input paths, the metrics port),
  prints ``--json``, and shows the log level/format exactly as ``run`` applies the flags;
* ``demo`` does not point at a folder it deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


def planted(field: str) -> str:
    """A key-shaped value unique to ``field`` (what an operator might paste by mistake)."""
    return f"eu-lf_Leak{field}X9q2Z7w4R8t"


FIELDS = (
    "Node", "Env", "LabelKey", "LabelValue", "InputId", "PathDir", "Exclude", "Pattern",
    "JournalId", "Unit", "JournalDir", "StateDir", "Endpoint",
)  # fmt: skip


def body(token: str) -> str:
    """What must never show: the token without its prefix and its last 4 (masking keeps those)."""
    return token[len("eu-lf_") : -4]


def assert_no_plant(text: str, fields: tuple[str, ...] = FIELDS) -> None:
    leaked = [f for f in fields if body(planted(f)) in text]
    assert not leaked, f"unmasked planted values for {leaked} in:\n{text[-3000:]}"


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    return subprocess.run(
        [sys.executable, "-m", "logflux_agent", *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def leak_config(tmp_path: Path, endpoint: str, *, plant_endpoint: bool) -> Path:
    logdir = tmp_path / planted("PathDir")
    logdir.mkdir()
    (logdir / "app.log").write_text("first line\n")
    journal_dir = tmp_path / planted("JournalDir")
    journal_dir.mkdir()
    doc: dict[str, Any] = {
        "api_key": "eu-lf_devingestor0local0key00001",
        "endpoint": endpoint + (f"/{planted('Endpoint')}" if plant_endpoint else ""),
        "node": planted("Node"),
        "environment": planted("Env"),
        "labels": {planted("LabelKey"): planted("LabelValue")},
        "state_dir": str(tmp_path / planted("StateDir")),
        "inputs": [
            {
                "type": "file",
                "id": planted("InputId"),
                "paths": [str(logdir / "*.log")],
                "exclude": [f"*{planted('Exclude')}*"],
                "start_at": "beginning",
                "multiline": {"start_pattern": f"^{planted('Pattern')}"},
            },
            {
                "type": "journald",
                "id": planted("JournalId"),
                "units": [f"{planted('Unit')}.service"],
                "directory": str(journal_dir),
            },
        ],
        "metrics": {"enabled": False},
        "logging": {"level": "debug", "format": "json"},
        "sender": {"flush_interval": 0.2},
    }
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    config.chmod(0o600)
    return config


@pytest.mark.parametrize("plant_endpoint", [False, True], ids=["clean-endpoint", "key-in-endpoint"])
def test_key_shaped_values_in_every_printable_field_never_appear_in_validate_or_check(
    tmp_path: Path, ref_ingestor: RefIngestor, plant_endpoint: bool
) -> None:
    config = leak_config(tmp_path, ref_ingestor.url, plant_endpoint=plant_endpoint)
    fields = FIELDS if plant_endpoint else tuple(f for f in FIELDS if f != "Endpoint")
    text = run_cli("validate", "--config", str(config))
    assert text.returncode == 0, text.stdout + text.stderr
    assert "eu-lf_****" in text.stdout  # the planted values are there, masked
    as_json = run_cli("validate", "--json", "--config", str(config))
    assert as_json.returncode == 0, as_json.stderr
    json.loads(as_json.stdout)
    check = run_cli("check", "--timeout", "20", "--config", str(config))
    assert check.returncode == (1 if plant_endpoint else 0), check.stdout + check.stderr
    for proc in (text, as_json, check):
        assert_no_plant(proc.stdout + proc.stderr, fields)


def test_key_shaped_values_in_every_printable_field_never_appear_in_run_logs(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    config = leak_config(tmp_path, ref_ingestor.url, plant_endpoint=False)
    log_path = tmp_path / "run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "logflux_agent", "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        try:
            ref_ingestor.wait_for_entries(1, timeout=60)
            proc.send_signal(signal.SIGHUP)  # a reload logs the inputs again
            wait_until(lambda: b"reload.applied" in log_path.read_bytes(), 30, message="reload")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log_path.read_text(errors="replace")
    assert "agent.started" in output and "eu-lf_****" in output
    assert_no_plant(output, tuple(f for f in FIELDS if f != "Endpoint"))


def test_the_pat_hint_is_printed_as_written_and_the_token_masked(tmp_path: Path) -> None:
    pat = "eu-lf_usr_" + "PatS3cr3tT0k3n" * 2
    config = tmp_path / "agent.yaml"
    config.write_text(f"api_key: {pat}\ninputs: []\n")
    config.chmod(0o600)
    for command in ("validate", "check"):
        proc = run_cli(command, "--config", str(config))
        assert proc.returncode == 2
        assert "this is a Personal Access Token (lf_usr_…) for querying" in proc.stderr
        assert pat[len("eu-lf_usr_") : -4] not in proc.stdout + proc.stderr


# -- validate checks what would fail at run time -------------------------------------------


def minimal_config(tmp_path: Path, **doc: Any) -> Path:
    base: dict[str, Any] = {
        "api_key": "eu-lf_devingestor0local0key00001",
        "endpoint": "http://127.0.0.1:9",
        "state_dir": str(tmp_path / "state"),
        "inputs": [{"type": "file", "id": "app", "paths": [str(tmp_path / "logs" / "*.log")]}],
        "metrics": {"enabled": False},
    }
    base.update(doc)
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(base), encoding="utf-8")
    config.chmod(0o600)
    return config


def checks_of(tmp_path: Path, config: Path) -> tuple[int, dict[str, Any]]:
    proc = run_cli("validate", "--json", "--config", str(config))
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["exit_code"] == proc.returncode
    return proc.returncode, doc


def test_validate_warns_of_missing_input_paths_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "present.log").write_text("x\n")
    config = minimal_config(
        tmp_path,
        inputs=[
            {"type": "file", "id": "glob", "paths": [str(tmp_path / "logs" / "*.log")]},
            {"type": "file", "id": "later", "paths": [str(tmp_path / "later.log")]},
            {"type": "file", "id": "here", "paths": [str(tmp_path / "present.log")]},
        ],
    )
    code, doc = checks_of(tmp_path, config)
    assert code == 0
    found = {c["subject"]: c for c in doc["checks"]}
    assert found["input glob"]["status"] == "warning"
    assert f"directory {tmp_path / 'logs'} does not exist" in found["input glob"]["message"]
    assert found["input later"]["status"] == "warning"
    assert "does not exist yet: the agent waits for it" in found["input later"]["message"]
    assert found["input here"] == {
        "subject": "input here",
        "status": "ok",
        "message": f"{tmp_path / 'present.log'} is readable",
    }
    text = run_cli("validate", "--config", str(config)).stdout
    assert "  warning  input later: " in text and "checks (as " in text


def test_validate_warns_when_the_metrics_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = minimal_config(tmp_path, metrics={"enabled": True, "listen": f"127.0.0.1:{port}"})
        code, doc = checks_of(tmp_path, config)
    assert code == 0
    [metrics] = [c for c in doc["checks"] if c["subject"] == "metrics"]
    assert metrics["status"] == "warning" and "is in use" in metrics["message"]


def test_validate_fails_with_1_when_the_state_dir_cannot_be_used(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = minimal_config(tmp_path, state_dir=str(blocker / "state"))
    code, doc = checks_of(tmp_path, config)
    assert code == 1 and doc["ok"] is False
    [state] = [c for c in doc["checks"] if c["subject"] == "state_dir"]
    assert state["status"] == "error"
    assert f"{blocker} exists and is not a directory" in state["message"]
    assert not (blocker / "state").exists()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lf-validate-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="running validate as another user needs root and setpriv",
)
def test_validate_as_a_non_root_user_with_the_default_state_dir_says_how_to_fix_it(
    open_dir: Path,
) -> None:
    config = minimal_config(open_dir)
    doc = yaml.safe_load(config.read_text())
    del doc["state_dir"]
    config.write_text(yaml.safe_dump(doc))
    os.chown(config, 65534, 65534)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
         "logflux_agent", "validate", "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "checks (as user nobody, uid 65534):" in proc.stdout
    assert "error    state_dir: state_dir /var/lib/logflux-agent: permission denied" in proc.stdout
    assert "set state_dir: to a directory you own" in proc.stdout


def test_validate_shows_the_log_settings_run_applies_and_run_applies_them(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    config = minimal_config(
        tmp_path,
        endpoint=ref_ingestor.url,
        inputs=[{"type": "file", "id": "app", "paths": [str(log)]}],
        logging={"level": "error", "format": "console"},
    )
    flags = ["--log-level", "info", "--log-format", "json"]
    plain = run_cli("validate", "--config", str(config))
    assert "  logging        error, console\n" in plain.stdout
    shown = run_cli("validate", *flags, "--config", str(config))
    assert (
        "  logging        info, json (from --log-level info, --log-format json)\n" in shown.stdout
    )
    assert json.loads(run_cli("validate", "--json", *flags, "--config", str(config)).stdout)[
        "logging"
    ] == {"level": "info", "format": "json"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "logflux_agent", "--config", str(config), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # JSON, at info: what validate said
        assert first["level"] == "info"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


# -- demo ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [False, True], ids=["removed", "kept"])
def test_demo_points_at_its_folder_only_when_it_is_kept(keep: bool) -> None:
    args = ["demo", "--lines", "50", "--rate", "2000", *(["--keep"] if keep else [])]
    proc = run_cli(*args, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("  received entries")]
    if keep:
        path = Path(line.split()[-1])
        assert path.is_file() and path.parent.name.startswith("logflux-demo-")
        assert f"kept {path.parent}" in proc.stdout
        shutil.rmtree(path.parent)
    else:
        summary = proc.stdout[proc.stdout.index("\nsummary") :]
        assert "logflux-demo-" not in summary  # the folder is gone once the summary is read
        assert "--keep" in line
