"""Imports point down the flow: inputs know nothing of HTTP, the dev ingestor nothing of ingest/.

Also: only the checkpointer writes the checkpoint store (no input does), and no module grows
past the line limit.

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


# What an input may take from checkpoints.py: the read-and-declare view, never the store.
INPUT_CHECKPOINT_NAMES = {"Positions"}
# Not yet switched to ``Positions`` (they only annotate and drop the store they are handed);
# owned by the socket/syslog work, remove each entry once its module takes ``Positions``.
INPUT_CHECKPOINT_ALLOWED = {
    "logflux_agent.inputs.socket.input": {"CheckpointStore"},
    "logflux_agent.inputs.syslog.input": {"CheckpointStore"},
}
_STORE_WRITES = {"put", "remove", "flush"}


def input_modules() -> list[Path]:
    return sorted((PACKAGE / "inputs").rglob("*.py"))


@pytest.mark.parametrize("path", input_modules(), ids=lambda p: module_name(p))
def test_no_input_writes_the_checkpoint_store(path: Path) -> None:
    # The checkpointer (pipeline/checkpointer.py) is the store's one writer: inputs read their
    # start positions and declare facts through ``Positions``; commits come from the ack path.
    name = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed = INPUT_CHECKPOINT_NAMES | INPUT_CHECKPOINT_ALLOWED.get(name, set())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "logflux_agent.checkpoints":
            names = {alias.name for alias in node.names}
            assert names <= allowed, f"{name} imports {sorted(names - allowed)} from checkpoints"
        elif isinstance(node, ast.Import):
            assert not any(a.name == "logflux_agent.checkpoints" for a in node.names), name
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _STORE_WRITES
            and "store" in ast.unparse(node.func.value).lower()
        ):
            raise AssertionError(f"{name}:{node.lineno} writes a store: {ast.unparse(node)}")


MAX_MODULE_LINES = 450
# Modules still over the limit, each waiting for its own split (owned by other work items):
# remove an entry when its module is split; a module not listed here may never grow past it.
OVERSIZED_ALLOWED: set[str] = set()


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_no_module_is_over_the_line_limit(path: Path) -> None:
    name = module_name(path)
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if name in OVERSIZED_ALLOWED:
        return
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines (limit {MAX_MODULE_LINES})"


def test_the_oversized_allow_list_names_only_modules_still_over_the_limit() -> None:
    # A module split below the limit must leave the list, so the rule then guards it too.
    sizes = {module_name(p): len(p.read_text(encoding="utf-8").splitlines()) for p in all_modules()}
    stale = sorted(n for n in OVERSIZED_ALLOWED if sizes.get(n, 0) <= MAX_MODULE_LINES)
    assert not stale, f"no longer over {MAX_MODULE_LINES} lines: {stale}"


# ---- structured concurrency ---------------------------------------------------------------

# The supervisor owns the agent's TaskGroup; everything else starts tasks from a group its own
# coroutine owns (``async with asyncio.TaskGroup() as group``) or one it is handed.
TASKS_ALLOWED = {"logflux_agent.supervisor"}
# The one exception, and why (docs/architecture.md): an encode worker's reply reader lives as
# long as the worker process, which outlives any one caller's coroutine; the pool
# awaits it in ``close()`` after the worker exits. A reader on loop callbacks measured slower.
BARE_TASKS_ALLOWED = {
    "logflux_agent.ingest.encode_pool",
}


def _is_group(receiver: ast.expr) -> bool:
    # A task group by name: ``group``, ``tg``, ``self._group``, ``self.conn_group`` ...
    name = ast.unparse(receiver).rsplit(".", 1)[-1].lower()
    return name == "tg" or name.endswith("group")


def bare_task_sites(path: Path) -> list[str]:
    """Each ``create_task``/``ensure_future`` not called on a task group, as ``line: call``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "ensure_future" or (
            name == "create_task"
            and not (isinstance(func, ast.Attribute) and _is_group(func.value))
        ):
            found.append(f"{node.lineno}: {ast.unparse(func)}")
    return found


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_tasks_are_created_only_in_task_groups(path: Path) -> None:
    name = module_name(path)
    if name in TASKS_ALLOWED | BARE_TASKS_ALLOWED:
        return
    sites = bare_task_sites(path)
    assert not sites, f"{name} creates tasks outside a TaskGroup: {sites}"


