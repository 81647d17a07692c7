"""`logflux-agent validate [--config FILE] [--json]`: check the configuration without starting.

Prints a one-screen summary (masked key, how the ingestor will be found, inputs, bounds, the
log level and format exactly as ``run`` would apply the command-line overrides), the warnings,
then the run-time checks of ``preflight`` (state_dir, input paths, the metrics address). Exit
0 when the agent would start (warnings allowed), 1 when the file is valid but ``run`` would
fail here (the state directory), 2 for configuration errors, printed every one. No network,
nothing created or written. Every key-shaped string is masked, from whatever field it came.
``--json`` prints the same as one JSON object on stdout, for scripts.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from logflux_agent.config.load import LoadResult
    from logflux_agent.config.model import (
        AgentConfig,
        InputConfig,
        MultilineConfig,
        SocketInputConfig,
        SyslogInputConfig,
    )
    from logflux_agent.observe.logsink import Writer
    from logflux_agent.preflight import Check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # --config, --log-level and --log-format are common to every command.
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the summary, warnings and checks (or the problems) as one JSON object",
    )


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % (scale // 16) == 0:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


def _list(items: tuple[str, ...]) -> str:
    return ", ".join(items) if items else "-"


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _multiline(cfg: MultilineConfig | None) -> str:
    if cfg is None:
        return ""
    rule = (
        f"start {cfg.start_pattern!r}"
        if cfg.start_pattern
        else f"continue {cfg.continue_pattern!r}"
    )
    return f"; multiline {rule} (≤ {cfg.max_lines} lines)"


def _input(cfg: InputConfig) -> str:
    from logflux_agent.config.model import (
        FileInputConfig,
        JournaldInputConfig,
        SocketInputConfig,
        SyslogInputConfig,
    )

    labels = f"; labels {_labels(cfg.labels)}" if cfg.labels else ""
    if isinstance(cfg, FileInputConfig):
        start = cfg.start_at or "end at first start, beginning for files found later"
        exclude = f"; exclude {_list(cfg.exclude)}" if cfg.exclude else ""
        return (
            f"file {cfg.id!r}: paths {_list(cfg.paths)}{exclude}; start_at {start}"
            f"{_multiline(cfg.multiline)}{labels}"
        )
    if isinstance(cfg, JournaldInputConfig):
        parts = [f"journald {cfg.id!r}: start_at {cfg.start_at}"]
        if cfg.units:
            parts.append(f"units {_list(cfg.units)}")
        if cfg.identifiers:
            parts.append(f"identifiers {_list(cfg.identifiers)}")
        if cfg.priority is not None:
            names = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
            parts.append(f"priority ≤ {cfg.priority} ({names[cfg.priority]})")
        if cfg.directory:
            parts.append(f"directory {cfg.directory}")
        return "; ".join(parts) + labels
    if isinstance(cfg, SocketInputConfig | SyslogInputConfig):
        return listener_summary(cfg) + labels
    return f"stdin {cfg.id!r}{_multiline(cfg.multiline)}{labels}"


def listener_summary(cfg: SocketInputConfig | SyslogInputConfig) -> str:
    """Socket and syslog inputs: where they listen."""
    from logflux_agent.config.model import SocketInputConfig

    if isinstance(cfg, SocketInputConfig):
        parts = [f"socket {cfg.id!r}"]
        if cfg.unix_path is not None:
            group = f", group {cfg.group}" if cfg.group else ""
            parts.append(f"unix {cfg.unix_path} (mode {cfg.mode}{group})")
        if cfg.tcp is not None:
            secret = "required" if cfg.require_secret else "optional (require_secret: false)"
            where = cfg.shared_secret_file or "the protocol's default location"
            remote = ", remote allowed" if cfg.allow_remote else ""
            parts.append(f"tcp {cfg.tcp} (shared secret {secret}, file {where}{remote})")
        return "; ".join(parts)
    parts = [f"syslog {cfg.id!r}"]
    if cfg.udp is not None:
        parts.append(f"udp {cfg.udp}")
    if cfg.tcp is not None:
        parts.append(f"tcp {cfg.tcp} (framing {cfg.framing})")
    if cfg.unix is not None:
        parts.append(f"unix datagram {cfg.unix} (mode {cfg.mode})")
    if cfg.unix_stream is not None:
        parts.append(f"unix stream {cfg.unix_stream} (mode {cfg.mode}, framing {cfg.framing})")
    return "; ".join(parts)


def _processors(cfg: InputConfig, out: Writer) -> None:
    """The input's processor chain, in the order it runs (docs/processing.md)."""
    from logflux_agent.config.processors import describe

    chain = getattr(cfg, "processors", ())
    if chain:
        print(f"      processors: {' → '.join(describe(p) for p in chain)}", file=out)


