"""Reading one YAML node: where it is, what it holds, and problems reported against it.

``NodeReader`` is the state of one load (problems, warnings, the nodes seen by key path) and
the scalar rules: ``${VAR}`` interpolation then the tag re-resolved, strings, numbers within
their bounds, booleans, and what counts as "no value". A value that cannot be read comes back
as ``BAD`` after its problem was recorded with file:line:col and key path. The structures
(mappings, lists, dataclasses) are walked by ``walker.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from logflux_agent.config import env as envvars
from logflux_agent.config.model import bound_problem
from logflux_agent.credentials import mask_key, mask_secrets

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


class _Bad:
    """The value could not be read; the problem is already recorded."""


BAD: Any = _Bad()


@dataclass(frozen=True, slots=True)
class _Scalar:
    tag: str
    text: str
    interpolated: bool


class NodeReader:
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
