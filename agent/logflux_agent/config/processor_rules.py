"""The rules a ``processors:`` list must follow beyond its types, reported at file:line:col.

Values: a regex compiles and has named groups, timestamp formats are known, a container
unwrapper's cap is at least 1 KiB, a ``multiline`` has exactly one pattern that compiles.

Order (the list is the order applied; docs/processing.md "Order"):

- ``cri``/``docker`` first, and only one of them: what runs before would see the wrapper;
- ``multiline`` at most once, and before every parser (``json``, ``logfmt``, ``regex``,
  ``syslog``), ``redact`` and ``search_tokens``: those work on whole entries, and the lines it
  joins would each have been parsed, redacted or tokenised alone;
- ``timestamp``/``level`` after a parser (they read a field);
- ``detect_level`` not after ``level`` or ``syslog`` (it would overwrite the level they read);
- ``search_tokens`` after ``redact`` unless ``before_redact`` (config/privacy.py).

Across an input's keys (``check_inputs``, from checks.final_checks): the input option
``multiline:`` joins raw lines before any processor runs, so it cannot be combined with
``cri``/``docker`` (it would join the runtime's wrapped lines) nor with a ``multiline``
processor; the message says what to write instead.
"""

from __future__ import annotations

import re
from typing import Any

from logflux_agent.config.privacy import order_problem
from logflux_agent.config.processors import (
    NEEDS_FIELDS,
    PARSERS,
    TIME_FORMATS,
    UNWRAPPERS,
    CriProcessor,
    DockerProcessor,
    MultilineProcessor,
    RegexProcessor,
    TimestampProcessor,
    processor_name,
)

# What a multiline must come before (see the module docstring).
WHOLE_ENTRY = (*PARSERS, "redact", "search_tokens")


def check_values(w: Any, cfg: Any, node: Any, path: str) -> Any:
    """``cfg`` when its values make sense, else BAD with the problem reported on ``w``."""
    if isinstance(cfg, RegexProcessor):
        where = w.nodes.get(f"{path}.pattern", node)
        try:
            compiled = re.compile(cfg.pattern)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            return w.expected(where, f"{path}.pattern", "a regular expression", f" ({exc})")
        if not compiled.groupindex:
            return w.expected(
                where, f"{path}.pattern", "a regular expression with named groups like (?P<name>…)"
            )
    if isinstance(cfg, TimestampProcessor):
        for i, fmt in enumerate(cfg.formats):
            if fmt not in TIME_FORMATS and "%" not in fmt:
                where = w.nodes.get(f"{path}.formats[{i}]", node)
                return w.expected(
                    where,
                    f"{path}.formats[{i}]",
                    f"one of {', '.join(TIME_FORMATS)} or a strptime pattern with %-codes",
                )
        if not cfg.formats:
            return w.expected(node, f"{path}.formats", "at least one format")
    if isinstance(cfg, CriProcessor | DockerProcessor | MultilineProcessor) and (
        cfg.max_bytes < 1024
    ):
        where = w.nodes.get(f"{path}.max_bytes", node)
        return w.expected(where, f"{path}.max_bytes", "an integer ≥ 1024")
    if isinstance(cfg, MultilineProcessor):
        return _multiline(w, cfg, node, path)
    return cfg


def _multiline(w: Any, cfg: MultilineProcessor, node: Any, path: str) -> Any:
    from logflux_agent.config.nodes import BAD

    given = [k for k in ("start_pattern", "continue_pattern") if getattr(cfg, k)]
    if len(given) != 1:
        w.problem(
            node,
            path,
            "expected exactly one of start_pattern (a line matching it starts an entry) or "
            f"continue_pattern (a line matching it continues one), got "
            f"{'both' if given else 'neither'}",
        )
        return BAD
    key = given[0]
    where = w.nodes.get(f"{path}.{key}", node)
    try:
        re.compile(getattr(cfg, key))
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        return w.expected(where, f"{path}.{key}", "a regular expression", f" ({exc})")
    if cfg.max_lines < 1:
        where = w.nodes.get(f"{path}.max_lines", node)
        return w.expected(where, f"{path}.max_lines", "an integer ≥ 1")
    if cfg.timeout <= 0:
        where = w.nodes.get(f"{path}.timeout", node)
        return w.expected(where, f"{path}.timeout", "a number of seconds > 0")
    return cfg


def _position_problem(names: list[str], i: int) -> str | None:
    """Why processor ``i`` cannot stand where it is, or None (the order rules above)."""
    name, before = names[i], names[:i]
    if name in UNWRAPPERS and i > 0:
        return (
            f"{name} must be the first processor: it unwraps the container runtime's line, "
            f"so what runs before it would see the wrapper (found after {names[i - 1]})"
        )
    if name in NEEDS_FIELDS and not set(before) & set(PARSERS):
        return f"{name} reads a field, but no parser ({', '.join(PARSERS)}) runs before it"
    if name == "multiline":
        if "multiline" in before:
            return "multiline appears twice: one rule joins the lines of an entry"
        found = [n for n in before if n in WHOLE_ENTRY]
        if found:
            return (
                f"multiline must come before {found[0]}: it joins lines into one entry, and "
                f"{found[0]} works on whole entries (move multiline up, right after "
                f"{'/'.join(UNWRAPPERS)} if there is one)"
            )
    stated = [n for n in before if n in ("level", "syslog")]
    if name == "detect_level" and stated:
        return (
            f"detect_level after {stated[0]} would overwrite the level {stated[0]} read from "
            f"the line: remove detect_level or put it first"
        )
    return None


def order_ok(w: Any, items: list[tuple[Any, Any]], path: str) -> bool:
    """Whether the processors in ``items`` ((cfg, key node) in list order) may run in that
    order; each problem is reported on ``w`` at the processor's key."""
    names = [processor_name(cfg) for cfg, _ in items]
    ok = True
    for i, (_, knode) in enumerate(items):
        why = _position_problem(names, i)
        if why is not None:
            w.problem(knode, f"{path}[{i}]", why)
            ok = False
    found = order_problem(names, [cfg for cfg, _ in items])
    if found is not None:
        i, message = found
        w.problem(items[i][1], f"{path}[{i}]", message)
        ok = False
    return ok


def check_inputs(w: Any, inputs: tuple[Any, ...]) -> None:
    """An input's own ``multiline:`` option next to processors that make it wrong."""
    for i, cfg in enumerate(inputs):
        if getattr(cfg, "multiline", None) is None:
            continue
        names = [processor_name(p) for p in getattr(cfg, "processors", ())]
        clash = next((n for n in names if n in (*UNWRAPPERS, "multiline")), None)
        if clash is None:
            continue
        path = f"inputs[{i}].multiline"
        if clash == "multiline":
            why = "both the multiline option and a multiline processor: keep the processor"
        else:
            why = (
                f"the multiline option joins lines before {clash} unwraps them, so it sees "
                f"the runtime's wrapper: write it as a processor after {clash}, like "
                f"`processors: [{clash}, multiline: {{start_pattern: ...}}]`"
            )
        w.problem(w.nodes.get(path), path, why)
