"""The start-up banner (``agent.started``) and the matching ``agent.stopped`` summary.

It owns what an operator sees first: version, config file(s), where the ingestor is (endpoint
or discovery, region), the API key (masked: its id part only) and whether the server key is
pinned, every input with what it resolved to (files matching now, units, ...) and its
processing, the state directory and the metrics address. In console format the inputs are
short readable strings; in JSON they stay structured. The key is only ever shown masked.
"""

from __future__ import annotations

import glob
from typing import TYPE_CHECKING, Any

import structlog

from logflux_agent import __version__
from logflux_agent.config.fragments import fragment_paths
from logflux_agent.config.model import (
    AgentConfig,
    FileInputConfig,
    InputConfig,
    JournaldInputConfig,
)

if TYPE_CHECKING:
    from logflux_agent.ingest.session import SessionInfo
    from logflux_agent.supervisor import Supervisor

# Files counted per glob in the banner; a glob matching more says "1000+".
MATCH_CAP = 1000


def console_logging() -> bool:
    """True when structlog renders for humans (the console renderer is last)."""
    processors = structlog.get_config().get("processors") or []
    return bool(processors) and isinstance(processors[-1], structlog.dev.ConsoleRenderer)


def _matching(patterns: tuple[str, ...]) -> str:
    found: set[str] = set()
    for pattern in patterns:
        for path in glob.iglob(pattern, recursive=True):
            found.add(path)
            if len(found) >= MATCH_CAP:
                return f"{MATCH_CAP}+"
    return str(len(found))


def describe_input(cfg: InputConfig) -> dict[str, Any]:
    """One input as the banner shows it (JSON form)."""
    doc: dict[str, Any] = {"id": cfg.id, "type": cfg.type}
    if isinstance(cfg, FileInputConfig):
        doc["paths"] = list(cfg.paths)
        if cfg.exclude:
            doc["exclude"] = list(cfg.exclude)
        doc["files_matching"] = _matching(cfg.paths)
        doc["start_at"] = cfg.start_at or "end at first start, beginning for new files"
    elif isinstance(cfg, JournaldInputConfig):
        doc["units"] = list(cfg.units) or "all"
        if cfg.identifiers:
            doc["identifiers"] = list(cfg.identifiers)
        if cfg.priority is not None:
            doc["priority"] = cfg.priority
        if cfg.directory:
            doc["directory"] = cfg.directory
    else:
        for name in ("path", "socket", "listen", "address"):
            value = getattr(cfg, name, None)
            if value:
                doc[name] = value
    processing = []
    multiline = getattr(cfg, "multiline", None)
    if multiline is not None:
        processing.append("multiline")
    if getattr(cfg, "detect_level", False):
        processing.append("detect_level")
    labels = getattr(cfg, "labels", {})
    if labels:
        processing.append(f"labels({len(labels)})")
    processing.append(f"on_full={cfg.on_full}")
    doc["processing"] = processing
    return doc


def _input_line(doc: dict[str, Any]) -> str:
    head = f"{doc['type']} {doc['id']}"
    if "paths" in doc:
        head += f": {', '.join(doc['paths'])} ({doc['files_matching']} files now)"
    elif "units" in doc:
        units = doc["units"]
        head += f": units {', '.join(units) if isinstance(units, list) else units}"
    return f"{head} [{' '.join(doc['processing'])}]"


def started_fields(
    config: AgentConfig, config_path: str | None, metrics_url: str | None
) -> dict[str, Any]:
    """The fields of ``agent.started``."""
    extra_files = fragment_paths(config_path) if config_path else []
    region = config.region or config.api_key.region
    enc = config.encryption
    if enc.public_key_fingerprint:
        pin = f"pinned {enc.public_key_fingerprint}"
    elif enc.public_key_file:
        pin = f"pinned by {enc.public_key_file}"
    else:
        pin = "not pinned (the server key is trusted as discovered)"
    inputs = [describe_input(c) for c in config.inputs]
    shown: Any = [_input_line(d) for d in inputs] if console_logging() else inputs
    fields: dict[str, Any] = {
        "version": __version__,
        "config": config_path or "(none: command-line options only)",
        "ingestor": config.endpoint or f"discovered ({config.discovery.static_url})",
        "region": region or "from discovery",
        "api_key": config.api_key.masked,
        "server_key": pin,
        "inputs": shown,
        "state_dir": config.state_dir,
        "metrics": metrics_url or "disabled",
        "reload": config.reload,
    }
    if extra_files:
        fields["fragments"] = extra_files
    return fields


def session_fields(info: SessionInfo) -> dict[str, Any]:
    """The fields of ``session.ready``: where, the session key id and the server key."""
    fields: dict[str, Any] = {
        "base_url": info.base_url,
        "region": info.region,
        "key_id": info.key_id,
        "fingerprint": info.fingerprint,
    }
    # The same as before the fields were typed: a missing value is left out, not null.
    fields = {name: value for name, value in fields.items() if value is not None}
    fields["pinned"] = info.pin is not None
    return fields


def stopped_fields(sup: Supervisor, duration: float, exit_code: int) -> dict[str, Any]:
    """The fields of ``agent.stopped``: entries read/sent/dropped per input and the duration.

    ``sup`` is the Supervisor (its config, tracker, drop counts and checkpoint store).
    """
    tracker = sup.tracker
    per_input = {
        c.id: {
            "read": tracker.emitted_total.get(c.id, 0),
            "sent": tracker.resolved.get(c.id, 0),
            "dropped": sup.dropped.get(c.id, 0),
        }
        for c in sup.config.inputs
    }
    shown: Any = per_input
    if console_logging():
        shown = [
            f"{name}: read {c['read']}, sent {c['sent']}, dropped {c['dropped']}"
            for name, c in per_input.items()
        ]
    return {
        "exit_code": exit_code,
        "duration_seconds": round(duration, 1),
        "inputs": shown,
        "checkpoint_writes": sup.store.writes,
    }
