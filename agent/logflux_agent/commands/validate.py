"""`logflux-agent validate [--config FILE]`: check the configuration without starting anything.

Prints a one-screen summary (masked key, how the ingestor will be found, inputs, bounds) and the
warnings, exit 0; or every problem to stderr, exit 2. No network, no state is touched. The API
key is only ever shown masked.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from logflux_agent.config.load import LoadResult
    from logflux_agent.config.model import AgentConfig, InputConfig, MultilineConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # --config, --log-level and --log-format are common to every command


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
    from logflux_agent.config.model import FileInputConfig, JournaldInputConfig

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
    return f"stdin {cfg.id!r}{_multiline(cfg.multiline)}{labels}"


def _processors(cfg: InputConfig, out: TextIO) -> None:
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


def summary(result: LoadResult, out: TextIO) -> None:
    config = result.config
    key = config.api_key
    s = config.sender

    def row(name: str, value: str) -> None:
        print(f"  {name:<14} {value}", file=out)

    print(f"configuration {config.source}: OK", file=out)
    kind = f"regional key, region {key.region}" if key.region else "legacy key, no region"
    row("api key", f"{key.masked} ({kind}; from {result.api_key_origin})")
    row("ingestor", endpoint_mode(config))
    if config.encryption.public_key_fingerprint or config.encryption.public_key_file:
        row(
            "pinned key",
            config.encryption.public_key_fingerprint or f"from {config.encryption.public_key_file}",
        )
    row(
        "node", config.node + (f" (environment {config.environment})" if config.environment else "")
    )
    if config.labels:
        row("labels", _labels(config.labels))
    row("state_dir", config.state_dir)
    row(
        "inputs",
        str(len(config.inputs))
        if config.inputs
        else "none (the agent then only runs with --stdin)",
    )
    for cfg in config.inputs:
        print(f"    - {_input(cfg)}", file=out)
        _processors(cfg, out)
    row(
        "sender",
        f"batches ≤ {s.batch_max_entries} entries / {_size(s.batch_max_bytes)}, "
        f"flush {s.flush_interval:g} s, {s.max_in_flight} in flight, "
        f"timeout {s.http_timeout:g} s",
    )
    row(
        "retry",
        f"{s.retry_initial_delay:g} s, factor {s.retry_backoff_factor:g}, up to "
        f"{s.retry_max_delay:g} s, until delivered",
    )
    row("queue", f"≤ {config.queue.max_entries} entries / {_size(config.queue.max_bytes)}")
    row(
        "metrics",
        f"http://{config.metrics.listen}/metrics" if config.metrics.enabled else "disabled",
    )
    row("logging", f"{config.logging.level}, {config.logging.format}")
    if result.env_applied:
        row("environment", ", ".join(f"{var} → {setting}" for var, setting in result.env_applied))
    if result.env_ignored:
        row("no effect", ", ".join(var for var, _ in result.env_ignored))
    if result.warnings:
        print("warnings:", file=out)
        for message in result.warnings:
            print(f"  - {message}", file=out)


def main(args: argparse.Namespace) -> int:
    from logflux_agent.config.load import load_config_report
    from logflux_agent.credentials import mask_secrets
    from logflux_agent.errors import AgentError
    from logflux_agent.observe.logging import configure_logging

    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    # Warnings are printed in the summary; the log only speaks when asked to (--log-level).
    configure_logging(args.log_level or "error", args.log_format or "console")
    try:
        result = load_config_report(args.config)
    except AgentError as exc:
        problems = getattr(exc, "problems", None) or [str(exc)]
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        print(f"logflux-agent validate: {args.config}: {count}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {mask_secrets(problem)}", file=sys.stderr)
        return exc.exit_code
    summary(result, sys.stdout)
    return 0
