"""The one-shot upload (``producer | logflux-agent --stdin``): config from the command line,
progress on a terminal, and the final line.

Without ``--config``, ``--endpoint`` / ``--api-key-file`` (or no readable file at the default
path and ``LOGFLUX_API_KEY`` set) make a configuration from the command line alone: the key (the
environment beats nothing, ``--api-key-file`` beats the environment), the endpoint or
discovery from the key's region, metrics off (a daemon on the same host owns the port) and a
private temporary state directory, removed at exit unless it holds dead-lettered entries.

Progress (entries read, accepted, rate) is redrawn on stderr about twice a second when stderr
is a terminal, or always with ``--progress``. The final line is printed whatever happens:
``delivered N entries, M duplicates possible, K undelivered``. "Duplicates possible" counts
entries sent again after a request whose outcome is unknown (timeout, connection lost after
sending): the ingestor may have stored them twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from logflux_agent.config.env import API_KEY_VAR
from logflux_agent.config.model import AgentConfig, StdinInputConfig
from logflux_agent.errors import ConfigError
from logflux_agent.observe.logging import flush as flush_logs
from logflux_agent.observe.logsink import TolerantStream

if TYPE_CHECKING:
    from logflux_agent.supervisor import Supervisor

PROGRESS_INTERVAL = 0.5


def command_line_only(args: argparse.Namespace) -> bool:
    """True when no file is to be read: the one-shot case without ``--config``."""
    if getattr(args, "config_given", True) or not getattr(args, "stdin", False):
        return False
    if getattr(args, "endpoint", None) or getattr(args, "api_key_file", None):
        return True
    # The default file absent, or root's 0600 file read by a user: the environment's key.
    return not os.access(args.config, os.R_OK) and bool(os.environ.get(API_KEY_VAR))


def config_from_command_line(args: argparse.Namespace) -> tuple[AgentConfig, str]:
    """The configuration, and the temporary state directory it uses (the caller removes it)."""
    import yaml

    from logflux_agent.config.load import load_config_text

    if not getattr(args, "api_key_file", None) and not os.environ.get(API_KEY_VAR):
        raise ConfigError(
            f"no configuration file ({args.config} is not used) and no API key: pass "
            f"--api-key-file FILE, set {API_KEY_VAR}, or use --config FILE"
        )
    state_dir = tempfile.mkdtemp(prefix="logflux-agent-oneshot-")
    doc: dict[str, Any] = {
        "state_dir": state_dir,
        "metrics": {"enabled": False},
        "inputs": [{"type": "stdin"}],
    }
    spool_dir = spool_directory(args)
    if spool_dir is not None:  # outside the temporary state directory: it outlives the run
        doc["inputs"] = [{"type": "stdin", "spool": {"directory": spool_dir}}]
    if args.endpoint:
        doc["endpoint"] = args.endpoint
    if args.api_key_file:
        doc["api_key_file"] = args.api_key_file
    # Values are literal: no ${...} interpolation of what the command line said.
    text = yaml.safe_dump(doc).replace("${", "$${")
    environ = dict(os.environ)
    if args.api_key_file:
        environ.pop(API_KEY_VAR, None)  # the command line beats the environment
    try:
        config = load_config_text(text, "(command line)", environ)
        if getattr(args, "wait_delivered", False):
            config = _wait_delivered(config)
        return config, state_dir
    except BaseException:
        shutil.rmtree(state_dir, ignore_errors=True)
        raise


def apply_overrides(config: AgentConfig, args: argparse.Namespace) -> AgentConfig:
    """``--endpoint`` and ``--api-key-file`` over a loaded file (the command line wins)."""
    from logflux_agent.config.model import Invalid, check_endpoint
    from logflux_agent.credentials import parse_api_key
    from logflux_agent.errors import CredentialError

    if getattr(args, "endpoint", None):
        try:
            config = replace(config, endpoint=check_endpoint(args.endpoint))
        except Invalid as exc:
            raise ConfigError(f"--endpoint: {exc}") from None
    if getattr(args, "api_key_file", None):
        try:
            with open(args.api_key_file, encoding="utf-8") as fh:
                raw = fh.read(65_537).removesuffix("\n").removesuffix("\r")
            config = replace(config, api_key=parse_api_key(raw))
        except OSError as exc:
            raise ConfigError(
                f"--api-key-file: cannot read {args.api_key_file!r}: {exc.strerror}"
            ) from None
        except (CredentialError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--api-key-file {args.api_key_file}: {exc}") from None
    spool_dir = spool_directory(args)
    if spool_dir is not None:
        config = _stdin_spool(config, spool_dir)
    if getattr(args, "wait_delivered", False):
        config = _wait_delivered(config)
    return config


def spool_directory(args: argparse.Namespace) -> str | None:
    """``--spool [DIR]``: the one-shot's spool directory (``$XDG_STATE_HOME/logflux-agent/spool``
    when no DIR is given), or None without the flag. Refused without ``--stdin``."""
    given: str | None = getattr(args, "spool", None)
    if given is None:
        return None
    if not getattr(args, "stdin", False):
        raise ConfigError("--spool: only with --stdin (other inputs set `spool:` in the file)")
    if given:
        return os.path.abspath(os.path.expanduser(given))
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "logflux-agent", "spool")


def _stdin_spool(config: AgentConfig, directory: str) -> AgentConfig:
    """``--spool`` with ``--config``: standard input spools to ``directory`` (added as an
    input when the file has none), with the file's other spool settings if it has any."""
    from logflux_agent.config.spool import SpoolConfig

    def spooled(cfg: StdinInputConfig) -> StdinInputConfig:
        base = cfg.spool or config.spool or SpoolConfig()
        return replace(cfg, spool=replace(base, enabled=True, directory=directory))

    inputs = list(config.inputs)
    if not any(isinstance(c, StdinInputConfig) for c in inputs):
        inputs.append(StdinInputConfig())
    return replace(
        config,
        inputs=tuple(spooled(c) if isinstance(c, StdinInputConfig) else c for c in inputs),
    )


