"""The ``spool:`` settings (docs/spool.md): a ciphertext disk spool for inputs that cannot be
read again. Set per input (stdin, socket, syslog) or at the top level for all of them.

``model.py`` re-exports ``SpoolConfig``, as it does for ``sockets.py``; the checks of its values
are in ``values.py`` with all the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SpoolFsync = Literal["every_batch", "interval"]
# Inputs that are their own durable buffer: a spool there is refused at load time.
NO_SPOOL_TYPES = ("file", "journald")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolConfig:
    """``spool:`` — where and how much ciphertext may wait on disk for the ingestor."""

    enabled: bool = True
    # Default: <state_dir>/spool. One directory per agent (all spooled inputs share it).
    directory: str | None = None
    max_bytes: int = 1024 * 1024 * 1024
    segment_bytes: int = 16 * 1024 * 1024
    # every_batch: fsync before the input is acknowledged (no loss on power failure);
    # interval: fsync at most every fsync_interval seconds (a power loss may lose that window).
    fsync: SpoolFsync = "every_batch"
    fsync_interval: float = 1.0
    # At exit (stdin one-shot, SIGTERM), wait up to sender.shutdown_timeout for the spool to
    # drain instead of leaving spooled requests for the next run (``--wait-delivered``).
    wait_delivered: bool = False


def effective_spool(
    global_spool: SpoolConfig | None, own: SpoolConfig | None
) -> SpoolConfig | None:
    """An input's spool: its own ``spool:`` if set, else the top-level one; None if off."""
    chosen = own if own is not None else global_spool
    return chosen if chosen is not None and chosen.enabled else None


def spool_refusal(cls: type) -> str | None:
    """The error for ``spool:`` on an input type that does not take one, else None."""
    field = getattr(cls, "__dataclass_fields__", {}).get("type")
    kind = getattr(field, "default", None)
    if kind not in NO_SPOOL_TYPES:
        return None
    return (
        f"a {kind} input cannot have a spool: expected spool only on stdin, socket or syslog "
        f"inputs (a {kind} input is read again after a restart, so it is its own durable buffer)"
    )