def endpoint_mode(config: AgentConfig) -> str:
    """How the ingestor will be found (protocol.md §2), in words."""
    if config.endpoint:
        return f"custom endpoint {config.endpoint} (no discovery)"
    region = config.region or config.api_key.region
    if region:
        url = config.discovery.static_url.replace("{region}", region)
        return f"static discovery for region {region} ({url}), then authenticated discovery"
    return (
        "authenticated discovery (legacy key without region: "
        f"{', '.join(config.discovery.gateways)})"
    )


def _logging(args: argparse.Namespace, config: AgentConfig) -> tuple[str, str, str]:
    """Level, format and a note saying which came from the command line (as ``run`` does)."""
    from logflux_agent.commands.run import logging_settings

    level, fmt = logging_settings(args, config)
    flags = {"log-level": getattr(args, "log_level", None)}
    flags["log-format"] = getattr(args, "log_format", None)
    notes = [f"--{flag} {value}" for flag, value in flags.items() if value]
    shown = f"{level}, {fmt}"
    if fmt == "auto":
        shown += " (console on a terminal, json otherwise)"
    return level, fmt, shown + (f" (from {', '.join(notes)})" if notes else "")


def rows(result: LoadResult, args: argparse.Namespace) -> list[tuple[str, str]]:
    """The summary, one (name, value) per line; inputs are listed apart."""
    config = result.config
    key = config.api_key
    s = config.sender
    kind = f"regional key, region {key.region}" if key.region else "legacy key, no region"
    out = [
        ("api key", f"{key.masked} ({kind}; from {result.api_key_origin})"),
        ("ingestor", endpoint_mode(config)),
    ]
    if config.encryption.public_key_fingerprint or config.encryption.public_key_file:
        pin = config.encryption.public_key_fingerprint
        out.append(("pinned key", pin or f"from {config.encryption.public_key_file}"))
    env = f" (environment {config.environment})" if config.environment else ""
    out.append(("node", config.node + env))
    if config.labels:
        out.append(("labels", _labels(config.labels)))
    out.append(("state_dir", config.state_dir))
    count = str(len(config.inputs)) if config.inputs else ""
    out.append(("inputs", count or "none (the agent then only runs with --stdin)"))
    deflate = (
        f"deflate entries ≥ {_size(s.compress_min_bytes)}"
        if s.compress_min_bytes
        else "deflate every entry"
    )
    out += [
        (
            "sender",
            f"batches ≤ {s.batch_max_entries} entries / {_size(s.batch_max_bytes)}, "
            f"flush {s.flush_interval:g} s, {s.max_in_flight} in flight, "
            f"timeout {s.http_timeout:g} s, {deflate}",
        ),
        (
            "retry",
            f"{s.retry_initial_delay:g} s, factor {s.retry_backoff_factor:g}, up to "
            f"{s.retry_max_delay:g} s, until delivered",
        ),
        ("queue", f"≤ {config.queue.max_entries} entries / {_size(config.queue.max_bytes)}"),
        (
            "metrics",
            f"http://{config.metrics.listen}/metrics" if config.metrics.enabled else "disabled",
        ),
        ("logging", _logging(args, config)[2]),
    ]
    if result.env_applied:
        applied = ", ".join(f"{var} → {setting}" for var, setting in result.env_applied)
        out.append(("environment", applied))
    if result.env_ignored:
        out.append(("no effect", ", ".join(var for var, _ in result.env_ignored)))
    return out


