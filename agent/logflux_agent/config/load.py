"""Turning a YAML file into an ``AgentConfig``, reporting every problem at once with file:line:col.

The loader walks PyYAML's *nodes* (``yaml.compose``), not the constructed objects, so each value
still knows where it was written. The walk is generic: it follows the dataclass fields and type
hints of ``model.py`` (str, int, float, bool, Literal, tuple[str, ...], dict[str, str], nested
dataclasses, optionals, and the ``inputs`` list discriminated by ``type:``); the few settings that
need more than a type (URLs, regexes, fingerprints...) have a check in ``model.CHECKS``.
Then ``${VAR}`` interpolation, the ``LOGFLUX_*`` overrides of ``env.py`` (the environment beats
the file), the API key (``api_key``, ``api_key_file`` or ``LOGFLUX_API_KEY``) and cross-field
checks. Problems are collected, never raised one by one: ``ConfigError.problems`` lists them all.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import stat
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import structlog
import yaml

from logflux_agent.config import env as envvars
from logflux_agent.config import model
from logflux_agent.config.fragments import fragment_paths, merge_fragments
from logflux_agent.config.model import (
    CHECKS,
    JOURNAL_PRIORITIES,
    MAX_LABELS,
    RESERVED_LABELS,
    AgentConfig,
    Invalid,
    bound_problem,
    suggest,
)
from logflux_agent.config.spool import spool_refusal
from logflux_agent.credentials import ApiKey, mask_key, mask_secrets, parse_api_key
from logflux_agent.errors import ConfigError, CredentialError

log = structlog.get_logger(__name__)

MAX_CONFIG_BYTES = 1 << 20
MAX_KEY_FILE_BYTES = 64 << 10
MAX_PROBLEMS = 100
_T = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MERGE = (
    _T + t for t in ("str", "int", "float", "bool", "null", "merge")
)
_TAG_NAMES = {
    INT: "an integer",
    FLOAT: "a number",
    BOOL: "a boolean",
    NULL: "null",
    _T + "timestamp": "a date",
    _T + "binary": "binary data",
}
_CONSTRUCT = {
    NULL: "construct_yaml_null",
    BOOL: "construct_yaml_bool",
    INT: "construct_yaml_int",
    FLOAT: "construct_yaml_float",
    STR: "construct_yaml_str",
}
_CONSTRUCT_ERRORS = (
    ValueError,
    TypeError,
    OverflowError,
    KeyError,
    AttributeError,
    IndexError,
    yaml.YAMLError,
)
_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")


class _Bad:
    """The value could not be read; the problem is already recorded."""


BAD: Any = _Bad()


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A loaded configuration and what a human should know about it."""

    config: AgentConfig
    warnings: tuple[str, ...]
    api_key_origin: str
    env_applied: tuple[tuple[str, str], ...]  # (variable, setting)
    env_ignored: tuple[tuple[str, str], ...]  # (variable, why it has no effect)


@dataclass(frozen=True, slots=True)
class _Scalar:
    tag: str
    text: str
    interpolated: bool


# ---- small helpers -------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _join(path: str, key: str) -> str:
    name = key if _PLAIN_KEY_RE.fullmatch(key) else repr(key)
    if not path:
        return name
    return f"{path}.{name}" if _PLAIN_KEY_RE.fullmatch(key) else f"{path}[{name}]"


def _expect(hint: Any) -> str:
    """What a value of this type looks like, for 'expected ...' messages."""
    if _is_union(hint):
        options = [a for a in get_args(hint) if a is not type(None)]
        if len(options) > 1:
            return "an input: a mapping with type: " + ", ".join(
                str(get_args(_hints(c)["type"])[0]) for c in options
            )
        return _expect(options[0])
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(hint))
    if origin is tuple:
        return "a list of strings" if get_args(hint)[0] is str else "a list"
    if origin is dict:
        return "a mapping of names to strings"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _dataclasses_in(hint: Any) -> list[type]:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return [hint]
    return [c for a in get_args(hint) for c in _dataclasses_in(a)]


