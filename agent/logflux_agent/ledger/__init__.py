"""The receipt ledger: a durable record of which ranges of which sources LogFlux accepted.

``format.py`` (segments, CRC-framed records, torn-tail scan), ``writer.py`` (append, rotate,
retention, fsync cadence), ``receipts.py`` (what the ack path hands it), ``drops.py`` (the
lines filters dropped), ``index.py`` (reading it back for ``logflux-agent audit``).
docs/audit.md describes the format and its limits.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from logflux_agent.clock import Clock
from logflux_agent.config.model import AgentConfig
from logflux_agent.ledger.format import DIR_NAME
from logflux_agent.ledger.receipts import Receipts
from logflux_agent.ledger.writer import LedgerWriter
from logflux_agent.processing.rows import DROP_SINKS

__all__ = ["Receipts", "ledger_dir", "open_receipts"]


def ledger_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / DIR_NAME


def open_receipts(config: AgentConfig, clock: Clock) -> Receipts | None:
    """The ledger of ``config`` opened for appending, or None when it is off or unusable."""
    settings = config.ledger
    if not settings.enabled:
        return None
    run = f"{int(clock.wall())}-{secrets.token_hex(3)}"
    writer = LedgerWriter(
        ledger_dir(config.state_dir),
        max_bytes=settings.max_bytes,
        max_age=settings.max_age,
        run=run,
        clock=clock,
    )
    if not writer.open():
        return None
    receipts = Receipts(writer, clock)
    # Filters of this agent's inputs hand the rows they drop to the ledger (processing/rows.py).
    DROP_SINKS[config.state_dir] = receipts.drops.note
    return receipts
