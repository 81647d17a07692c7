"""structlog setup for the agent's own logs, with a processor that masks every secret.

JSON lines to stderr when stderr is not a terminal (systemd, Docker), a console renderer on a
TTY. The masking processor runs last before rendering, over every string value (and the
event name), so a key that slipped into an exception message is still masked. Rendered lines
go to a sink (``observe/logsink.py``) that never blocks the caller and never raises: a closed
or stalled stderr drops (and counts) log lines instead of stopping the agent.
"""

from __future__ import annotations

import atexit
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from logflux_agent.credentials import mask_secrets
from logflux_agent.observe.logsink import FdSink, Sink, SinkLogger, open_sink

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


_EXIT_FLUSH_SECONDS = 2.0
_sink: Sink | None = None


def _sink_for(file: Any) -> Sink:
    """One sink per stream: a reconfiguration (reload) keeps the buffer and its thread."""
    global _sink
    if _sink is not None and _writes_to(_sink, file):
        return _sink
    if _sink is None:
        atexit.register(flush, _EXIT_FLUSH_SECONDS)
    else:
        _sink.stop()
    _sink = open_sink(file)
    return _sink


def _writes_to(sink: Sink, file: Any) -> bool:
    if isinstance(sink, FdSink):
        try:
            return int(file.fileno()) == sink.fd
        except (AttributeError, OSError, ValueError):
            return False
    return sink.file is file


def flush(timeout: float = _EXIT_FLUSH_SECONDS) -> bool:
    """Wait (bounded) until the log lines written so far reached the stream."""
    return _sink.flush(timeout) if _sink is not None else True


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):  # keys too: a label name can be key-shaped as well
        return {_mask_value(k): _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    if isinstance(value, BaseException):
        return mask_secrets(f"{type(value).__name__}: {value}")
    return value


def mask_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> dict[str, Any]:
    """Mask anything shaped like a LogFlux key in every field of the event."""
    return {k: _mask_value(v) for k, v in event_dict.items()}


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog globally. Safe to call again (e.g. after a reload)."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=_factory(_sink_for(sys.stderr)),
        cache_logger_on_first_use=False,
    )


def _factory(sink: Sink) -> Any:
    logger = SinkLogger(sink)

    def factory(*_args: Any) -> SinkLogger:
        return logger

    return factory
