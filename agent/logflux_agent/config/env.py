"""What the environment contributes to the config: ``${VAR}`` interpolation and ``LOGFLUX_*``.

``interpolate`` expands ``${VAR}`` / ``${VAR:-default}`` / ``${VAR:?message}`` (an error
naming the variable with the operator's message when unset or empty) inside YAML values. The
``LOGFLUX_*`` variables (protocol.md §6) override settings of the file.

The SDKs share these names, so an application's environment can configure the agent too. The
environment beats the file. Unlike the SDKs, which silently keep the default when a number does
not parse, the agent reports a configuration error naming the variable: a daemon should not run
with a setting its operator did not intend. Variables that make sense only for an SDK are
accepted and have no effect (the agent retries forever and always compresses).

This module only reads and parses; ``load.py`` checks the parsed values against the same bounds
as the file's and applies them.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from logflux_agent.credentials import mask_secrets

Kind = Literal["str", "int", "float", "seconds", "milliseconds", "debug"]

# Go's strconv.ParseBool forms; JS is looser, but a daemon should not guess.
GO_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
GO_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})

_INTERP_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _split_reference(inner: str) -> tuple[str, str, str]:
    """``NAME``, ``NAME:-default`` or ``NAME:?message`` → (name, "" / "-" / "?", rest)."""
    for i in range(len(inner) - 1):
        if inner[i] == ":" and inner[i + 1] in "-?":
            return inner[:i], inner[i + 1], inner[i + 2 :]
    return inner, "", ""


def interpolate(text: str, environ: Mapping[str, str]) -> tuple[str, list[str], set[str]]:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``; ``$${`` is a literal.

    Returns the text, the problems (unset variables, malformed references) and the names used.
    """
    problems: list[str] = []
    names: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "$${":
            return "${"
        inner = m.group(1)
        if inner is None:
            problems.append(
                "unterminated '${': expected ${NAME} or ${NAME:-default} "
                "(write $${ for a literal ${)"
            )
            return whole
        name, op, default = _split_reference(inner)
        if not _NAME_RE.fullmatch(name):
            problems.append(
                f"invalid reference ${{{inner}}}: expected ${{NAME}}, ${{NAME:-default}} or "
                f"${{NAME:?message}} with NAME made of letters, digits and _"
            )
            return whole
        if "${" in default:
            problems.append(f"nested references are not supported in ${{{inner}}}")
            return whole
        names.add(name)
        value = environ.get(name)
        if op == "?":
            # Like the shell: unset or empty is an error, and the message is the operator's.
            if not value:
                why = mask_secrets(default) if default else "required"
                problems.append(f"environment variable {name} is not set or empty: {why}")
                return whole
            return value
        if op == "-":
            return value if value else default
        if value is None:
            problems.append(
                f"environment variable {name} is not set (use ${{{name}:-default}} "
                f"to give a default)"
            )
            return whole
        return value

    return _INTERP_RE.sub(sub, text), problems, names


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One variable: the setting it overrides (None: accepted, no effect) and how to read it."""

    name: str
    target: tuple[str, ...] | None
    kind: Kind = "str"
    note: str = ""


API_KEY_VAR = "LOGFLUX_API_KEY"

VARIABLES: tuple[EnvVar, ...] = (
    EnvVar(API_KEY_VAR, ("api_key",), "str", "the ingest API key"),
    EnvVar("LOGFLUX_ENVIRONMENT", ("environment",), "str"),
    EnvVar("LOGFLUX_NODE", ("node",), "str"),
    EnvVar("LOGFLUX_QUEUE_SIZE", ("queue", "max_entries"), "int"),
    EnvVar("LOGFLUX_FLUSH_INTERVAL", ("sender", "flush_interval"), "seconds"),
    EnvVar("LOGFLUX_BATCH_SIZE", ("sender", "batch_max_entries"), "int"),
    EnvVar("LOGFLUX_INITIAL_DELAY", ("sender", "retry_initial_delay"), "milliseconds"),
    EnvVar("LOGFLUX_MAX_DELAY", ("sender", "retry_max_delay"), "seconds"),
    EnvVar("LOGFLUX_BACKOFF_FACTOR", ("sender", "retry_backoff_factor"), "float"),
    EnvVar("LOGFLUX_HTTP_TIMEOUT", ("sender", "http_timeout"), "seconds"),
    EnvVar("LOGFLUX_WORKER_COUNT", ("sender", "max_in_flight"), "int"),
    EnvVar("LOGFLUX_DEBUG", ("logging", "level"), "debug"),
    EnvVar("LOGFLUX_MAX_RETRIES", None, note="the agent retries until the data is delivered"),
    EnvVar("LOGFLUX_ENABLE_COMPRESSION", None, note="the agent always compresses"),
    EnvVar("LOGFLUX_LOG_GROUP", None, note="stored by the SDKs, never transmitted"),
    EnvVar(
        "LOGFLUX_FAILSAFE_MODE",
        None,
        note="the agent never crashes the application it ships for: it is a separate process",
    ),
    EnvVar("LOGFLUX_PAT", None, note="a query credential, not used for ingestion"),
    EnvVar("LOGFLUX_PRIVATE_KEY_FILE", None, note="used by query tools, not for ingestion"),
)

BY_NAME: dict[str, EnvVar] = {v.name: v for v in VARIABLES}

_KIND_TEXT: dict[Kind, str] = {
    "str": "UTF-8 text",
    "int": "an integer",
    "float": "a number",
    "seconds": "a number of seconds",
    "milliseconds": "a number of milliseconds",
    "debug": "a boolean (1, t, true, TRUE, True, 0, f, false, FALSE, False)",
}


@dataclass(slots=True)
class EnvOverrides:
    """What the environment says: parsed values by setting path, plus what to report."""

    values: dict[tuple[str, ...], object] = field(default_factory=dict)
    # setting path -> the variable it came from, for messages
    origin: dict[tuple[str, ...], str] = field(default_factory=dict)
    api_key: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # (variable, reason) for variables accepted without effect
    ignored: list[tuple[str, str]] = field(default_factory=list)


def setting_name(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _shown(raw: str) -> str:
    text = mask_secrets(raw)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _parse(var: EnvVar, raw: str) -> object:
    """The parsed value, or raise ValueError when ``raw`` does not have the variable's form."""
    text = raw.strip()
    if var.kind == "str":
        # Bytes that were not UTF-8 arrive as lone surrogates; they could not be sent as JSON.
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in raw) or "\x00" in raw:
            raise ValueError
        return raw
    if var.kind == "int":
        if not _INT_RE.fullmatch(text):
            raise ValueError
        return int(text)
    if var.kind == "debug":
        if text in GO_TRUE:
            return "debug"
        if text in GO_FALSE:
            return None
        raise ValueError
    if not _FLOAT_RE.fullmatch(text):
        raise ValueError
    number = float(text)
    if not math.isfinite(number):
        raise ValueError
    return number / 1000.0 if var.kind == "milliseconds" else number


