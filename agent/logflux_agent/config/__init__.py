"""Configuration: the typed model (model.py), the YAML loader (load.py), env overrides (env.py)."""

from __future__ import annotations

from logflux_agent.config.model import (
    AgentConfig,
    DiscoveryConfig,
    EncryptionConfig,
    FileInputConfig,
    InputConfig,
    JournaldInputConfig,
    LoggingConfig,
    MetricsConfig,
    MultilineConfig,
    QueueConfig,
    SenderConfig,
    StdinInputConfig,
)

__all__ = [
    "AgentConfig",
    "DiscoveryConfig",
    "EncryptionConfig",
    "FileInputConfig",
    "InputConfig",
    "JournaldInputConfig",
    "LoggingConfig",
    "MetricsConfig",
    "MultilineConfig",
    "QueueConfig",
    "SenderConfig",
    "StdinInputConfig",
]
