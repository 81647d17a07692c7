"""The reference ingestor (`logflux-agent dev-ingestor`) as a separate process of the harness.

It runs in its own process so its CPU is never charged to the agent. Counting mode
(``--no-decrypt``) parses the multipart framing and counts parts without decrypting, which is
what the throughput scenarios need; the latency scenario runs it decrypting and recording so it
can read the accepted entries back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from procs import Child, HarnessError, Http, python_env, wait_for


class Ingestor:
    """A started dev-ingestor: its URL, a dev API key, stats, faults and entries."""

    def __init__(
        self,
        agent_bin: str,
        workdir: Path,
        *,
        decrypt: bool = False,
        record: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        ready = workdir / "ingestor.ready.json"
        ready.unlink(missing_ok=True)  # a --workdir reused from an earlier run holds a stale one
        argv = [agent_bin, "dev-ingestor", "--port", "0", "--ready-file", str(ready)]
        if not decrypt:
            argv.append("--no-decrypt")
        # Decrypted entries, one JSON line each, when asked (the latency scenario reads them).
        self.record_file: Path | None = workdir / "entries.jsonl" if record else None
        if self.record_file is not None:
            argv.extend(["--output", str(self.record_file)])
        argv.extend(extra_args)
        self.child = Child("dev-ingestor", argv, workdir / "ingestor.log", env=python_env())
        info = self.child.wait_ready_file(ready, timeout=60)
        self.url: str = str(info["url"]).rstrip("/")
        self.port = int(info["port"])
        keys = info.get("api_keys") or []
        if not keys:
            raise HarnessError(f"dev-ingestor ready file {ready} lists no api_keys")
        self.api_key: str = str(keys[0])
        self.fingerprint = info.get("fingerprint")
        self.http = Http(self.url)

    @property
    def pid(self) -> int:
        return self.child.pid

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get_json("/_ref/stats")
        return data

    def accepted(self) -> int:
        return accepted_entries(self.stats())

    def faults(self, spec: dict[str, Any]) -> Any:
        return self.http.post_json("/_ref/faults", spec)

    def wait_accepted(self, n: int, timeout: float, interval: float = 0.02) -> float:
        """Wait until ``n`` entries were accepted; the monotonic time it was first seen."""
        wait_for(
            lambda: self.accepted() >= n,
            timeout,
            f"{n} accepted entries",
            interval=interval,
            alive=self.child,
        )
        return time.monotonic()

    def stop(self) -> None:
        self.http.close()
        self.child.stop()


def accepted_entries(stats: dict[str, Any]) -> int:
    """Entries accepted so far, from /_ref/stats (whichever counter name the devserver uses)."""
    for key in ("entries_accepted", "accepted", "entries", "parts_accepted", "parts"):
        value = stats.get(key)
        if isinstance(value, int):
            return value
    raise HarnessError(f"/_ref/stats has no accepted-entries counter: {sorted(stats)}")