def test_the_bare_task_allow_list_names_only_modules_that_still_need_it() -> None:
    by_name = {module_name(p): p for p in all_modules()}
    stale = sorted(n for n in BARE_TASKS_ALLOWED if not bare_task_sites(by_name[n]))
    assert not stale, f"no bare task left, remove from BARE_TASKS_ALLOWED: {stale}"


def test_the_task_rule_sees_each_form() -> None:
    # The checker itself: every bare form is caught, a task group's create_task is not.
    import tempfile

    code = (
        "import asyncio\n"
        "asyncio.create_task(c())\n"
        "asyncio.ensure_future(c())\n"
        "asyncio.get_running_loop().create_task(c())\n"
        "loop.create_task(c())\n"
        "create_task(c())\n"
        "group.create_task(c())\n"
        "self._group.create_task(c())\n"
        "tg.create_task(c())\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.py"
        probe.write_text(code, encoding="utf-8")
        assert [s.split(":")[0] for s in bare_task_sites(probe)] == ["2", "3", "4", "5", "6"]


# ---- metrics ------------------------------------------------------------------------------

METRICS_MODULE = "logflux_agent.observe.metrics"
_METRIC_CLASSES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum", "CollectorRegistry"}
# Every label name, and why its values are a small set.
BOUNDED_LABELS = {
    "input": "a configured input id",
    "reason": "a fixed vocabulary per metric",
    "result": "a fixed vocabulary per metric",
    "action": "long_lines: split or truncate",
    "transport": "tcp, unix, udp",
    "processor": "a configured processor type",
    "rule": "a configured redaction rule name",
    "version": "one value per process",
    "python": "one value per process",
    "kind": "ledger record kinds: batch, gap, start",
}
# Where a label value must never come from: these are unbounded (paths, peers, log text).
_UNBOUNDED_NAMES = {"path", "paths", "filename", "source", "peer", "address", "host", "line"}
_UNBOUNDED_NAMES |= {"message", "text", "body"}


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_metric_objects_are_declared_only_in_observe_metrics(path: Path) -> None:
    # The prometheus_client idiom, kept checkable: one module declares every metric in the
    # agent's registry; stages bind their labelled children once, when they are built.
    name = module_name(path)
    if name == METRICS_MODULE:
        return
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prometheus_client"):
            bad = sorted({a.name for a in node.names} & _METRIC_CLASSES)
            assert not bad, f"{name} imports {bad}: declare metrics in observe/metrics.py"
        elif isinstance(node, ast.Import):
            assert not any(a.name == "prometheus_client" for a in node.names), name
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "labels"
        ):
            assert not _names_in(node) & _UNBOUNDED_NAMES, (
                f"{name}:{node.lineno} labels a metric with an unbounded value: {ast.unparse(node)}"
            )


def _names_in(call: ast.Call) -> set[str]:
    """The names and attribute names the arguments of ``call`` are computed from."""
    return {
        n.id if isinstance(n, ast.Name) else n.attr
        for arg in [*call.args, *(k.value for k in call.keywords)]
        for n in ast.walk(arg)
        if isinstance(n, ast.Name | ast.Attribute)
    }


def test_every_metric_is_prefixed_registered_and_bounded() -> None:
    tree = ast.parse((PACKAGE / "observe" / "metrics.py").read_text(encoding="utf-8"))
    declared = 0
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _METRIC_CLASSES - {"CollectorRegistry"}
        ):
            continue
        declared += 1
        metric = ast.literal_eval(node.args[0])
        assert metric.startswith("logflux_agent_"), metric
        keywords = {k.arg: k.value for k in node.keywords}
        assert ast.unparse(keywords["registry"]) == "REGISTRY", metric
        labels = node.args[2] if len(node.args) > 2 else keywords.get("labelnames")
        names = set(ast.literal_eval(labels)) if labels is not None else set()
        assert names <= set(BOUNDED_LABELS), (
            f"{metric}: unbounded labels {names - BOUNDED_LABELS.keys()}"
        )
    assert declared > 50


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_no_module_uses_asyncio_wait_for(path: Path) -> None:
    # On Python 3.11, asyncio.wait_for swallows a cancellation that arrives in the loop turn
    # its awaitable completes; the task then runs on after a stop. ``Clock.wait_for`` or
    # ``asyncio.timeout`` instead (clock.py says why).
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "wait_for"
            and isinstance(node.value, ast.Name)
            and node.value.id == "asyncio"
        ):
            raise AssertionError(f"{module_name(path)}:{node.lineno} uses asyncio.wait_for")
