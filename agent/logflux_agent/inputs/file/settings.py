"""The values a file input cannot work with, refused all at once (the loader may check earlier)."""

from __future__ import annotations

from logflux_agent.config.model import FileInputConfig
from logflux_agent.errors import ConfigError
from logflux_agent.inputs.framing import MIN_LINE_BYTES
from logflux_agent.inputs.multiline import Multiline


def validate(config: FileInputConfig) -> None:
    """Raise ConfigError listing every value of ``config`` the file input cannot use."""
    where = f"input {config.id!r}"
    problems = []
    if not config.paths:
        problems.append(f"{where}: paths needs at least one glob")
    if config.max_line_bytes < MIN_LINE_BYTES:
        problems.append(
            f"{where}: max_line_bytes must be at least {MIN_LINE_BYTES}, "
            f"got {config.max_line_bytes}"
        )
    for name in ("read_chunk_bytes", "max_open_files"):
        if getattr(config, name) < 1:
            problems.append(f"{where}: {name} must be at least 1, got {getattr(config, name)}")
    if config.fingerprint_bytes < 0:
        problems.append(f"{where}: fingerprint_bytes must not be negative")
    for name in ("rescan_interval",):
        if getattr(config, name) <= 0:
            problems.append(f"{where}: {name} must be positive, got {getattr(config, name)}")
    for name in ("close_inactive", "partial_line_timeout"):
        if getattr(config, name) < 0:
            problems.append(f"{where}: {name} must not be negative, got {getattr(config, name)}")
    if config.multiline is not None:
        try:
            Multiline(config.multiline, max_bytes=max(config.max_line_bytes, 1))
        except ConfigError as exc:
            problems.extend(f"{where}: {p}" for p in exc.problems)
    if problems:
        raise ConfigError(problems)
