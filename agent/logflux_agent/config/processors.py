"""The ``processors:`` list of an input: one frozen dataclass per processor, and reading it.

Each list item is a one-key mapping, the processor's name and its options
(``- json: {message_key: msg}``; ``- cri`` alone means every option at its default). The options
of most processors are read by the generic walker of ``load.py`` (so every value error has
file:line:col and the key path); ``set``, ``rename``, ``drop_fields`` and ``level.map`` have
their own small readers because their shape is a bare mapping or list. The rules beyond the
types (a regex compiles, the order of the list, an input's own ``multiline:`` next to its
processors) are config/processor_rules.py. The defaults are repeated in
config/agent.yaml.example and docs/processing.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from logflux_agent.config.privacy import (
    PRIVACY_KINDS,
    ExcludeProcessor,
    IncludeProcessor,
    MinLevelProcessor,
    RedactProcessor,
    SampleProcessor,
    SearchTokensProcessor,
    ThrottleProcessor,
)
from logflux_agent.config.privacy import check as check_privacy

TIME_FORMATS = ("rfc3339", "unix", "unix_ms", "unix_us", "unix_ns")
# LogFlux levels by name (protocol.md §5): syslog severity + 1.
LEVEL_NAMES = {
    "emergency": 1,
    "alert": 2,
    "critical": 3,
    "error": 4,
    "warning": 5,
    "notice": 6,
    "info": 7,
    "debug": 8,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonProcessor:
    """An object line → fields (nested keys joined with ``.``); ``message_key`` → message."""

    message_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogfmtProcessor:
    """``key=value key2="quoted value"`` → fields; ``message_key`` → message."""

    message_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegexProcessor:
    """A Python regular expression's named groups → fields (``re.search``)."""

    pattern: str
    message_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CriProcessor:
    """Unwrap ``<time> <stream> <P|F> <text>``; join partials until F (at most ``max_bytes``)."""

    max_bytes: int = 262_144
    partial_timeout: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerProcessor:
    """Unwrap Docker json-file lines; join ``log`` pieces that do not end in a newline."""

    max_bytes: int = 262_144
    partial_timeout: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SyslogProcessor:
    """An RFC 5424 / RFC 3164 line → level (PRI), ts, header and structured-data fields."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MultilineProcessor:
    """Join lines into entries (stack traces), per file and stream; the input option's rule."""

    start_pattern: str | None = None
    continue_pattern: str | None = None
    max_lines: int = 500
    max_bytes: int = 262_144
    timeout: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectLevelProcessor:
    """Guess the level from the message's first words (``ERROR``, ``[warn]``, ``level=…``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesProcessor:
    """Namespace, pod, pod uid, container (and restart count or container id) from the path."""

    prefix: str = "k8s."


@dataclass(frozen=True, slots=True, kw_only=True)
class TimestampProcessor:
    """A field → the entry's ``ts``, trying ``formats`` in order (strptime patterns allowed)."""

    field: str = "ts"
    formats: tuple[str, ...] = ("rfc3339", "unix")


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelProcessor:
    """A field → the entry's ``level`` (names and numbers; ``map`` adds or overrides names)."""

    field: str = "level"
    map: dict[str, int] = dataclasses.field(default_factory=dict)
    # (Literal spelled out: load.py resolves these hints in model.py's namespace.)
    numbers: Literal["auto", "syslog", "logflux"] = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetProcessor:
    """Static attributes, added where the processor stands in the chain."""

    fields: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenameProcessor:
    """Rename fields (and attributes set before it): ``{old: new}``."""

    fields: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropFieldsProcessor:
    """Remove fields (and attributes set before it) by name."""

    fields: tuple[str, ...] = ()


