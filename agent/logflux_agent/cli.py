"""Argument parsing and dispatch to ``commands/*`` only; no logic lives here.

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from logflux_agent import __version__
from logflux_agent.config.model import DEFAULT_CONFIG_PATH

# (sub-command, module under logflux_agent.commands, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run", "run", "run the agent in the foreground (the default when no command is given)"),
    ("validate", "validate", "check the configuration and print a summary, or every error"),
    ("check", "check", "validate, then discover the ingestor and perform the key handshake"),
    ("tap", "tap", "run the inputs and processors and print the entries; sends nothing"),
    ("version", "version", "print the version"),
    ("dev-ingestor", "dev_ingestor", "run the local reference ingestor (tests, demo, benchmarks)"),
    ("demo", "demo", "first run without an account: dev ingestor + agent + a sample log"),
    ("bench", "bench", "measure lines/s, CPU per line and memory on this machine (no account)"),
)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help=f"configuration file (default {DEFAULT_CONFIG_PATH})",
    )
    common.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=argparse.SUPPRESS,
        help="override logging.level",
    )
    common.add_argument(
        "--log-format",
        choices=("json", "console"),
        default=argparse.SUPPRESS,
        help="override logging.format",
    )
    return common


def _load(module: str) -> ModuleType:
    return importlib.import_module(f"logflux_agent.commands.{module}")


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="logflux-agent",
        parents=[common],
        description="Ship logs from files, stdin and journald to LogFlux, encrypted.",
    )
    parser.add_argument("--version", action="version", version=f"logflux-agent {__version__}")
    run_module = _load("run")
    run_module.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in COMMANDS:
        module = run_module if module_name == "run" else _load(module_name)
        sp = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        module.add_arguments(sp)
        sp.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "config"):
        args.config = DEFAULT_CONFIG_PATH
    for opt in ("log_level", "log_format"):
        if not hasattr(args, opt):
            setattr(args, opt, None)
    module = _load(getattr(args, "_module", "run"))
    try:
        code = module.main(args)
    except KeyboardInterrupt:
        return 130
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
