"""`logflux-agent validate` as a real subprocess: summary and exit 0, or every problem and exit 2;
the full API key never appears in its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "agent.yaml.example"
KEY = "eu-lf_" + "Val1dat3S3cr3t" * 3


def run_validate(
    config: Path, env_extra: dict[str, str] | None = None, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "logflux_agent", "validate", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def assert_key_hidden(proc: subprocess.CompletedProcess[str], key: str = KEY) -> None:
    for stream in (proc.stdout, proc.stderr):
        assert key not in stream
        assert key[6:] not in stream  # not even without its prefix
        assert key[-12:] not in stream


def test_the_example_config_validates() -> None:
    proc = run_validate(EXAMPLE, {"LOGFLUX_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"configuration {EXAMPLE}: OK\n")
    assert "eu-lf_****" + KEY[-4:] in out
    assert "regional key, region eu; from environment variable LOGFLUX_API_KEY" in out
    assert "static discovery for region eu" in out
    assert "state_dir      /var/lib/logflux-agent" in out
    assert "- file 'app': paths /var/log/*.log" in out
    assert "batches ≤ 1000 entries / 4 MiB" in out
    assert "≤ 20000 entries / 32 MiB" in out
    assert "http://127.0.0.1:9102/metrics" in out
    assert "warnings:" not in out
    assert proc.stderr == ""
    assert_key_hidden(proc)


def test_the_example_without_a_key_is_an_error() -> None:
    proc = run_validate(EXAMPLE)
    assert proc.returncode == 2
    assert "environment variable LOGFLUX_API_KEY is not set" in proc.stderr
    assert proc.stdout == ""


def test_summary_modes_overrides_and_warnings(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(f"""\
api_key: {KEY}
endpoint: http://127.0.0.1:9/
labels: {{team: payments}}
inputs:
  - type: journald
    id: system
    units: [sshd.service]
    priority: info
  - type: stdin
""")
    config.chmod(0o644)
    proc = run_validate(config, {"LOGFLUX_BATCH_SIZE": "50", "LOGFLUX_MAX_RETRIES": "3"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "custom endpoint http://127.0.0.1:9 (no discovery)" in out
    assert "- journald 'system': start_at end; units sshd.service; priority ≤ 6 (info)" in out
    assert "- stdin 'stdin'" in out
    assert "labels         team=payments" in out
    assert "batches ≤ 50 entries" in out
    assert "LOGFLUX_BATCH_SIZE → sender.batch_max_entries" in out
    assert "no effect      LOGFLUX_MAX_RETRIES" in out
    assert "warnings:\n" in out and "chmod 600" in out and "mode 0644" in out
    assert_key_hidden(proc)


def test_legacy_key_says_authenticated_discovery(tmp_path: Path) -> None:
    legacy = "lf_" + "L3gacyS3cr3tK3y" * 2
    config = tmp_path / "agent.yaml"
    config.write_text(f"api_key: {legacy}\ninputs: []\n")
    config.chmod(0o600)
    proc = run_validate(config)
    assert proc.returncode == 0, proc.stderr
    assert "legacy key, no region" in proc.stdout
    assert "authenticated discovery (legacy key without region" in proc.stdout
    assert "none (the agent then only runs with --stdin)" in proc.stdout
    assert_key_hidden(proc, legacy)


BAD = f"""\
api_key: {KEY}
region: EU
inputs:
  - type: file
    id: app
    paths: /var/log/app.log
    start_at: middle
  - type: file
    id: app
    paths: ["/b.log"]
sender:
  max_in_flight: 0
  batch_size: 10
metrics:
  listen: "9102"
labels: {{node: web, {KEY}: 1}}
"""


def test_a_bad_file_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD)
    config.chmod(0o600)
    proc = run_validate(config, {"LOGFLUX_QUEUE_SIZE": "lots"})
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == f"logflux-agent validate: {config}: 10 problems:"
    expected = [
        f"{config}:2:9: region: ",
        f"{config}:6:12: inputs[0].paths: ",
        f"{config}:7:15: inputs[0].start_at: ",
        f"{config}:9:9: inputs[1].id: duplicate input id 'app'",
        f"{config}:12:18: sender.max_in_flight: ",
        f"{config}:13:3: sender.batch_size: unknown key",
        f"{config}:15:11: metrics.listen: ",
        f"{config}:16:10: labels.node: ",
        f"{config}:16:",  # the key pasted as a label name: masked in the path
        "environment variable LOGFLUX_QUEUE_SIZE: expected an integer, got 'lots'",
    ]
    assert len(lines) == 1 + len(expected)
    for line, start in zip(lines[1:], expected, strict=True):
        assert line.startswith("  - " + start), (line, start)
    assert_key_hidden(proc)


@pytest.mark.parametrize(
    ("key", "expect"),
    [
        ("eu-lf_usr_" + "PatS3cr3t" * 3, "Personal Access Token"),
        (" " + KEY, "leading or trailing whitespace"),
    ],
)
def test_bad_keys_are_explained_and_never_shown(tmp_path: Path, key: str, expect: str) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("inputs: []\n")
    proc = run_validate(config, {"LOGFLUX_API_KEY": key})
    assert proc.returncode == 2
    assert expect in proc.stderr
    assert_key_hidden(proc, key.strip())


def test_missing_file_is_a_config_error() -> None:
    proc = run_validate(Path("/nonexistent/agent.yaml"))
    assert proc.returncode == 2
    assert "/nonexistent/agent.yaml: cannot read the configuration file" in proc.stderr
