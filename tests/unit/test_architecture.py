"""Imports point down the flow: inputs know nothing of HTTP, the dev ingestor nothing of ingest/.

The reference ingestor must not share code with the client it checks, or one shared mistake
would make both sides agree.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "agent" / "logflux_agent"

# module prefix -> prefixes it must never import
FORBIDDEN = {
    "logflux_agent.devserver": (
        "logflux_agent.ingest",
        "logflux_agent.pipeline",
        "logflux_agent.inputs",
        "logflux_agent.supervisor",
    ),
    "logflux_agent.inputs": (
        "logflux_agent.ingest",
        "logflux_agent.pipeline",
        "logflux_agent.supervisor",
        "logflux_agent.devserver",
        "aiohttp",
    ),
    "logflux_agent.ingest": (
        "logflux_agent.inputs",
        "logflux_agent.pipeline",
        "logflux_agent.supervisor",
        "logflux_agent.devserver",
    ),
    "logflux_agent.pipeline": (
        "logflux_agent.inputs",
        "logflux_agent.devserver",
        "logflux_agent.supervisor",
        "aiohttp",
    ),
    # The status table is pure data: testable row by row without a network or an HTTP stack.
    "logflux_agent.ingest.outcome": ("aiohttp", "logflux_agent.ingest.http"),
    "logflux_agent.config": (
        "logflux_agent.ingest",
        "logflux_agent.pipeline",
        "logflux_agent.inputs",
        "logflux_agent.devserver",
    ),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_module_imports_point_down_the_flow(path: Path) -> None:
    name = module_name(path)
    for owner, banned in FORBIDDEN.items():
        if name == owner or name.startswith(owner + "."):
            bad = sorted(i for i in imports_of(path) if i.startswith(banned))
            assert not bad, f"{name} must not import {bad}"


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_every_module_says_what_it_owns(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{module_name(path)} has no module docstring"


def test_outcome_table_loads_without_an_http_stack() -> None:
    # Transitively too: a fresh interpreter importing ingest/outcome.py never loads aiohttp.
    import subprocess
    import sys

    code = (
        "import sys, logflux_agent.ingest.outcome; "
        "sys.exit(any(m == 'aiohttp' or m.startswith('aiohttp.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