def _user() -> str:
    import os

    try:
        import pwd

        return f"user {pwd.getpwuid(os.geteuid()).pw_name}, uid {os.geteuid()}"
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}"


def summary(
    result: LoadResult,
    out: Writer,
    args: argparse.Namespace | None = None,
    checks: list[Check] | None = None,
) -> None:
    """The one-screen summary; without ``args`` as the file says, without ``checks`` none."""
    print(f"configuration {result.config.source}: OK", file=out)
    for name, value in rows(result, args or argparse.Namespace()):
        print(f"  {name:<14} {value}", file=out)
        if name == "inputs":
            for cfg in result.config.inputs:
                print(f"    - {_input(cfg)}", file=out)
                _processors(cfg, out)
    if result.warnings:
        print("warnings:", file=out)
        for message in result.warnings:
            print(f"  - {message}", file=out)
    if checks is None:
        return
    print(f"checks (as {_user()}):", file=out)
    for check in checks:
        print(f"  {check.status:<8} {check.subject}: {check.message}", file=out)


def as_json(
    result: LoadResult, args: argparse.Namespace, checks: list[Check], code: int
) -> dict[str, Any]:
    config = result.config
    level, fmt, _ = _logging(args, config)
    return {
        "config": config.source,
        "ok": code == 0,
        "exit_code": code,
        "summary": dict(rows(result, args)),
        "api_key": {
            "masked": config.api_key.masked,
            "region": config.api_key.region or None,
            "origin": result.api_key_origin,
        },
        "node": config.node,
        "environment": config.environment,
        "labels": config.labels,
        "state_dir": config.state_dir,
        "inputs": [{"id": c.id, "type": c.type, "summary": _input(c)} for c in config.inputs],
        "logging": {"level": level, "format": fmt},
        "metrics": config.metrics.listen if config.metrics.enabled else None,
        "warnings": list(result.warnings),
        "checks": [
            {"subject": c.subject, "status": c.status, "message": c.message} for c in checks
        ],
        "checked_as": _user(),
    }


def main(args: argparse.Namespace) -> int:
    import json

    from logflux_agent.config.load import load_config_report
    from logflux_agent.errors import EXIT_RUNTIME, AgentError
    from logflux_agent.observe.logging import configure_logging
    from logflux_agent.observe.logsink import TolerantStream
    from logflux_agent.preflight import ERROR, run_checks

    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    # Warnings are printed in the summary; the log only speaks when asked to (--log-level).
    configure_logging(args.log_level or "error", args.log_format or "console")
    # Masking (every key-shaped string) and `validate | head -1` quietly ending the output.
    out, err = TolerantStream(sys.stdout), TolerantStream(sys.stderr)
    want_json = getattr(args, "json", False)
    try:
        result = load_config_report(args.config)
    except AgentError as exc:
        problems = getattr(exc, "problems", None) or [str(exc)]
        if want_json:
            doc = {"config": args.config, "ok": False, "exit_code": exc.exit_code}
            print(json.dumps({**doc, "problems": problems}, ensure_ascii=False), file=out)
            return exc.exit_code
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        print(f"logflux-agent validate: {args.config}: {count}:", file=err)
        for problem in problems:
            print(f"  - {problem}", file=err)
        return exc.exit_code
    checks = run_checks(result.config)
    code = EXIT_RUNTIME if any(c.status == ERROR for c in checks) else 0
    if want_json:
        print(json.dumps(as_json(result, args, checks, code), ensure_ascii=False), file=out)
    else:
        summary(result, out, args, checks)
    return code
