"""Argument parsing and dispatch to ``commands/*`` only; no logic lives here.

Each sub-command gets only the shared options that apply to it (``version --help`` shows no
``--config``). The man page and the shell completion are checked against this parser.

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from logflux_agent import __version__, gctune
from logflux_agent.config.model import DEFAULT_CONFIG_PATH

# Shared option groups a command may take: "config" (--config) and "logging" (--log-level,
# --log-format).
CONFIG, LOGGING = "config", "logging"

# (sub-command, module under logflux_agent.commands, one-line help, shared option groups)
COMMANDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "run",
        "run",
        "run the agent in the foreground (the default when no command is given)",
        (CONFIG, LOGGING),
    ),
    (
        "validate",
        "validate",
        "check the configuration and print a summary, or every error",
        (CONFIG, LOGGING),
    ),
    (
        "check",
        "check",
        "validate, then discover the ingestor and perform the key handshake",
        (CONFIG, LOGGING),
    ),
    (
        "status",
        "status",
        "ask the running agent what it is doing (lag, oldest unacknowledged entry, sender)",
        (CONFIG,),
    ),
    (
        "audit",
        "audit",
        "did a line (byte offset, journal cursor) reach LogFlux, and when? (the receipt ledger)",
        (CONFIG,),
    ),
    (
        "tap",
        "tap",
        "run the inputs and processors and print the entries; sends nothing",
        (CONFIG, LOGGING),
    ),
    ("version", "version", "print the version", ()),
    (
        "dev-ingestor",
        "dev_ingestor",
        "run the local reference ingestor (tests, demo, benchmarks)",
        (LOGGING,),
    ),
    ("demo", "demo", "first run without an account: dev ingestor + agent + a sample log", ()),
    (
        "bench",
        "bench",
        "measure lines/s, CPU per line and memory on this machine (no account)",
        (),
    ),
    ("completion", "completion", "print a bash or zsh completion script", ()),
)


def _shared_options(groups: tuple[str, ...]) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    if CONFIG in groups:
        common.add_argument(
            "--config",
            "-c",
            metavar="FILE",
            default=argparse.SUPPRESS,
            help=f"configuration file (default {DEFAULT_CONFIG_PATH}; "
            "fragments in conf.d/*.yaml next to it are merged)",
        )
    if LOGGING in groups:
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
    parser = argparse.ArgumentParser(
        prog="logflux-agent",
        parents=[_shared_options((CONFIG, LOGGING))],
        description="Ship logs from files, stdin and journald to LogFlux, encrypted.",
    )
    parser.add_argument("--version", "-V", action="version", version=f"logflux-agent {__version__}")
    run_module = _load("run")
    run_module.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text, groups in COMMANDS:
        module = run_module if module_name == "run" else _load(module_name)
        sp = sub.add_parser(
            name, parents=[_shared_options(groups)], help=help_text, description=help_text
        )
        module.add_arguments(sp)
        sp.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Whether --config was given matters to a one-shot --stdin upload, which may run without
    # any file (--endpoint, --api-key-file or LOGFLUX_API_KEY).
    args.config_given = hasattr(args, "config")
    if not args.config_given:
        args.config = DEFAULT_CONFIG_PATH
    for opt in ("log_level", "log_format"):
        if not hasattr(args, opt):
            setattr(args, opt, None)
    name = getattr(args, "_module", "run")
    module = _load(name)
    if name == "run":
        gctune.tune()  # the long-running agent: fewer, cheaper collections (gctune.py)
    try:
        code = module.main(args)
    except KeyboardInterrupt:
        return 130
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
