"""The command line as an operator meets it, as subprocesses: -V, per-command help, shell
completion, the man page, and the one-shot `--stdin` upload (final line, progress, no config
file with --endpoint / --api-key-file / LOGFLUX_API_KEY)."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from logflux_agent import __version__
from logflux_agent.cli import build_parser
from logflux_agent.commands.completion import commands_and_options
from tests.support.agentproc import AgentProcess, free_port
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
MAN_PAGE = ROOT / "packaging" / "man" / "logflux-agent.1"
AGENT = (sys.executable, "-m", "logflux_agent")


def cli(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "LOGFLUX_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "logflux_agent", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        cwd=cwd,
    )


# ---- version and help -----------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_short_and_long_version_flags_print_the_version(flag: str) -> None:
    result = cli(flag)
    assert result.returncode == 0
    assert result.stdout.strip() == f"logflux-agent {__version__}"


def test_each_command_help_lists_only_its_own_options() -> None:
    version = cli("version", "--help").stdout
    assert "--config" not in version and "--log-level" not in version
    status = cli("status", "--help").stdout
    assert "--config" in status and "--json" in status and "--log-level" not in status
    demo = cli("demo", "--help").stdout
    assert "--keep" in demo and "--config" not in demo
    completion = cli("completion", "--help").stdout
    assert "{bash,zsh}" in completion and "--config" not in completion
    run = cli("run", "--help").stdout
    for option in ("--config", "--stdin", "--progress", "--endpoint", "--api-key-file"):
        assert option in run, option
    validate = cli("validate", "--help").stdout
    assert "--config" in validate and "--stdin" not in validate


def test_version_refuses_an_option_that_does_not_apply() -> None:
    result = cli("version", "--config", "x.yaml")
    assert result.returncode == 2 and "unrecognized arguments: --config" in result.stderr


# ---- completion and man page ----------------------------------------------------------------


def test_bash_completion_is_valid_bash_and_names_every_command_and_option() -> None:
    result = cli("completion", "bash")
    assert result.returncode == 0
    script = result.stdout
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    for name, actions in commands_and_options(build_parser()).items():
        if name:
            assert re.search(rf"\b{re.escape(name)}\b", script), name
        for action in actions:
            for option in action.option_strings:
                assert option in script, option
    assert "complete -F _logflux_agent logflux-agent" in script


def test_bash_completion_completes_commands_and_per_command_options(tmp_path: Path) -> None:
    script = tmp_path / "completion.bash"
    script.write_text(cli("completion", "bash").stdout)

    def complete(*words: str) -> list[str]:
        probe = (
            f"source {script}\n"
            f"COMP_WORDS=(logflux-agent {' '.join(words)})\n"
            f"COMP_CWORD={len(words)}\n"
            "_logflux_agent\n"
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
        return out.stdout.split()

    assert "status" in complete("st")
    assert complete("status", "--j") == ["--json"]
    assert complete("version", "--c") == []
    assert complete("--log-level", "w") == ["warning"]


def test_zsh_completion_names_every_command() -> None:
    result = cli("completion", "zsh")
    assert result.returncode == 0 and result.stdout.startswith("#compdef logflux-agent")
    for name in commands_and_options(build_parser()):
        if name:
            assert f"'{name}:" in result.stdout, name
    if shutil.which("zsh"):
        checked = subprocess.run(["zsh", "-n"], input=result.stdout, text=True)
        assert checked.returncode == 0


def test_man_page_documents_every_command_and_option() -> None:
    # roff writes "-" as "\-": compare with those escapes removed.
    text = MAN_PAGE.read_text().replace("\\-", "-")
    missing = []
    for name, actions in commands_and_options(build_parser()).items():
        # Each command is a .TP item of COMMANDS: ".B name" or ".BI "name ...".
        if name and not re.search(rf'^\.BI? "?{re.escape(name)}\b', text, re.M):
            missing.append(name)
        for action in actions:
            missing.extend(o for o in action.option_strings if o not in text)
    assert not missing


def test_man_page_renders_without_warnings() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff not installed: the man page cannot be rendered")
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", str(MAN_PAGE)], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "logflux-agent status" in result.stdout


# ---- one-shot --stdin -----------------------------------------------------------------------


def lines(n: int) -> str:
    return "".join(f"one-shot {i}\n" for i in range(n))


def stdin_agent(tmp_path: Path, ingestor: RefIngestor, **extra: object) -> AgentProcess:
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=[],
        extra=dict(extra),
        metrics=False,
    )


def test_stdin_upload_prints_the_final_line_and_no_progress_when_not_a_terminal(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent = stdin_agent(tmp_path, ref_ingestor)
    result = cli("--config", str(agent.config_path), "--stdin", stdin=lines(120))
    assert result.returncode == 0, result.stderr
    assert "delivered 120 entries, 0 duplicates possible, 0 undelivered" in result.stderr
    assert "progress:" not in result.stderr and "\r" not in result.stderr
    ref_ingestor.verify({"stdin": [f"one-shot {i}" for i in range(120)]})


def test_stdin_upload_with_the_ingestor_down_says_how_many_were_not_delivered(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    ref_ingestor.faults(status=503, count=10**6)
    agent = stdin_agent(tmp_path, ref_ingestor, sender={"shutdown_timeout": 1})
    result = cli("--config", str(agent.config_path), "--stdin", stdin=lines(25))
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith(
        "delivered 0 entries, 0 duplicates possible, 25 undelivered"
    )


def test_progress_flag_shows_progress_on_a_pipe(tmp_path: Path, ref_ingestor: RefIngestor) -> None:
    agent = stdin_agent(tmp_path, ref_ingestor)
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as sink:
        proc = subprocess.Popen(
            [*AGENT, "-c", str(agent.config_path), "--stdin", "--progress"],
            stdin=subprocess.PIPE,
            stderr=sink,
            stdout=subprocess.DEVNULL,
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write(lines(10).encode())
            proc.stdin.flush()
            wait_until(
                lambda: "progress: read 10, accepted 10" in err.read_text(),
                message="a progress line",
            )
            proc.stdin.close()
            assert proc.wait(timeout=60) == 0
        finally:
            proc.kill()
    assert "delivered 10 entries" in err.read_text()


def test_progress_is_redrawn_in_place_on_a_terminal(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent = stdin_agent(tmp_path, ref_ingestor, logging={"level": "warning", "format": "json"})
    master, slave = pty.openpty()
    seen = bytearray()

    def drain() -> str:
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            seen.extend(chunk)
        return seen.decode(errors="replace")

    proc = subprocess.Popen(
        [*AGENT, "-c", str(agent.config_path), "--stdin"],
        stdin=subprocess.PIPE,
        stderr=slave,
        stdout=subprocess.DEVNULL,
    )
    os.close(slave)
    assert proc.stdin is not None
    try:
        proc.stdin.write(lines(6).encode())
        proc.stdin.flush()
        wait_until(lambda: "read 6, accepted 6" in drain(), message="progress on the terminal")
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        wait_until(lambda: "delivered 6 entries" in drain(), message="the final line")
    finally:
        proc.kill()
        os.close(master)
    text = seen.decode(errors="replace")
    assert "\r\x1b[Kread 6, accepted 6" in text
    assert "progress:" not in text


def test_stdin_without_a_config_file_with_endpoint_and_api_key_file(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(ref_ingestor.api_key + "\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    result = cli(
        "--stdin",
        "--endpoint",
        ref_ingestor.url,
        "--api-key-file",
        str(key_file),
        stdin=lines(7),
        # The command line wins over the environment's key.
        env={"LOGFLUX_API_KEY": "eu-lf_" + "wrongKey" * 4, "TMPDIR": str(temp)},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "delivered 7 entries, 0 duplicates possible, 0 undelivered" in result.stderr
    ref_ingestor.verify({"stdin": [f"one-shot {i}" for i in range(7)]})
    assert ref_ingestor.api_key not in result.stderr + result.stdout
    # Its private state directory is gone, nothing was left in the working directory.
    assert list(temp.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ingestor", "key.txt", "tmp"]


def test_stdin_without_a_config_file_with_the_key_in_the_environment(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    result = cli(
        "--stdin",
        "--endpoint",
        ref_ingestor.url,
        stdin=lines(3),
        env={"LOGFLUX_API_KEY": ref_ingestor.api_key},
    )
    assert result.returncode == 0, result.stderr
    assert "delivered 3 entries" in result.stderr


def test_stdin_without_any_key_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("--stdin", "--endpoint", f"http://127.0.0.1:{free_port()}", stdin="x\n")
    assert result.returncode == 2
    assert "no API key: pass --api-key-file FILE, set LOGFLUX_API_KEY" in result.stderr


def test_endpoint_flag_overrides_the_file(tmp_path: Path, ref_ingestor: RefIngestor) -> None:
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        api_key=ref_ingestor.api_key,
        inputs=[],
        metrics=False,
    )
    result = cli(
        "-c", str(agent.config_path), "--stdin", "--endpoint", ref_ingestor.url, stdin=lines(4)
    )
    assert result.returncode == 0, result.stderr
    assert "delivered 4 entries" in result.stderr