ProcessorConfig = (
    JsonProcessor
    | LogfmtProcessor
    | RegexProcessor
    | CriProcessor
    | DockerProcessor
    | SyslogProcessor
    | MultilineProcessor
    | DetectLevelProcessor
    | KubernetesProcessor
    | TimestampProcessor
    | LevelProcessor
    | SetProcessor
    | RenameProcessor
    | DropFieldsProcessor
    | IncludeProcessor
    | ExcludeProcessor
    | MinLevelProcessor
    | SampleProcessor
    | ThrottleProcessor
    | RedactProcessor
    | SearchTokensProcessor
)

KINDS: dict[str, type] = {
    "json": JsonProcessor,
    "logfmt": LogfmtProcessor,
    "regex": RegexProcessor,
    "cri": CriProcessor,
    "docker": DockerProcessor,
    "syslog": SyslogProcessor,
    "multiline": MultilineProcessor,
    "detect_level": DetectLevelProcessor,
    "kubernetes": KubernetesProcessor,
    "timestamp": TimestampProcessor,
    "level": LevelProcessor,
    "set": SetProcessor,
    "rename": RenameProcessor,
    "drop_fields": DropFieldsProcessor,
    **PRIVACY_KINDS,
}
NAMES: dict[type, str] = {cls: name for name, cls in KINDS.items()}
UNWRAPPERS = ("cri", "docker")
PARSERS = ("json", "logfmt", "regex", "syslog")
NEEDS_FIELDS = ("timestamp", "level")


def processor_name(cfg: object) -> str:
    return NAMES[type(cfg)]


def describe(cfg: object) -> str:
    """``json(message_key=msg)``: the processor and its non-default options, for ``validate``."""
    try:
        defaults: object | None = type(cfg)()
    except TypeError:  # a required option (regex.pattern, include.patterns): show all
        defaults = None
    parts = []
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        if defaults is None or value != getattr(defaults, f.name):
            if isinstance(value, dict):
                shown = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
            else:
                shown = ", ".join(value) if isinstance(value, tuple) else str(value)
            parts.append(f"{f.name}={shown}")
    text = processor_name(cfg) + (f"({'; '.join(parts)})" if parts else "")
    if isinstance(cfg, SearchTokensProcessor):
        text += " [search tokens travel UNENCRYPTED in a part header: the server can read them]"
    return text


# ---- reading (called from load.Walker.field for every ``*.processors`` key) ------------------


def read_processors(w: Any, node: Any, path: str) -> Any:
    """The processors of one input, or ``BAD`` with every problem reported on ``w``."""
    import yaml

    from logflux_agent.config.model import suggest
    from logflux_agent.config.nodes import BAD

    if w.is_null(node, path):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        return w.expected(node, path, "a list of processors, like [cri: {}, json: {}]")
    out: list[Any] = []
    ok = True
    for i, item in enumerate(node.value):
        sub = f"{path}[{i}]"
        if isinstance(item, yaml.ScalarNode) and item.tag.endswith(":str"):
            name, knode, vnode = str(item.value), item, None
        elif isinstance(item, yaml.MappingNode) and len(item.value) == 1:
            knode, vnode = item.value[0]
            name = str(knode.value)
        else:
            w.expected(
                item,
                sub,
                "one processor per list item: its name as the only key, like "
                "`- json: {message_key: msg}`",
            )
            ok = False
            continue
        cls = KINDS.get(name)
        if cls is None:
            w.problem(
                knode,
                sub,
                f"unknown processor {name!r}: expected one of {', '.join(KINDS)}"
                + suggest(name, list(KINDS)),
            )
            ok = False
            continue
        value = _options(w, cls, vnode, f"{sub}.{name}", knode)
        if value is BAD:
            ok = False
            continue
        out.append((value, knode))
    if not ok:
        return BAD
    from logflux_agent.config.processor_rules import order_ok

    if not order_ok(w, out, path):
        return BAD
    return tuple(cfg for cfg, _ in out)


