"""Where the API key comes from, and the ``LOGFLUX_*`` environment applied over the file.

The key: ``LOGFLUX_API_KEY`` beats the file's ``api_key:`` or ``api_key_file:`` (one of the two,
not both); a key file holds only the key (UTF-8, at most ``MAX_KEY_FILE_BYTES``, one trailing
line end allowed). The environment overrides of ``env.py`` replace file values, bounds checked
like the file's. A key never appears in a problem: the walker masks every message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from logflux_agent.config import env as envvars
from logflux_agent.config.model import AgentConfig, bound_problem
from logflux_agent.config.nodes import BAD, NodeReader
from logflux_agent.config.walker import _hints
from logflux_agent.credentials import ApiKey, parse_api_key
from logflux_agent.errors import CredentialError

MAX_KEY_FILE_BYTES = 64 << 10


def _read_key_file(w: NodeReader, node: yaml.Node, path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        w.problem(node, "api_key_file", f"cannot read {path!r}: {exc.strerror or exc}")
        return None
    if len(data) > MAX_KEY_FILE_BYTES:
        w.problem(
            node,
            "api_key_file",
            f"expected a file holding only the API key, but "
            f"{path!r} is larger than {MAX_KEY_FILE_BYTES} bytes",
        )
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        w.problem(node, "api_key_file", f"expected UTF-8 text in {path!r}")
        return None
    # Only the line end a text editor or `echo` adds: inner/other whitespace is still an error.
    return text.removesuffix("\n").removesuffix("\r")


def _parse_key(w: NodeReader, node: yaml.Node | None, where: str, raw: str) -> ApiKey | None:
    try:
        return parse_api_key(raw)
    except CredentialError as exc:
        w.problem(node, where, str(exc))
        return None


def api_key(
    w: NodeReader, root: yaml.Node, nodes: Mapping[str, Any], env_key: str | None
) -> tuple[ApiKey | None, str]:
    """The key (env beats file), and where it came from; problems reported."""
    key_node: yaml.Node | None = nodes.get("api_key")
    file_node: yaml.Node | None = nodes.get("api_key_file")
    file_key: ApiKey | None = None
    origin = ""
    if key_node is not None and file_node is not None:
        w.problem(file_node, "api_key_file", "set either api_key or api_key_file, not both")
    elif key_node is not None:
        raw = w.string(key_node, "api_key", allow_empty=True)
        if raw is not BAD:
            file_key = _parse_key(w, key_node, "api_key", raw)
            origin = f"api_key in {w.source}"
    elif file_node is not None:
        path = w.string(file_node, "api_key_file")
        raw = None if path is BAD else _read_key_file(w, file_node, path)
        if raw is not None:
            file_key = _parse_key(w, file_node, "api_key_file", raw)
            origin = f"api_key_file {path}"
    if env_key is not None:
        key = _parse_key(w, None, f"environment variable {envvars.API_KEY_VAR}", env_key)
        return key, f"environment variable {envvars.API_KEY_VAR}"
    if key_node is None and file_node is None:
        w.problem(
            root,
            "api_key",
            f"required: set api_key: (or api_key_file:) in the file, or "
            f"the {envvars.API_KEY_VAR} environment variable",
        )
    return file_key, origin


def apply_env(w: NodeReader, kwargs: dict[str, Any], overrides: envvars.EnvOverrides) -> None:
    top = _hints(AgentConfig)
    for target, value in overrides.values.items():
        var = overrides.origin[target]
        if len(target) == 1:
            kwargs[target[0]] = value
            continue
        section, name = target
        cls = top[section]
        hint = _hints(cls)[name]
        if hint in (int, float) and isinstance(value, int | float):
            problem = bound_problem(f"{cls.__name__}.{name}", hint, value)
            if problem:
                w.problems.append(
                    f"environment variable {var}: expected {problem}, got "
                    f"{value!r} (it sets {section}.{name})"
                )
                continue
            value = hint(value)
        current = kwargs.get(section)
        if current is None:
            current = cls()
        kwargs[section] = dataclasses.replace(current, **{name: value})
