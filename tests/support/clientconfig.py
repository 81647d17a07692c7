"""Configs and records for IngestClient tests: a client config pointing at a test ingestor,
numbered records, and the ingestor's error envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logflux_agent.config.model import AgentConfig, DiscoveryConfig, SenderConfig
from logflux_agent.credentials import parse_api_key
from logflux_agent.record import Record
from tests.support.scripted import API_KEY, ScriptedIngestor


def make_config(
    tmp_path: Path,
    *,
    endpoint: str | None = None,
    key: str = API_KEY,
    static_url: str = "http://127.0.0.1:1/{region}",
    gateways: tuple[str, ...] = (),
    **extra: Any,
) -> AgentConfig:
    return AgentConfig(
        api_key=parse_api_key(key),
        endpoint=endpoint,
        state_dir=str(tmp_path / "state"),
        node="node-1",
        discovery=DiscoveryConfig(static_url=static_url, gateways=gateways, timeout=5.0),
        sender=SenderConfig(
            encode_workers=0, retry_initial_delay=0.01, retry_max_delay=0.05, http_timeout=10.0
        ),
        **extra,
    )


def recs(n: int, prefix: str = "m") -> list[Record]:
    return [
        Record(
            message=f"{prefix}-{i}",
            timestamp=1_800_000_000.0 + i,
            level=6,
            source="/var/log/app.log",
            attributes={},
        )
        for i in range(n)
    ]


def config(tmp_path: Path, ing: ScriptedIngestor, **sender: Any) -> AgentConfig:
    base = make_config(tmp_path, endpoint=ing.url)
    opts: dict[str, Any] = {
        "encode_workers": 0,
        "retry_initial_delay": 0.01,
        "retry_max_delay": 0.05,
        "http_timeout": 10.0,
        **sender,
    }
    return AgentConfig(
        **{
            **{f: getattr(base, f) for f in base.__dataclass_fields__},
            "sender": SenderConfig(**opts),
        }
    )


def status(http_status: int, **fields: Any) -> dict[str, Any]:
    """One error answer from the ingestor (its envelope; ``code``/``message`` optional)."""
    return {"status": http_status, "retry_after": None, **fields}
