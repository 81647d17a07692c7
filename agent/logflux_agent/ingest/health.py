"""Delivery health: what ``/health`` readiness says, and the slow-probe intervals.

Owns the failure state the delivery loop and the session keeper report into — failing since
when and why, consecutive connection failures (which trigger re-discovery), a refused API key,
a pin mismatch, storage full (507) — and the two slow intervals that double per failure: the
refused-key / pin-mismatch retry (60 s → 5 min) and the storage probe (60 s → 5 min). Any
accepted request resets all of it.
"""

from __future__ import annotations

import structlog

from logflux_agent.clock import Clock
from logflux_agent.credentials import mask_secrets
from logflux_agent.ingest.retry import STORAGE_PROBE_MAX, STORAGE_PROBE_MIN

log = structlog.get_logger(__name__)

REDISCOVER_AFTER = 5  # consecutive connection failures before discovery runs again
SLOW_RETRY_MIN = 60.0  # refused key / pin mismatch: probe every 60 s → 5 min
SLOW_RETRY_MAX = 300.0


class Health:
    """Failure bookkeeping for one client; ``readiness`` renders it for ``/health``."""

    def __init__(
        self,
        clock: Clock,
        *,
        masked_api_key: str,
        failure_threshold: float,
        can_rediscover: bool,
    ) -> None:
        self._clock = clock
        self._masked_key = masked_api_key
        self._threshold = failure_threshold
        self._can_rediscover = can_rediscover
        self.failing_since: float | None = None
        self.last_error = ""
        self.conn_failures = 0
        self.auth_refused = False
        self.pin_error: str | None = None
        self.storage_full = False
        self._storage_probe = STORAGE_PROBE_MIN
        self._slow_delay = SLOW_RETRY_MIN

    def note_success(self) -> None:
        self.failing_since = None
        self.conn_failures = 0
        self.auth_refused = False
        self._slow_delay = SLOW_RETRY_MIN
        if self.storage_full:
            log.info("ingest.storage_recovered")
        self.storage_full = False
        self._storage_probe = STORAGE_PROBE_MIN

    def note_failure(self, text: str) -> None:
        self.last_error = mask_secrets(text)
        if self.failing_since is None:
            self.failing_since = self._clock.monotonic()

    def note_transport_failure(self, kind: str, error: str) -> bool:
        """Count a request that got no answer; True when discovery should run again."""
        self.note_failure(error)
        self.conn_failures += 1
        log.warning(
            "ingest.transport_error", kind=kind, error=error, consecutive=self.conn_failures
        )
        if self.conn_failures >= REDISCOVER_AFTER and self._can_rediscover:
            self.conn_failures = 0
            return True
        return False

    def next_slow_delay(self) -> float:
        """The refused-key / pin-mismatch retry interval; doubles up to 5 min."""
        delay = self._slow_delay
        self._slow_delay = min(delay * 2, SLOW_RETRY_MAX)
        return delay

    def storage_exhausted(self) -> float:
        """Note a 507; the probe interval to wait, which doubles up to 5 min."""
        self.storage_full = True
        delay = self._storage_probe
        self._storage_probe = min(delay * 2, STORAGE_PROBE_MAX)
        return delay

    def readiness(self, has_session: bool) -> tuple[bool, str]:
        if not has_session:
            return False, "no session with the ingestor yet (discovery/handshake pending)"
        if self.pin_error:
            return False, self.pin_error
        if self.auth_refused:
            return False, (
                f"the ingestor refuses the API key {self._masked_key} (bad or revoked key); "
                "data is kept and sending is retried slowly"
            )
        if self.storage_full:
            return False, (
                "the ingestor reports storage or quota exhausted (HTTP 507); data "
                "is kept and sending is probed slowly"
            )
        if self.failing_since is not None:
            failing = self._clock.monotonic() - self.failing_since
            if failing > self._threshold:
                return False, f"sends failing for {failing:.0f} s: {self.last_error}"
        return True, "ready"
