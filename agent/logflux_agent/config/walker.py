"""The generic walk: YAML mappings, lists and tagged unions into the dataclasses of ``model.py``.

It follows the dataclass fields and type hints (str, int, float, bool, Literal, tuple[str, ...],
dict[str, str], nested dataclasses, optionals, and the ``inputs`` list discriminated by
``type:``); merge keys (``<<``) are flattened and duplicate keys reported; an unknown key gets a
"did you mean" or the section it belongs in. The value rules beyond a type are in
``checks.py`` (and ``model.CHECKS``); the scalars and the reporting in ``nodes.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from logflux_agent.config import checks, model
from logflux_agent.config.model import CHECKS, MAX_LABELS, AgentConfig, Invalid, suggest
from logflux_agent.config.nodes import BAD, MERGE, STR, NodeReader
from logflux_agent.config.spool import spool_refusal
from logflux_agent.credentials import mask_secrets

_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")


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


class Walker(NodeReader):
    """The structures of one document, read into ``model.py``'s dataclasses."""

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
            return self.union(node, hint, path, qual)
        origin = get_origin(hint)
        if origin is Literal:
            return self.literal(node, hint, path)
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

    def union(self, node: yaml.Node, hint: Any, path: str, qual: str) -> Any:
        """An optional value (null allowed), or one of several inputs chosen by ``type:``."""
        options = [a for a in get_args(hint) if a is not type(None)]
        if len(options) < len(get_args(hint)) and self.is_null(node, path):
            return None
        if len(options) == 1:
            return self.convert(node, options[0], path, qual)
        return self.tagged(node, options, path)

    def literal(self, node: yaml.Node, hint: Any, path: str) -> Any:
        choices = [str(a) for a in get_args(hint)]
        text = self.string(node, path, allow_empty=True)
        if text is BAD:
            return BAD
        if text not in choices:
            return self.expected(node, path, "one of " + ", ".join(choices), suggest(text, choices))
        return text

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
            if labels and not checks.label_name_ok(self, knode, name, sub):
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
            ok = checks.check_multiline(self, node, kwargs, path)
        return cls(**kwargs) if ok else BAD

    def field(self, cls: type, name: str, hint: Any, node: yaml.Node, path: str) -> Any:
        qual = f"{cls.__name__}.{name}"
        self.nodes[path] = node
        if qual == "JournaldInputConfig.priority":
            return checks.priority(self, node, path)
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
