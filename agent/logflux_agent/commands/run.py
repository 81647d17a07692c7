"""`logflux-agent [run] [--config FILE] [--stdin]`: run the agent in the foreground.

The one-shot upload's extras (config from the command line, progress, final line) are in
``oneshot.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logflux_agent.config.model import AgentConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stdin",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also read standard input (a one-shot upload when it is the only "
        "input: the agent exits once every line was accepted)",
    )
    parser.add_argument(
        "--wait-delivered",
        action="store_true",
        default=argparse.SUPPRESS,
        help="with --stdin and a spool: exit only once spooled lines were accepted (up to "
        "sender.shutdown_timeout), not as soon as they are durably spooled",
    )
    parser.add_argument(
        "--spool",
        metavar="DIR",
        nargs="?",
        const="",
        default=argparse.SUPPRESS,
        help="with --stdin: spool what the ingestor does not take yet to DIR (default "
        "$XDG_STATE_HOME/logflux-agent/spool), sent by the next run using it; exit 0 once "
        "every line is accepted or durably spooled",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        default=argparse.SUPPRESS,
        help="with --stdin: show progress on stderr even when it is not a terminal",
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="the ingestor base URL (skips discovery); overrides the file's endpoint",
    )
    parser.add_argument(
        "--api-key-file",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="read the API key from FILE; overrides the file and LOGFLUX_API_KEY. With "
        "--stdin and no --config, no configuration file is needed",
    )


def logging_settings(args: argparse.Namespace, config: AgentConfig) -> tuple[str, str]:
    """The log level and format ``run`` uses: a command-line flag wins over the file (and
    ``validate`` shows the same)."""
    level = getattr(args, "log_level", None) or config.logging.level
    fmt = getattr(args, "log_format", None) or config.logging.format
    return level, fmt


def main(args: argparse.Namespace) -> int:
    import asyncio
    from dataclasses import replace

    import structlog

    from logflux_agent import statedir
    from logflux_agent.commands import oneshot
    from logflux_agent.config.load import load_config
    from logflux_agent.config.model import StdinInputConfig
    from logflux_agent.errors import AgentError, ConfigError
    from logflux_agent.observe.logging import configure_logging
    from logflux_agent.observe.logsink import TolerantStream
    from logflux_agent.supervisor import Supervisor

    for name in ("endpoint", "api_key_file"):
        setattr(args, name, getattr(args, name, None))
    # Logging first, so warnings the loader emits (file permissions, env) are rendered like
    # every other line; the config's own logging section applies right after.
    configure_logging(args.log_level or "info", args.log_format or "auto")
    err = TolerantStream(sys.stderr)  # a closed stderr must not turn an error into a traceback
    temp_state: str | None = None
    config_path: str | None = args.config
    try:
        if oneshot.command_line_only(args):
            config, temp_state = oneshot.config_from_command_line(args)
            config_path = None
        else:
            config = oneshot.apply_overrides(load_config(args.config), args)
    except ConfigError as exc:
        print(exc.report("logflux-agent", args.config), file=err)
        return exc.exit_code
    try:
        if getattr(args, "stdin", False) and not any(
            isinstance(c, StdinInputConfig) for c in config.inputs
        ):
            config = replace(config, inputs=(*config.inputs, StdinInputConfig()))
        if not config.inputs:
            print(
                f"logflux-agent: {args.config} defines no inputs (add an `inputs:` list, "
                "or pass --stdin)",
                file=err,
            )
            return ConfigError.exit_code
        configure_logging(*logging_settings(args, config))
        supervisor = Supervisor(config, config_path=config_path, reload_loader=load_config)
        held: int | None = None
        try:
            # One agent per state_dir, held until it exits (statedir.py says why).
            held = statedir.hold(config.state_dir)
            return asyncio.run(oneshot.run_one_shot(supervisor, config, args))
        except AgentError as exc:
            structlog.get_logger(__name__).error("agent.failed", error=str(exc))
            return exc.exit_code
        finally:
            if held is not None:
                os.close(held)
    finally:
        oneshot.remove_state_dir(temp_state)
