"""systemd's notify protocol, spoken directly: READY, RELOADING, STOPPING, STATUS and WATCHDOG.

Messages are ``KEY=value`` lines sent as one datagram to the unix socket named by
``NOTIFY_SOCKET`` (a leading ``@`` means Linux's abstract namespace). Without that variable
(not started by systemd, or not ``Type=notify``) every call is a no-op. A failed send is logged
once and never raised: the agent's job is shipping logs, not pleasing its supervisor.

The watchdog is pinged from the event loop (``watchdog_loop``), so a loop that stops running
stops the pings and systemd restarts the agent.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


def _address(raw: str) -> str | None:
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None


class Notifier:
    """Sends notify messages to the socket named in ``environ`` (``os.environ`` by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = _address(raw) if raw else None
        self._warned = False
        if raw and self._address is None:
            # e.g. systemd 254's vsock: addresses, used only inside VMs.
            log.warning("sdnotify.unsupported_socket", notify_socket=raw)
        self._watchdog_usec = _watchdog_usec(env)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self) -> None:
        self._send("READY=1")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def status(self, text: str) -> None:
        # A newline would end the assignment and let the text inject other keys.
        self._send("STATUS=" + " ".join(text.splitlines()))

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of ``WatchdogSec``), or None when no watchdog is armed."""
        if self._watchdog_usec is None or not self.enabled:
            return None
        return self._watchdog_usec / 2_000_000

    async def watchdog_loop(self) -> None:
        """Ping every ``watchdog_interval`` seconds until cancelled; returns at once if unarmed."""
        interval = self.watchdog_interval()
        if interval is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval)

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block the event loop on a full receive queue: drop the message instead.
                sock.setblocking(False)
                sock.sendto(message.encode(), self._address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "sdnotify.send_failed", error=str(exc), note="further failures are not logged"
                )


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None  # meant for another process (we are a child of the notified one)
        except ValueError:
            return None
    try:
        usec = int(raw)
    except ValueError:
        return None
    return usec if usec > 0 else None
