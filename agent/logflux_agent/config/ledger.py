"""The ``ledger:`` settings (docs/audit.md): the receipt ledger of accepted ranges in state_dir.

``model.py`` re-exports ``LedgerConfig``; its value checks are in ``values.py`` like all others.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerConfig:
    """``ledger:`` — a record of what the ingestor accepted, for ``logflux-agent audit``."""

    enabled: bool = True
    # Disk use is at most max_bytes + one segment (max_bytes / 8, at most 16 MiB).
    max_bytes: int = 256 * 1024 * 1024
    # Segments whose last record is older than this are deleted (seconds; default 30 days).
    max_age: float = 30 * 86_400.0