def _wait_delivered(config: AgentConfig) -> AgentConfig:
    """``--wait-delivered``: every spool waits at exit until its requests were accepted."""

    def waiting(spool: Any) -> Any:
        return None if spool is None else replace(spool, wait_delivered=True)

    inputs = tuple(
        replace(c, spool=waiting(own)) if (own := getattr(c, "spool", None)) is not None else c
        for c in config.inputs
    )
    return replace(config, spool=waiting(config.spool), inputs=inputs)


def stdin_id(config: AgentConfig) -> str | None:
    return next((c.id for c in config.inputs if isinstance(c, StdinInputConfig)), None)


def _counts(sup: Supervisor, input_id: str) -> tuple[int, int, int]:
    tracker = sup.tracker
    read = tracker.emitted_total.get(input_id, 0)
    resolved = tracker.resolved.get(input_id, 0)
    return read, resolved, tracker.unresolved(input_id)


def _dead_lettered() -> int:
    from logflux_agent.observe import metrics

    total = 0
    for family in metrics.DEAD_LETTERED.collect():
        total += int(sum(s.value for s in family.samples if s.name.endswith("_total")))
    return total


async def _show_progress(sup: Supervisor, input_id: str, out: TolerantStream) -> None:
    # A terminal gets one line redrawn in place; a file or pipe (--progress) a line per tick,
    # less often.
    tty = out.isatty()
    started = time.monotonic()
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL if tty else PROGRESS_INTERVAL * 4)
        read, accepted, _ = _counts(sup, input_id)
        rate = accepted / max(1e-6, time.monotonic() - started)
        text = f"read {read}, accepted {accepted}, {rate:,.0f} entries/s"
        out.write(f"\r\033[K{text}" if tty else f"progress: {text}\n")
        out.flush()


async def run_one_shot(sup: Supervisor, config: AgentConfig, args: argparse.Namespace) -> int:
    """Run the supervisor; progress while it runs, the final line after."""
    input_id = stdin_id(config)
    # The final line must not turn a delivered upload into a traceback when stderr is gone.
    out = TolerantStream(sys.stderr)
    show = input_id is not None and (getattr(args, "progress", False) or out.isatty())
    try:
        try:
            # The progress line lives exactly as long as the run: a task of this coroutine.
            async with asyncio.TaskGroup() as tg:
                progress = (
                    tg.create_task(_show_progress(sup, input_id, out), name="progress")
                    if show and input_id is not None
                    else None
                )
                try:
                    return await _supervise(sup)
                finally:
                    if progress is not None:
                        progress.cancel()
        except BaseExceptionGroup as group:  # the run's own error (exit code), as itself
            raise group.exceptions[0] from None
    finally:
        if show and out.isatty():
            out.write("\r\033[K")
        if input_id is not None:
            # The agent's own log lines go through a buffered sink: let them out first, so the
            # final line is the last thing on stderr (bounded: a stalled reader costs 2 s).
            flush_logs()
            out.write(final_line(sup, input_id) + "\n")
            out.flush()


async def _supervise(sup: Supervisor) -> int:
    code = int(await sup.run())
    sink = getattr(sup, "spool", None)
    if code == 0 and sink is not None and sink.wait_delivered and sink.spool.pending_requests:
        code = 1  # --wait-delivered, but the spool was not drained in time
    return code


def final_line(sup: Supervisor, input_id: str) -> str:
    _, resolved, unresolved = _counts(sup, input_id)
    dead = min(resolved, _dead_lettered())
    resent = sup.client.resent_entries if sup.client is not None else 0
    line = (
        f"delivered {resolved - dead} entries, {resent} duplicates possible, "
        f"{unresolved + dead} undelivered"
    )
    if dead:
        line += f" ({dead} in the dead-letter file of {sup.config.state_dir})"
    sink = getattr(sup, "spool", None)
    if sink is not None:  # "delivered" then means accepted or durably spooled
        line += (
            f"; spool: {sink.spooled_entries} entries spooled, "
            f"{sink.replayer.replayed_entries} of them accepted this run, "
            f"{sink.spool.pending_requests} request(s) waiting in {sink.spool.directory}"
        )
    return line


def remove_state_dir(path: str | None) -> None:
    """Remove the one-shot state directory, unless it keeps dead-lettered entries."""
    if path is None:
        return
    if any(name.startswith("dead-letter") for name in os.listdir(path)):
        print(
            f"logflux-agent: dead-lettered entries kept in {path}", file=TolerantStream(sys.stderr)
        )
        return
    shutil.rmtree(path, ignore_errors=True)
