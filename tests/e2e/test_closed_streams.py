"""A closed or stalled log stream never stops shipping or signal handling.

``logflux-agent --config X 2>&1 | head -5``: once ``head`` exits, every write to the agent's
stderr fails with EPIPE. These tests give the real agent a real pipe whose reader is gone (or
never reads), then check that entries still arrive, that SIGTERM/SIGINT drain and exit 0, that
a second signal exits at once, and that the lost log lines are counted.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agentproc import AgentProcess
from tests.support.e2e import metric, write_lines
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

DROPPED = "logflux_agent_log_lines_dropped_total"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LOGFLUX_API_KEY", None)
    return env


def _command(agent: AgentProcess, *args: str) -> list[str]:
    return [sys.executable, "-m", "logflux_agent", "--config", str(agent.config_path), *args]


def start_with_closed_pipe(
    agent: AgentProcess, *args: str, stdin: object = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """stdout and stderr go to a pipe whose read end is already closed (head has exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.Popen(
            _command(agent, *args), stdin=stdin, stdout=write_end, stderr=write_end, env=_env()
        )
    finally:
        os.close(write_end)


def start_like_head(agent: AgentProcess, lines: int) -> subprocess.Popen[bytes]:
    """``agent 2>&1 | head -N``: read N lines of its output, then close the pipe."""
    proc = subprocess.Popen(
        _command(agent),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(),
    )
    assert proc.stdout is not None
    for _ in range(lines):
        assert proc.stdout.readline(), "the agent closed its output before the head read it"
    proc.stdout.close()
    return proc


def start_with_stalled_pipe(agent: AgentProcess) -> tuple[subprocess.Popen[bytes], int]:
    """stderr goes to a pipe that is already full and is never read (a stalled log reader)."""
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(write_end, fcntl.F_GETFL)
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while True:
            os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags)  # the agent gets a blocking descriptor
    try:
        proc = subprocess.Popen(
            _command(agent),
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=write_end,
            env=_env(),
        )
    finally:
        os.close(write_end)
    return proc, read_end


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def file_agent(tmp_path: Path, ingestor: RefIngestor, **extra: object) -> AgentProcess:
    log = tmp_path / "app.log"
    log.touch()
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=[{"type": "file", "id": "app", "paths": [str(log)], "start_at": "beginning"}],
        extra={"logging": {"level": "debug", "format": "json"}, **extra},
    )


def exit_code(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the agent (pid {proc.pid}) did not exit within {timeout}s") from None


@pytest.mark.parametrize("closed", ["before_start", "after_head_read_5_lines"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_with_its_log_pipe_closed_the_agent_ships_then_drains_and_exits_0_on_a_signal(
    tmp_path: Path,
    ref_ingestor: RefIngestor,
    procs: list[subprocess.Popen[bytes]],
    closed: str,
    sig: signal.Signals,
) -> None:
    agent = file_agent(tmp_path, ref_ingestor)
    closed_early = closed == "before_start"
    proc = start_with_closed_pipe(agent) if closed_early else start_like_head(agent, 5)
    procs.append(proc)
    agent.proc = proc
    written = write_lines(tmp_path / "app.log", "closed", 200)
    ref_ingestor.wait_for_entries(200, timeout=60)
    # A reload logs (reload.applied): with the pipe closed, those lines are dropped and counted.
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: metric(agent, DROPPED) > 0, 30, message="dropped log lines counted")
    assert proc.poll() is None
    more = write_lines(tmp_path / "app.log", "closed", 100, start=200)
    ref_ingestor.wait_for_entries(300, timeout=60)
    proc.send_signal(sig)
    assert exit_code(proc, 30) == 0
    ref_ingestor.verify({str(tmp_path / "app.log"): written + more})
    checkpoints = agent.checkpoints()
    assert checkpoints, "the drain wrote no checkpoint"
    offsets = [int(s.get("offset", 0)) for s in checkpoints.values()]
    assert max(offsets) == (tmp_path / "app.log").stat().st_size


def test_with_its_log_pipe_closed_a_second_signal_exits_at_once_with_130(
    tmp_path: Path, ref_ingestor: RefIngestor, procs: list[subprocess.Popen[bytes]]
) -> None:
    agent = file_agent(tmp_path, ref_ingestor, sender={"shutdown_timeout": 120})
    proc = start_with_closed_pipe(agent)
    procs.append(proc)
    agent.proc = proc
    write_lines(tmp_path / "app.log", "first", 10)
    ref_ingestor.wait_for_entries(10, timeout=60)
    ref_ingestor.faults(status=503, count=10**6)  # the drain cannot finish by itself
    write_lines(tmp_path / "app.log", "stuck", 10)
    wait_until(lambda: metric(agent, "logflux_agent_send_failures_total") > 0, 30, message="503s")
    proc.send_signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=2)  # still draining: the first signal does not exit at once
    proc.send_signal(signal.SIGTERM)
    assert exit_code(proc, 10) == 130


def test_with_its_log_pipe_full_and_never_read_the_agent_ships_and_exits_on_sigterm(
    tmp_path: Path, ref_ingestor: RefIngestor, procs: list[subprocess.Popen[bytes]]
) -> None:
    agent = file_agent(tmp_path, ref_ingestor)
    proc, read_end = start_with_stalled_pipe(agent)
    procs.append(proc)
    agent.proc = proc
    try:
        written = write_lines(tmp_path / "app.log", "stalled", 500)
        ref_ingestor.wait_for_entries(500, timeout=60)
        wait_until(lambda: metric(agent, "logflux_agent_entries_sent_total") >= 500, 30)
        proc.send_signal(signal.SIGTERM)
        assert exit_code(proc, 30) == 0
    finally:
        os.close(read_end)
    ref_ingestor.verify({str(tmp_path / "app.log"): written})


def test_a_stdin_upload_with_its_log_pipe_closed_delivers_everything_and_exits_0(
    tmp_path: Path, ref_ingestor: RefIngestor, procs: list[subprocess.Popen[bytes]]
) -> None:
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[],
        metrics=False,
    )
    data = tmp_path / "input.txt"
    lines = [f"stdin-{i:05d}" for i in range(300)]
    data.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with open(data, "rb") as stdin:
        proc = start_with_closed_pipe(agent, "--stdin", stdin=stdin)
    procs.append(proc)
    assert exit_code(proc, 60) == 0
    ref_ingestor.verify({"stdin": lines})


def test_a_stdin_upload_of_nothing_with_its_log_pipe_closed_exits_0(
    tmp_path: Path, ref_ingestor: RefIngestor, procs: list[subprocess.Popen[bytes]]
) -> None:
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[],
        metrics=False,
    )
    proc = start_with_closed_pipe(agent, "--stdin")
    procs.append(proc)
    assert exit_code(proc, 60) == 0


@pytest.mark.parametrize("command", ["validate", "check"])
def test_a_command_printing_into_a_closed_pipe_prints_no_traceback_and_keeps_its_exit_code(
    tmp_path: Path, ref_ingestor: RefIngestor, command: str
) -> None:
    agent = file_agent(tmp_path, ref_ingestor)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "logflux_agent", command, "--config", str(agent.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=_env(),
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    stderr = proc.stderr.decode()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert proc.returncode == 0, stderr


def test_validate_piped_into_head_1_prints_its_first_line_and_no_traceback(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent = file_agent(tmp_path, ref_ingestor)
    proc = subprocess.run(
        f"{sys.executable} -m logflux_agent validate --config {agent.config_path} | head -1",
        shell=True,
        capture_output=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert proc.stdout.decode().startswith("configuration "), proc.stdout
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr, proc.stderr
