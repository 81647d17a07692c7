"""Turning a YAML file into an ``AgentConfig``, reporting every problem at once with file:line:col.

The loader walks PyYAML's *nodes* (``yaml.compose``), not the constructed objects, so each value
still knows where it was written. This module is the whole load and its report: read the file
(bounded), compose it, merge the conf.d fragments, walk it (``walker.py``, scalars in
``nodes.py``), apply the ``LOGFLUX_*`` environment and resolve the API key (``keys.py``), run
the checks across the document (``checks.py``), then either raise one ``ConfigError`` listing
every problem in document order, or log the warnings and return the config with where its
settings came from. Problems are collected, never raised one by one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
import yaml

from logflux_agent.config import checks, keys
from logflux_agent.config import env as envvars
from logflux_agent.config.fragments import fragment_paths, merge_fragments
from logflux_agent.config.model import AgentConfig
from logflux_agent.config.nodes import BAD
from logflux_agent.config.walker import Walker
from logflux_agent.credentials import mask_secrets
from logflux_agent.errors import ConfigError

__all__ = [
    "BAD",
    "LoadResult",
    "Walker",
    "load_config",
    "load_config_report",
    "load_config_text",
    "load_config_with_warnings",
    "read_config_text",
]

log = structlog.get_logger(__name__)

MAX_CONFIG_BYTES = 1 << 20
MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A loaded configuration and what a human should know about it."""

    config: AgentConfig
    warnings: tuple[str, ...]
    api_key_origin: str
    env_applied: tuple[tuple[str, str], ...]  # (variable, setting)
    env_ignored: tuple[tuple[str, str], ...]  # (variable, why it has no effect)


def _compose(text: str, w: Walker) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{w.source}:{mark.line + 1}:{mark.column + 1}" if mark else w.source
        what = "; ".join(p for p in (exc.context, exc.problem) if p)
        w.problems.append(f"{where}: not valid YAML: {mask_secrets(what)}")
    except yaml.reader.ReaderError as exc:
        w.problems.append(
            f"{w.source}: not valid YAML: character {exc.character!r} at "
            f"position {exc.position} is not allowed"
        )
    except yaml.YAMLError as exc:
        w.problems.append(f"{w.source}: not valid YAML: {mask_secrets(str(exc))}")
    except RecursionError:
        w.problems.append(f"{w.source}: not valid YAML: nested too deep")
    return None


def _in_document_order(problems: list[str], source: str) -> list[str]:
    """Problems sorted by line and column; those without a position (environment) last."""
    where = re.compile(re.escape(mask_secrets(source)) + r":(\d+):(\d+): ")

    def key(item: tuple[int, str]) -> tuple[int, int, int]:
        m = where.match(item[1])
        return (int(m.group(1)), int(m.group(2)), item[0]) if m else (1 << 62, 0, item[0])

    return [p for _, p in sorted(enumerate(problems), key=key)]


def _load(
    text: str, source: str, environ: Mapping[str, str] | None, file_path: str | None = None
) -> LoadResult:
    environ = os.environ if environ is None else environ
    w = Walker(source, environ)
    root = _compose(text, w)
    if root is None and not w.problems:
        w.problems.append(
            f"{source}: the configuration is empty: expected a mapping of "
            f"settings with at least api_key (or {envvars.API_KEY_VAR}) and inputs"
        )
    if root is not None and not isinstance(root, yaml.MappingNode):
        w.expected(root, "", "a mapping of settings (key: value) at the top level")
    elif root is not None and file_path is not None:
        w.fragments.update(fragment_paths(file_path))
        merge_fragments(root, file_path, read_config_text, w.where, w.problems)
    if w.problems or root is None:
        raise ConfigError(w.problems)
    kwargs, _ = w.fields(
        root,
        AgentConfig,
        "",
        skip=frozenset({"source", "api_key"}),
        extra=frozenset({"api_key", "api_key_file"}),
    )
    nodes: dict[str, Any] = {k: kwargs.pop(k) for k in ("api_key", "api_key_file") if k in kwargs}
    overrides = envvars.read_environment(environ, w.referenced)
    w.problems.extend(overrides.problems)
    w.warnings.extend(overrides.warnings)
    keys.apply_env(w, kwargs, overrides)
    key, origin = keys.api_key(w, root, nodes, overrides.api_key)
    checks.final_checks(w, kwargs, key)
    if w.problems or key is None:
        problems = _in_document_order(w.problems, source)[:MAX_PROBLEMS]
        if len(w.problems) > MAX_PROBLEMS:
            problems.append(f"… and {len(w.problems) - MAX_PROBLEMS} more problems")
        raise ConfigError(problems)
    for message in w.warnings:
        log.warning("config.warning", source=source, message=message)
    if file_path is not None:
        checks.insecure(w, file_path, nodes.get("api_key"))
    applied = tuple((var, envvars.setting_name(t)) for t, var in overrides.origin.items())
    for var, setting in applied:
        log.debug("config.env_override", variable=var, setting=setting)
    for var, why in overrides.ignored:
        log.debug("config.env_ignored", variable=var, reason=why)
    config = AgentConfig(source=source, api_key=key, **kwargs)
    return LoadResult(config, tuple(w.warnings), origin, applied, tuple(overrides.ignored))


def read_config_text(path: str) -> str:
    """The file's text; ConfigError naming the path when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the configuration file: {exc.strerror or exc}"
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: the configuration file is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: expected UTF-8 text, found an invalid byte at offset {exc.start}"
        ) from None


def load_config_report(path: str, environ: Mapping[str, str] | None = None) -> LoadResult:
    """Load ``path`` and return the config with its warnings and where each setting came from."""
    return _load(read_config_text(path), path, environ, file_path=path)


def load_config(path: str, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Load and validate ``path``; ConfigError lists every problem. ``environ``: os.environ."""
    return load_config_report(path, environ).config


def load_config_with_warnings(
    path: str, environ: Mapping[str, str] | None = None
) -> tuple[AgentConfig, list[str]]:
    result = load_config_report(path, environ)
    return result.config, list(result.warnings)


def load_config_text(
    text: str, source: str = "<string>", environ: Mapping[str, str] | None = None
) -> AgentConfig:
    """Load configuration from ``text``; ``source`` names it in messages."""
    return _load(text, source, environ).config