@functools.cache
def _homes() -> dict[str, list[str]]:
    """Field name -> the sections that have it, to say where a misplaced key belongs."""
    found: dict[str, list[str]] = {"api_key_file": ["the top level"]}

    def visit(cls: type, where: str) -> None:
        for name, hint in _hints(cls).items():
            if name == "source":
                continue
            if where not in found.setdefault(name, []):
                found[name].append(where)
            for sub in _dataclasses_in(hint):
                if "type" in _hints(sub):
                    label = f"a {get_args(_hints(sub)['type'])[0]} input"
                else:
                    label = (
                        name
                        if where == "the top level" or where.endswith(" input")
                        else f"{where}.{name}"
                    )
                visit(sub, label)

    visit(AgentConfig, "the top level")
    return found


# ---- the walk ------------------------------------------------------------------------------


class Walker:
    """One pass over a composed document; collects problems instead of raising."""

    def __init__(self, source: str, environ: Mapping[str, str]) -> None:
        self.source = source
        self.environ = environ
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.referenced: set[str] = set()
        self.nodes: dict[str, yaml.Node] = {}
        # (path, id, type) of every input whose type is known, valid or not
        self.seen_inputs: list[tuple[str, str | None, str]] = []
        self.fragments: set[str] = set()
        self._scalars: dict[int, _Scalar | None] = {}
        self._ctor = yaml.constructor.SafeConstructor()
        self._resolver = yaml.resolver.Resolver()

    # -- reporting

    def where(self, node: yaml.Node | None) -> str:
        if node is None:
            return self.source
        mark = node.start_mark
        # A node from a conf.d fragment names its own file (see fragments.py).
        source = mark.name if mark.name in self.fragments else self.source
        return f"{source}:{mark.line + 1}:{mark.column + 1}"

    def problem(self, node: yaml.Node | None, path: str, message: str) -> None:
        # Masked as a whole: a key pasted as a mapping key or an id is still a key.
        text = (
            f"{self.where(node)}: {path}: {message}" if path else f"{self.where(node)}: {message}"
        )
        self.problems.append(mask_secrets(text))

    def describe(self, node: yaml.Node, path: str) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        scalar = self.scalar(node, path)
        if scalar is None:
            return "an unusable value"
        text = mask_key(scalar.text) if path.endswith("api_key") else mask_secrets(scalar.text)
        shown = repr(text if len(text) <= 60 else text[:60] + "…")
        if scalar.tag == NULL and not scalar.interpolated:
            return "null (no value)"
        kind = _TAG_NAMES.get(scalar.tag)
        if scalar.tag == STR or scalar.interpolated:
            return shown
        return f"{shown} ({kind or 'a value tagged ' + scalar.tag})"

    def expected(self, node: yaml.Node, path: str, what: str, hint: str = "") -> Any:
        self.problem(node, path, f"expected {what}, got {self.describe(node, path)}{hint}")
        return BAD

    # -- scalars

    def scalar(self, node: yaml.Node, path: str) -> _Scalar | None:
        """The scalar after interpolation, its tag re-resolved; None (reported) when unusable."""
        key = id(node)
        if key in self._scalars:
            return self._scalars[key]
        result: _Scalar | None
        text = str(node.value)
        if "${" in text:
            new, problems, names = envvars.interpolate(text, self.environ)
            self.referenced |= names
            for message in problems:
                self.problem(node, path, message)
            if problems:
                result = None
            else:
                tag = self._resolver.resolve(  # type: ignore[no-untyped-call]
                    yaml.ScalarNode, new, (True, False)
                )
                result = _Scalar(tag, new, True)
        else:
            result = _Scalar(node.tag, text, False)
        self._scalars[key] = result
        return result

    def _construct(self, scalar: _Scalar) -> Any:
        method = _CONSTRUCT.get(scalar.tag)
        if method is None:
            raise ValueError(scalar.tag)
        return getattr(self._ctor, method)(yaml.ScalarNode(scalar.tag, scalar.text))

    def string(self, node: yaml.Node, path: str, *, allow_empty: bool = False) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self.expected(node, path, "a string")
        scalar = self.scalar(node, path)
        if scalar is None:
            return BAD
        if scalar.tag != STR and not scalar.interpolated:
            return self.expected(node, path, "a string", "; quote it to make it one")
        text = scalar.text
        if not text and not allow_empty:
            return self.expected(node, path, "a non-empty string")
        if "\x00" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
            return self.expected(node, path, "text without NUL or lone surrogate characters")
        return text

    def number(self, node: yaml.Node, path: str, kind: type, qual: str) -> Any:
        what = "an integer" if kind is int else "a number"
        if not isinstance(node, yaml.ScalarNode):
            return self.expected(node, path, what)
        scalar = self.scalar(node, path)
        if scalar is None:
            return BAD
        allowed = (INT,) if kind is int else (INT, FLOAT)
        if scalar.tag not in allowed:
            quoted = (
                scalar.tag == STR
                and self._resolver.resolve(  # type: ignore[no-untyped-call]
                    yaml.ScalarNode, scalar.text, (True, False)
                )
                in allowed
            )
            return self.expected(node, path, what, "; remove the quotes" if quoted else "")
        try:
            value = kind(self._construct(scalar))
        except _CONSTRUCT_ERRORS:
            return self.expected(node, path, what)
        message = bound_problem(qual, kind, value)
        if message:
            return self.expected(node, path, message)
        return value

    def boolean(self, node: yaml.Node, path: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self.expected(node, path, "true or false")
        scalar = self.scalar(node, path)
        if scalar is None:
            return BAD
        if scalar.tag != BOOL:
            return self.expected(node, path, "true or false")
        try:
            return bool(self._construct(scalar))
        except _CONSTRUCT_ERRORS:
            return self.expected(node, path, "true or false")

    def means_default(self, node: yaml.Node, path: str) -> bool:
        """No value (``sender:`` with everything below commented out), or ``${VAR:-}`` that
        came out empty: the setting keeps its default."""
        if not isinstance(node, yaml.ScalarNode):
            return False
        scalar = self.scalar(node, path)
        return scalar is not None and (
            (scalar.tag == NULL and not scalar.interpolated)
            or (scalar.interpolated and scalar.text == "")
        )

    def is_null(self, node: yaml.Node, path: str) -> bool:
        if not isinstance(node, yaml.ScalarNode):
            return False
        scalar = self.scalar(node, path)
        return scalar is not None and (
            scalar.tag == NULL or (scalar.tag == STR and scalar.text == "")
        )

    # -- structures

    def pairs(
        self, node: yaml.MappingNode, path: str, depth: int = 0, quiet: bool = False
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """Key/value pairs, merge keys (``<<``) flattened, duplicate keys reported.

        ``quiet``: a second look at a mapping already read; its problems are already reported.
        """
        if quiet:
            saved = len(self.problems)
            result = self.pairs(node, path, depth)
            del self.problems[saved:]
            return result
        explicit: list[tuple[str, yaml.Node, yaml.Node]] = []
        merged: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, yaml.Node] = {}
        for knode, vnode in node.value:
            if knode.tag == MERGE:
                merged.extend(self._merge_source(vnode, path, depth))
                continue
            if not isinstance(knode, yaml.ScalarNode):
                self.expected(knode, path, "a key name")
                continue
            name = str(knode.value)
            if name in seen:
                first = seen[name].start_mark.line + 1
                self.problem(knode, _join(path, name), f"duplicate key (first set on line {first})")
                continue
            seen[name] = knode
            explicit.append((name, knode, vnode))
        taken = set(seen)
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        for item in merged:
            if item[0] not in taken:
                taken.add(item[0])
                out.append(item)
        return out + explicit

    def _merge_source(
        self, node: yaml.Node, path: str, depth: int
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if depth > 8:
            self.problem(node, path, "merge keys (<<) nested too deep or recursive")
            return []
        if isinstance(node, yaml.MappingNode):
            return self.pairs(node, path, depth + 1)
        if isinstance(node, yaml.SequenceNode) and all(
            isinstance(n, yaml.MappingNode) for n in node.value
        ):
            return [p for n in node.value for p in self.pairs(n, path, depth + 1)]
        self.expected(node, path, "a mapping or a list of mappings after '<<'")
        return []

    def convert(self, node: yaml.Node, hint: Any, path: str, qual: str) -> Any:
        """Read ``node`` as a value of type ``hint``; BAD (reported) when it is not one."""
        if _is_union(hint):
            options = [a for a in get_args(hint) if a is not type(None)]
            if len(options) < len(get_args(hint)) and self.is_null(node, path):
                return None
            if len(options) == 1:
                return self.convert(node, options[0], path, qual)
            return self.tagged(node, options, path)
        origin = get_origin(hint)
        if origin is Literal:
            choices = [str(a) for a in get_args(hint)]
            text = self.string(node, path, allow_empty=True)
            if text is BAD:
                return BAD
            if text not in choices:
                return self.expected(
                    node, path, "one of " + ", ".join(choices), suggest(text, choices)
                )
            return text
        if origin is tuple:
            return self.sequence(node, get_args(hint)[0], path, qual)
        if origin is dict:
            return self.str_mapping(node, path, labels=qual.endswith(".labels"))
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return self.dataclass(node, hint, path)
        if hint is bool:
            return self.boolean(node, path)
        if hint in (int, float):
            return self.number(node, path, hint, qual)
        if hint is str:
            return self.string(node, path)
        raise TypeError(f"config loader: no rule for type {hint!r} at {qual}")

    def sequence(self, node: yaml.Node, item: Any, path: str, qual: str) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            hint = ""
            if isinstance(node, yaml.ScalarNode) and item is str and not self.is_null(node, path):
                hint = f" (write [{mask_secrets(str(node.value))!r}] for a list of one)"
            return self.expected(node, path, "a list of strings" if item is str else "a list", hint)
        values = []
        for i, n in enumerate(node.value):
            self.nodes[f"{path}[{i}]"] = n
            values.append(self.convert(n, item, f"{path}[{i}]", qual))
        return BAD if any(v is BAD for v in values) else tuple(values)

    def str_mapping(self, node: yaml.Node, path: str, *, labels: bool = False) -> Any:
        """A ``dict[str, str]``; ``labels`` adds the ingestor's rules for attribute names."""
        if not isinstance(node, yaml.MappingNode):
            return self.expected(node, path, "a mapping of names to strings, like {team: web}")
        out: dict[str, str] = {}
        ok = True
        for name, knode, vnode in self.pairs(node, path):
            sub = _join(path, name)
            if knode.tag != STR:
                self.expected(knode, sub, "a string key", "; quote it")
                ok = False
                continue
            if labels and not self.label_name_ok(knode, name, sub):
                ok = False
            value = self.string(vnode, sub, allow_empty=True)
            if value is BAD:
                ok = False
            elif labels and len(value) > 256:
                self.problem(
                    vnode,
                    sub,
                    f"expected a label value of at most 256 characters, got {len(value)}",
                )
                ok = False
            else:
                out[name] = value
        if labels and ok and len(out) > MAX_LABELS:
            self.problem(
                node,
                path,
                f"expected at most {MAX_LABELS} labels (the ingestor's limit), got {len(out)}",
            )
            ok = False
        return out if ok else BAD

    def label_name_ok(self, knode: yaml.Node, name: str, path: str) -> bool:
        if name.lower() in RESERVED_LABELS:
            self.problem(
                knode,
                path,
                f"label name {name!r} is reserved: LogFlux sets "
                f"{', '.join(RESERVED_LABELS)} itself (in any case)",
            )
            return False
        if not 1 <= len(name) <= 64:
            self.problem(
                knode,
                path,
                f"expected a label name of 1 to 64 characters, got {len(name)} characters",
            )
            return False
        return True

    def tagged(self, node: yaml.Node, options: list[Any], path: str) -> Any:
        """One of several dataclasses, chosen by the value of their ``type`` field."""
        by_type = {str(get_args(_hints(c)["type"])[0]): c for c in options}
        names = list(by_type)
        if not isinstance(node, yaml.MappingNode):
            return self.expected(node, path, f"a mapping with a type: key ({', '.join(names)})")
        pairs = self.pairs(node, path)
        found = [(k, v) for name, k, v in pairs if name == "type"]
        if not found:
            self.problem(
                node,
                _join(path, "type"),
                f"required key is missing: expected one of {', '.join(names)}",
            )
            return BAD
        kind = self.string(found[0][1], _join(path, "type"))
        if kind is BAD:
            return BAD
        if kind not in by_type:
            return self.expected(
                found[0][1], _join(path, "type"), "one of " + ", ".join(names), suggest(kind, names)
            )
        cls = by_type[kind]
        self.seen_inputs.append((path, self._input_id(pairs, cls), kind))
        return self.dataclass(node, cls, path, pairs)

    def _input_id(self, pairs: list[tuple[str, yaml.Node, yaml.Node]], cls: type) -> str | None:
        """The id an input will have, even if the rest of it is invalid (for duplicate checks)."""
        for name, _, vnode in pairs:
            if name == "id" and isinstance(vnode, yaml.ScalarNode):
                scalar = self.scalar(vnode, "")
                return scalar.text if scalar is not None else None
        default = _fields(cls)["id"].default
        return default if isinstance(default, str) else None

    def fields(
        self,
        node: yaml.Node,
        cls: type,
        path: str,
        pairs: list[tuple[str, yaml.Node, yaml.Node]] | None = None,
        skip: frozenset[str] = frozenset(),
        extra: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Any], bool]:
        """The keyword arguments for ``cls`` read from a mapping, and whether all were valid.

        Keys in ``extra`` are returned as raw nodes, for the caller to handle.
        """
        if not isinstance(node, yaml.MappingNode):
            self.expected(node, path, "a mapping")
            return {}, False
        hints = _hints(cls)
        known = {n: f for n, f in _fields(cls).items() if n not in skip}
        kwargs: dict[str, Any] = {}
        ok = True
        for name, knode, vnode in pairs if pairs is not None else self.pairs(node, path):
            sub = _join(path, name)
            if name in extra:
                kwargs[name] = vnode
                self.nodes[sub] = vnode
                continue
            if name == "spool" and (refused := spool_refusal(cls)) is not None:
                self.problem(knode, sub, refused)  # file/journald inputs (config/spool.py)
                ok = False
                continue
            if name not in known:
                self.unknown_key(knode, sub, name, sorted([*known, *extra]))
                ok = False
                continue
            if not _required(known[name]) and self.means_default(vnode, sub):
                self.nodes[sub] = vnode
                continue
            value = self.field(cls, name, hints[name], vnode, sub)
            if value is BAD:
                ok = False
            else:
                kwargs[name] = value
        for name, f in known.items():
            if _required(f) and name not in kwargs and self.nodes.get(_join(path, name)) is None:
                self.problem(
                    node,
                    _join(path, name),
                    f"required key is missing: expected {_expect(hints[name])}",
                )
                ok = False
        return kwargs, ok

    def dataclass(
        self,
        node: yaml.Node,
        cls: type,
        path: str,
        pairs: list[tuple[str, yaml.Node, yaml.Node]] | None = None,
    ) -> Any:
        kwargs, ok = self.fields(node, cls, path, pairs)
        if ok and cls is model.MultilineConfig:
            ok = self.check_multiline(node, kwargs, path)
        return cls(**kwargs) if ok else BAD

    def field(self, cls: type, name: str, hint: Any, node: yaml.Node, path: str) -> Any:
        qual = f"{cls.__name__}.{name}"
        self.nodes[path] = node
        if qual == "JournaldInputConfig.priority":
            return self.priority(node, path)
        if qual.endswith("InputConfig.processors"):
            from logflux_agent.config.processors import read_processors

            return read_processors(self, node, path)
        value = self.convert(node, hint, path, qual)
        if value is BAD or value is None:
            return value
        check = CHECKS.get(qual) or CHECKS.get(f"*.{name}")
        if check is not None:
            try:
                return check(value)
            except Invalid as exc:
                return self.expected(node, path, exc.expected, exc.hint)
        return value

    def unknown_key(self, knode: yaml.Node, path: str, name: str, valid: list[str]) -> None:
        homes = _homes().get(name, [])
        if homes:
            hint = f"; it belongs under {' or '.join(homes)}"
        else:
            hint = suggest(name, valid) or f"; valid keys here: {', '.join(valid)}"
        self.problem(knode, path, f"unknown key{hint}")

    # -- settings that need more than their type

    def priority(self, node: yaml.Node, path: str) -> Any:
        expected = "0 to 7 or a name (emerg, alert, crit, err, warning, notice, info, debug)"
        if self.is_null(node, path):
            return None
        if not isinstance(node, yaml.ScalarNode):
            return self.expected(node, path, expected)
        scalar = self.scalar(node, path)
        if scalar is None:
            return BAD
        if scalar.tag == INT and scalar.text.isdigit() and int(scalar.text) <= 7:
            return int(scalar.text)
        name = scalar.text.lower()
        if scalar.tag == STR and name in JOURNAL_PRIORITIES:
            return JOURNAL_PRIORITIES[name]
        return self.expected(node, path, expected, suggest(name, list(JOURNAL_PRIORITIES)))

    def check_multiline(self, node: yaml.Node, kwargs: dict[str, Any], path: str) -> bool:
        given = [k for k in ("start_pattern", "continue_pattern") if kwargs.get(k)]
        if len(given) == 1:
            return True
        self.problem(
            node,
            path,
            f"expected exactly one of start_pattern (a line matching it "
            f"starts an entry) or continue_pattern (a line matching it "
            f"continues one), got {'both' if given else 'neither'}",
        )
        return False


# ---- the whole file ------------------------------------------------------------------------


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


def _read_key_file(w: Walker, node: yaml.Node, path: str) -> str | None:
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


def _parse_key(w: Walker, node: yaml.Node | None, where: str, raw: str) -> ApiKey | None:
    try:
        return parse_api_key(raw)
    except CredentialError as exc:
        w.problem(node, where, str(exc))
        return None


def _api_key(
    w: Walker, root: yaml.Node, nodes: Mapping[str, Any], env_key: str | None
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


def _apply_env(w: Walker, kwargs: dict[str, Any], overrides: envvars.EnvOverrides) -> None:
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


def _final_checks(w: Walker, kwargs: dict[str, Any], key: ApiKey | None) -> None:
    sender = kwargs.get("sender") or model.SenderConfig()
    if sender.retry_max_delay < sender.retry_initial_delay:
        node = w.nodes.get("sender.retry_max_delay")
        w.problem(
            node,
            "sender.retry_max_delay",
            f"expected a value ≥ sender.retry_initial_delay "
            f"({sender.retry_initial_delay:g} s), got {sender.retry_max_delay:g}",
        )
    ids: dict[str, str] = {}
    stdin_seen = False
    for path, ident, kind in w.seen_inputs:
        if ident is not None and ident in ids:
            w.problem(
                w.nodes.get(path + ".id") or w.nodes.get(path),
                path + ".id",
                f"duplicate input id {ident!r} (also {ids[ident]}): every input needs "
                f"its own id (checkpoints are kept by id)",
            )
        elif ident is not None:
            ids[ident] = path
        if kind == "stdin":
            if stdin_seen:
                w.problem(
                    w.nodes.get(path),
                    path,
                    "expected at most one stdin input (it reads the agent's standard input)",
                )
            stdin_seen = True
    for i, cfg in enumerate(kwargs.get("inputs", ())):
        path = f"inputs[{i}]"
        merged = {**kwargs.get("labels", {}), **cfg.labels}
        if len(merged) > MAX_LABELS:
            w.problem(
                w.nodes.get(path + ".labels"),
                path + ".labels",
                f"expected at most {MAX_LABELS} labels together with the top-level "
                f"labels (the ingestor's limit), got {len(merged)}",
            )
    _check_listeners(w, kwargs)
    if key is not None and kwargs.get("region") and key.region and kwargs["region"] != key.region:
        w.warnings.append(
            f"region: {kwargs['region']!r} overrides the key's own region {key.region!r}"
        )
    if kwargs.get("tls_verify") is False:
        w.warnings.append(
            "tls_verify is false: the ingestor's TLS certificate is not checked "
            "(use ca_file for a private CA instead)"
        )


# ---- socket and syslog inputs: listener rules -----------------------------------------------


def _check_listeners(w: Walker, kwargs: dict[str, Any]) -> None:
    """Socket/syslog inputs: at least one listener; non-loopback needs ``allow_remote: true``."""
    for i, cfg in enumerate(kwargs.get("inputs", ())):
        if not isinstance(cfg, model.SocketInputConfig | model.SyslogInputConfig):
            continue
        path = f"inputs[{i}]"
        keys = ("tcp",) if isinstance(cfg, model.SocketInputConfig) else ("udp", "tcp")
        if isinstance(cfg, model.SyslogInputConfig) and not (cfg.udp or cfg.tcp or cfg.unix):
            w.problem(
                w.nodes.get(path),
                path,
                "a syslog input needs at least one of udp: HOST:PORT, tcp: HOST:PORT or unix: PATH",
            )
        for key in keys:
            address = getattr(cfg, key)
            if address is None or model.is_loopback(model.split_hostport(address)[0]):
                continue
            if not cfg.allow_remote:
                w.problem(
                    w.nodes.get(f"{path}.{key}"),
                    f"{path}.{key}",
                    f"expected a loopback address (127.0.0.1, [::1], localhost), got "
                    f"{address!r}: to accept entries from other machines set "
                    f"allow_remote: true on this input",
                )
            else:
                w.warnings.append(
                    f"{path}.{key}: {address} accepts connections from other machines "
                    "(allow_remote: true)"
                )
        if isinstance(cfg, model.SocketInputConfig) and cfg.tcp and not cfg.require_secret:
            w.warnings.append(
                f"{path}: require_secret is false: entries without a shared secret are "
                f"accepted on {cfg.tcp} from any local process"
            )


def _insecure(w: Walker, path: str, key_node: yaml.Node | None) -> None:
    if key_node is None or "${" in str(key_node.value):
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if mode & 0o044:
        log.warning("config.insecure_permissions", path=path, mode=f"{mode:04o}")
        w.warnings.append(
            f"{path} holds an api_key and is readable by group or others "
            f"(mode {mode:04o}): run chmod 600 {path}"
        )


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
    _apply_env(w, kwargs, overrides)
    key, origin = _api_key(w, root, nodes, overrides.api_key)
    _final_checks(w, kwargs, key)
    if w.problems or key is None:
        problems = _in_document_order(w.problems, source)[:MAX_PROBLEMS]
        if len(w.problems) > MAX_PROBLEMS:
            problems.append(f"… and {len(w.problems) - MAX_PROBLEMS} more problems")
        raise ConfigError(problems)
    for message in w.warnings:
        log.warning("config.warning", source=source, message=message)
    if file_path is not None:
        _insecure(w, file_path, nodes.get("api_key"))
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