def _options(w: Any, cls: type, node: Any, path: str, knode: Any) -> Any:
    empty = node is None or w.means_default(node, path)
    if cls in (SetProcessor, RenameProcessor):
        return _field_map(w, cls, node, path, knode, empty)
    if cls is DropFieldsProcessor:
        return _drop_fields(w, node, path, knode, empty)
    return _structured(w, cls, node, path, knode, empty)


def _field_map(w: Any, cls: type, node: Any, path: str, knode: Any, empty: bool) -> Any:
    """``set:`` / ``rename:``: a mapping of names (a rename's new names non-empty)."""
    from logflux_agent.config.nodes import BAD

    if empty:
        return w.expected(node or knode, path, "a mapping of names, like {env: prod}")
    fields = w.str_mapping(node, path)
    if fields is BAD:
        return BAD
    if cls is RenameProcessor:
        for old, new in fields.items():
            if not new:
                w.problem(node, f"{path}.{old}", "expected a non-empty new name")
                return BAD
    return cls(fields=fields)


def _drop_fields(w: Any, node: Any, path: str, knode: Any, empty: bool) -> Any:
    """``drop_fields:``: a list of at least one field name."""
    from logflux_agent.config.nodes import BAD

    names = BAD if empty else w.sequence(node, str, path, "DropFieldsProcessor.fields")
    if names is BAD or not names:
        if names is BAD:
            return BAD
        return w.expected(node or knode, path, "a list of at least one field name")
    return DropFieldsProcessor(fields=names)


def _structured(w: Any, cls: type, node: Any, path: str, knode: Any, empty: bool) -> Any:
    """A processor with its own settings mapping (``level:`` also takes a ``map:``)."""
    import yaml

    from logflux_agent.config.nodes import BAD

    if cls in PRIVACY_KINDS.values() and empty and cls in _REQUIRED_OPTIONS:
        return w.expected(knode, path, _REQUIRED_OPTIONS[cls])
    if empty:
        node = yaml.MappingNode("tag:yaml.org,2002:map", [], knode.start_mark)
    pairs = None
    level_map: dict[str, int] = {}
    if cls is LevelProcessor and isinstance(node, yaml.MappingNode):
        pairs = w.pairs(node, path)
        for name, _, vnode in pairs:
            if name == "map":
                level_map = _level_map(w, vnode, f"{path}.map")
        pairs = [p for p in pairs if p[0] != "map"]
        if level_map is BAD:
            return BAD
    value = w.dataclass(node, cls, path, pairs)
    if value is BAD:
        return BAD
    if level_map:
        value = dataclasses.replace(value, map=level_map)
    if cls in PRIVACY_KINDS.values():
        return check_privacy(w, value, node, path)
    from logflux_agent.config.processor_rules import check_values

    return check_values(w, value, node, path)


_REQUIRED_OPTIONS: dict[type, str] = {
    IncludeProcessor: "options like {patterns: ['error']}",
    ExcludeProcessor: "options like {patterns: ['GET /health']}",
    MinLevelProcessor: "options like {level: warning}",
    SampleProcessor: "options like {every: 10}",
    ThrottleProcessor: "options like {rate: 100, burst: 200}",
}


def _level_map(w: Any, node: Any, path: str) -> Any:
    import yaml

    from logflux_agent.config.nodes import BAD

    expectation = "a LogFlux level: 1 to 8 or a name (" + ", ".join(LEVEL_NAMES) + ")"
    if not isinstance(node, yaml.MappingNode):
        return w.expected(node, path, "a mapping of values to levels, like {fatal: critical}")
    out: dict[str, int] = {}
    ok = True
    for name, _, vnode in w.pairs(node, path):
        sub = f"{path}[{name!r}]"
        text = str(vnode.value).strip().lower() if isinstance(vnode, yaml.ScalarNode) else ""
        level = LEVEL_NAMES.get(text) or (int(text) if text.isdigit() else 0)
        if not 1 <= level <= 8:
            w.expected(vnode, sub, expectation)
            ok = False
            continue
        out[name.lower()] = level
    return out if ok else BAD
