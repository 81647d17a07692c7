"""``conf.d/*.yaml``: configuration fragments merged after the main file, in name order.

A package, a config-management role or a sidecar can drop ``<config dir>/conf.d/20-nginx.yaml``
with its own inputs instead of editing the main file. The merge happens on YAML *nodes*, before
the loader's walk, so every value keeps its own file:line:col and every check of the loader
applies to fragments alike:

- ``inputs`` lists are appended (main file first, then each fragment in name order);
- mappings (``labels``, ``sender``, ...) are merged key by key, recursively;
- a setting given twice (any other value) is an error naming both locations: a fragment adds
  settings, it never silently changes one.

Only regular files whose name ends in ``.yaml`` count (editor backups such as ``x.yaml~`` or
``.x.yaml.swp`` do not), so a half-written file from an editor is never picked up.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import yaml

from logflux_agent.credentials import mask_secrets

FRAGMENT_DIR = "conf.d"
MAX_FRAGMENTS = 256
_APPENDED = frozenset({"inputs"})

Where = Callable[[yaml.Node], str]


def fragment_dir(main_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(main_path)), FRAGMENT_DIR)


def is_fragment(main_path: str, path: str) -> bool:
    name = os.path.basename(path)
    return (
        os.path.dirname(os.path.abspath(path)) == fragment_dir(main_path)
        and name.endswith(".yaml")
        and not name.startswith(".")
    )


def fragment_paths(main_path: str) -> list[str]:
    """The fragments of ``main_path``, sorted by name; [] when there is no conf.d."""
    base = fragment_dir(main_path)
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    shown = os.path.join(os.path.dirname(main_path), FRAGMENT_DIR)
    out = []
    for name in names:
        path = os.path.join(shown, name)
        if is_fragment(main_path, path) and os.path.isfile(path):
            out.append(path)
    return out[:MAX_FRAGMENTS]


def compose(text: str, path: str, problems: list[str]) -> yaml.Node | None:
    """Compose ``text`` with marks naming ``path``; None (problem added) when not YAML."""
    stream = io.StringIO(text)
    stream.name = path  # PyYAML names its marks after stream.name
    try:
        return yaml.compose(stream, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        what = "; ".join(p for p in (exc.context, exc.problem) if p)
        problems.append(f"{where}: not valid YAML: {mask_secrets(what)}")
    except (yaml.YAMLError, RecursionError) as exc:
        problems.append(f"{path}: not valid YAML: {mask_secrets(str(exc))[:200]}")
    return None


def _key(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:merge":
        return str(node.value)
    return None


def merge(
    into: yaml.MappingNode,
    extra: yaml.MappingNode,
    where: Where,
    problems: list[str],
    path: str = "",
) -> None:
    """Merge ``extra`` into ``into`` in place (rules in the module docstring)."""
    existing: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for knode, vnode in into.value:
        name = _key(knode)
        if name is not None and name not in existing:
            existing[name] = (knode, vnode)
    for knode, vnode in extra.value:
        name = _key(knode)
        if name is None or name not in existing:
            into.value.append((knode, vnode))
            if name is not None:
                existing[name] = (knode, vnode)
            continue
        first_k, first_v = existing[name]
        full = f"{path}.{name}" if path else name
        if (
            not path
            and name in _APPENDED
            and isinstance(first_v, yaml.SequenceNode)
            and isinstance(vnode, yaml.SequenceNode)
        ):
            first_v.value.extend(vnode.value)
        elif isinstance(first_v, yaml.MappingNode) and isinstance(vnode, yaml.MappingNode):
            merge(first_v, vnode, where, problems, full)
        else:
            problems.append(
                mask_secrets(
                    f"{where(knode)}: {full}: set again (first set at {where(first_k)}); "
                    "a conf.d fragment may add settings and inputs but not change one"
                )
            )


def merge_fragments(
    root: yaml.MappingNode,
    main_path: str,
    read: Callable[[str], str],
    where: Where,
    problems: list[str],
) -> list[str]:
    """Merge every fragment of ``main_path`` into ``root``; returns the fragment paths read."""
    used = []
    for path in fragment_paths(main_path):
        try:
            text = read(path)
        except Exception as exc:  # ConfigError from the reader: keep its message
            problems.extend(getattr(exc, "problems", None) or [str(exc)])
            continue
        node = compose(text, path, problems)
        used.append(path)
        if node is None:
            continue  # empty (or broken, reported): nothing to add
        if not isinstance(node, yaml.MappingNode):
            problems.append(
                f"{where(node)}: expected a mapping of settings (key: value) at the top level"
            )
            continue
        merge(root, node, where, problems)
    return used