def expected_text(var: EnvVar) -> str:
    return _KIND_TEXT[var.kind]


def read_environment(environ: Mapping[str, str], referenced: Collection[str] = ()) -> EnvOverrides:
    """Parse every ``LOGFLUX_*`` variable in ``environ``; an empty variable counts as unset.

    ``referenced`` are the variables the file interpolates: those are the file's business, so a
    name the agent does not know is only questioned when nothing uses it.
    """
    out = EnvOverrides()
    for name in sorted(environ):
        if not name.startswith("LOGFLUX_"):
            continue
        raw = environ[name]
        var = BY_NAME.get(name)
        if var is None:
            close = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.85)
            if close and name not in referenced:
                out.warnings.append(
                    f"environment variable {name} is not one the agent reads; "
                    f"did you mean {close[0]}?"
                )
            continue
        if raw == "":
            continue
        if var.target is None:
            out.ignored.append((name, var.note))
            continue
        if var.name == API_KEY_VAR:
            out.api_key = raw
            continue
        try:
            value = _parse(var, raw)
        except ValueError:
            out.problems.append(
                f"environment variable {name}: expected {expected_text(var)}, got {_shown(raw)} "
                f"(it sets {setting_name(var.target)})"
            )
            continue
        if value is None:  # LOGFLUX_DEBUG=false: keep the file's level
            continue
        out.values[var.target] = value
        out.origin[var.target] = name
    return out
