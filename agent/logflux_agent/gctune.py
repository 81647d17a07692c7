"""Garbage-collector settings for the long-running agent (``run``), applied once at start.

The agent allocates short-lived container objects at a high rate (a Record tuple per entry,
lists per chunk and batch, parsed JSON objects), almost all freed by reference counting. With
CPython's default thresholds (700, 10, 10) the cyclic collector still runs a young collection
every 700 net allocations and, because records waiting in the queue outlive young
collections, full collections often enough that each one walks every object the imports
created (modules, functions, classes: most of the heap). Two changes remove most of that cost:

- ``gc.freeze()`` after the agent's modules are imported: what exists at start moves to the
  permanent generation, which no collection walks. Those objects live as long as the process
  anyway; anything among them that later becomes unreachable is still freed by reference
  counting (only a cycle in it would stay, and start-up creates no cyclic garbage worth
  mentioning: a ``gc.collect()`` runs first).
- A young-generation threshold of 50,000 (then 20, 100): collections run ~70x less often. The
  objects a young collection finds are still collected, just later; the extra memory held
  is at most the garbage *cycles* created between two collections (records are not cyclic);
  peak RSS did not move beyond run-to-run noise (docs/socket-syslog.md, Performance).

``LOGFLUX_AGENT_GC`` overrides it, for measuring: ``default`` keeps CPython's settings,
``A,B,C`` sets those thresholds (the freeze still applies).
"""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Mapping

THRESHOLDS = (50_000, 20, 100)
ENV = "LOGFLUX_AGENT_GC"
# Imported before the freeze so their objects are frozen too (``run`` imports them anyway).
_PRELOAD = ("logflux_agent.supervisor",)


def tune(environ: Mapping[str, str] | None = None) -> tuple[int, int, int] | None:
    """Apply the settings; returns the thresholds set (None: CPython's defaults kept)."""
    env = os.environ if environ is None else environ
    setting = env.get(ENV, "").strip()
    if setting == "default":
        return None
    thresholds = _parse(setting) if setting else THRESHOLDS
    for name in _PRELOAD:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    return thresholds


def _parse(setting: str) -> tuple[int, int, int]:
    try:
        a, b, c = (int(x) for x in setting.split(","))
    except ValueError:
        return THRESHOLDS  # a diagnostics switch: a typo keeps the usual settings
    return (max(a, 1), max(b, 1), max(c, 1))
