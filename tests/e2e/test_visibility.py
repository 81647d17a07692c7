"""What an operator sees of a running agent: the start-up banner and stopped summary,
`logflux-agent status` (human and --json), /ready's JSON body, the freshness metrics, and
`reload: watch` picking up a conf.d fragment. Real agent subprocesses, real ingestor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.agentproc import AgentProcess, free_port
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logflux_agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def file_agent(tmp_path: Path, endpoint: str, api_key: str, **extra: Any) -> AgentProcess:
    log_dir = tmp_path / "logs"
    log_dir.mkdir(parents=True)
    return AgentProcess(
        tmp_path / "agent",
        endpoint=endpoint,
        api_key=api_key,
        inputs=[
            {"type": "file", "id": "app", "paths": [f"{log_dir}/*.log"], "start_at": "beginning"}
        ],
        extra=extra,
    )


def metrics_url(agent: AgentProcess) -> str:
    return f"http://127.0.0.1:{agent.metrics_port}"


def test_banner_names_what_the_agent_will_do_and_stopped_sums_it_up(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent = file_agent(tmp_path, ref_ingestor.url, ref_ingestor.api_key)
    log = tmp_path / "logs" / "a.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)))
    agent.start()
    try:
        started = agent.wait_for_event("agent.started")
        ref_ingestor.wait_for_entries(30)
        wait_until(
            lambda: '"read": 30' in get(metrics_url(agent) + "/status")[1].replace(",", ",\n"),
            message="status to show 30 read",
        )
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert started["config"] == str(agent.config_path)
    assert started["ingestor"] == ref_ingestor.url
    assert started["region"] == "eu"
    assert started["api_key"].endswith(ref_ingestor.api_key[-4:]) and "****" in started["api_key"]
    assert started["server_key"].startswith("not pinned")
    assert started["state_dir"] == str(agent.state_dir)
    assert started["metrics"] == metrics_url(agent)
    assert started["version"]
    (inp,) = started["inputs"]
    assert inp["id"] == "app" and inp["paths"] == [f"{tmp_path}/logs/*.log"]
    assert inp["files_matching"] == "1" and "on_full=block" in inp["processing"]
    stopped = agent.wait_for_event("agent.stopped")
    assert stopped["inputs"] == {"app": {"read": 30, "sent": 30, "dropped": 0}}
    assert stopped["exit_code"] == 0 and stopped["duration_seconds"] >= 0
    assert ref_ingestor.api_key not in agent.logs()


def test_status_shows_lag_unacked_age_and_why_the_sender_retries(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    ref_ingestor.faults(status=503, count=10**6)
    agent = file_agent(tmp_path, ref_ingestor.url, ref_ingestor.api_key)
    log = tmp_path / "logs" / "a.log"
    log.write_text("".join(f"entry number {i}\n" for i in range(40)))
    size = log.stat().st_size
    agent.start()
    try:
        agent.wait_for_event("session.ready")

        def status_json() -> dict[str, Any]:
            result = cli("status", "--config", str(agent.config_path), "--json")
            assert result.returncode == 0, result.stderr
            doc: dict[str, Any] = json.loads(result.stdout)
            return doc

        wait_until(
            lambda: status_json()["inputs"][0]["unacknowledged"] == 40,
            message="40 unacknowledged entries",
        )
        wait_until(lambda: "503" in str(status_json()["sender"]["retry"]), message="retry reason")
        doc = status_json()
        human = cli("status", "--config", str(agent.config_path))
        _, metrics = get(metrics_url(agent) + "/metrics")
        _, ready = get(metrics_url(agent) + "/ready")
    finally:
        agent.stop()
    (inp,) = doc["inputs"]
    assert inp["lag_bytes"] == size
    assert inp["files"] == [{"path": str(log), "lag_bytes": size, "size": size, "committed": 0}]
    assert inp["oldest_unacked_age_seconds"] > 0
    assert doc["sender"]["session_age_seconds"] is not None
    assert doc["last_accepted_timestamp"] is None
    assert human.returncode == 0, human.stderr
    out = human.stdout
    assert "app (file): read 40, acknowledged 0, unacknowledged 40 (oldest" in out
    assert f"lag: {size} B in 1 file(s) followed" in out and str(log) in out
    assert "state: retrying for" in out and "503" in out
    assert "last accepted: nothing yet" in out
    assert ref_ingestor.api_key not in out + human.stderr + json.dumps(doc)
    assert f'logflux_agent_file_lag_bytes{{input="app"}} {float(size)}' in metrics
    assert 'logflux_agent_oldest_unacked_age_seconds{input="app"}' in metrics
    assert "logflux_agent_last_accepted_timestamp_seconds 0.0" in metrics
    assert "_created" not in metrics
    assert json.loads(ready)["ready"] in (True, False)


def test_status_when_no_agent_runs_is_a_clear_error_exit_1(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "agent.yaml"
    # No api_key: status needs only the metrics section (the key may live in the unit's env).
    config.write_text(f'metrics:\n  listen: "127.0.0.1:{port}"\n')
    result = cli("status", "--config", str(config))
    assert result.returncode == 1
    assert f"no agent answers at http://127.0.0.1:{port} (metrics.listen from {config})" in (
        result.stderr
    )
    assert "is it running?" in result.stderr
    assert result.stdout == ""


def test_status_with_metrics_disabled_says_so(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("metrics:\n  enabled: false\n")
    result = cli("status", "--config", str(config))
    assert result.returncode == 1 and "metrics.enabled is false" in result.stderr


def test_ready_body_names_the_session_stage_while_the_ingestor_is_unreachable(
    tmp_path: Path,
) -> None:
    agent = file_agent(tmp_path, f"http://127.0.0.1:{free_port()}", "eu-lf_" + "T3stK3y" * 4)
    agent.start()
    try:
        agent.wait_for_event("session.start_failed")
        status, body = get(metrics_url(agent) + "/ready")
        _, metrics = get(metrics_url(agent) + "/metrics")
    finally:
        agent.stop()
    assert status == 503
    doc = json.loads(body)
    assert doc["ready"] is False and doc["stage"] == "session"
    assert doc["reason"].startswith("no session with the ingestor yet")
    for name in (
        "logflux_agent_read_to_accepted_seconds",
        "logflux_agent_oldest_unacked_age_seconds",
        "logflux_agent_file_lag_bytes",
        "logflux_agent_last_accepted_timestamp_seconds",
    ):
        assert f"# TYPE {name}" in metrics, name


def test_reload_watch_picks_up_a_new_fragment_and_rejects_a_broken_one(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent = file_agent(tmp_path, ref_ingestor.url, ref_ingestor.api_key, reload="watch")
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.log").write_text("from b 1\nfrom b 2\n")
    agent.start()
    try:
        agent.wait_for_event("session.ready")
        conf_d = agent.config_path.parent / "conf.d"
        conf_d.mkdir()
        fragment = conf_d / "10-b.yaml"
        fragment.write_text(
            "inputs:\n  - type: file\n    id: b\n"
            f"    paths: [{other}/*.log]\n    start_at: beginning\n"
        )
        applied = agent.wait_for_event("reload.applied")
        assert applied["added"] == ["b"]
        ref_ingestor.wait_for_entries(2)
        (conf_d / "20-bad.yaml").write_text("queue:\n  max_entries: lots\n")
        rejected = agent.wait_for_event("reload.rejected")
        assert agent.alive()
        (conf_d / "20-bad.yaml").unlink()
        # The main file replaced the way editors and config management do: rename over it.
        doc = dict(agent.doc)
        doc["inputs"] = [{**doc["inputs"][0], "labels": {"edited": "yes"}}]
        fresh = agent.config_path.with_name("agent.yaml.new")
        fresh.write_text(yaml.safe_dump(doc))
        os.chmod(fresh, 0o600)
        os.replace(fresh, agent.config_path)
        wait_until(
            lambda: any(
                e.get("event") == "reload.applied" and e.get("restarted") == ["app"]
                for e in agent.events()
            ),
            message="a reload restarting the edited input",
        )
    finally:
        agent.stop()
    assert any("20-bad.yaml:2:16: queue.max_entries" in p for p in rejected["problems"])
    assert sorted(e["payload"]["message"] for e in ref_ingestor.entries()) == [
        "from b 1",
        "from b 2",
    ]


def test_status_and_ready_say_why_sending_stopped_429_then_401(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    ref_ingestor.faults(status=429, retry_after=600, count=1)
    agent = file_agent(tmp_path, ref_ingestor.url, ref_ingestor.api_key)
    (tmp_path / "logs" / "a.log").write_text("one\ntwo\n")
    agent.start()
    try:
        agent.wait_for_event("ingest.rate_limited")
        human = cli("status", "--config", str(agent.config_path))
        assert human.returncode == 0, human.stderr
        assert "state: rate limited (429): paused for" in human.stdout
        assert "s more (until " in human.stdout and " UTC)" in human.stdout
    finally:
        agent.stop()

    ref_ingestor.reset()
    ref_ingestor.faults(status=401, count=10**6)
    agent = file_agent(tmp_path / "second", ref_ingestor.url, ref_ingestor.api_key)
    (tmp_path / "second" / "logs" / "a.log").write_text("three\n")
    agent.start()
    try:
        agent.wait_for_event("ingest.key_refused")
        status, body = get(metrics_url(agent) + "/ready")
        human = cli("status", "--config", str(agent.config_path))
    finally:
        agent.stop()
    assert status == 503
    doc = json.loads(body)
    assert doc["stage"] == "sender" and "refuses the API key" in doc["reason"]
    assert "state: 401: the ingestor refuses the API key" in human.stdout
    assert "ready: NO, blocked at sender" in human.stdout
    assert ref_ingestor.api_key not in human.stdout + body


def test_status_lists_an_input_problem_that_is_not_resolved(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    missing = tmp_path / "not-created-yet"
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[{"type": "file", "id": "late", "paths": [f"{missing}/*.log"]}],
    )
    agent.start()
    try:
        agent.wait_for_event("file.problem")
        doc = json.loads(get(metrics_url(agent) + "/status")[1])
        human = cli("status", "--config", str(agent.config_path))
    finally:
        agent.stop()
    (inp,) = doc["inputs"]
    assert inp["problems"] and str(missing) in inp["problems"][0]
    assert inp["last_error"] == inp["problems"][-1]
    assert f"    problem: {inp['problems'][0]}" in human.stdout
