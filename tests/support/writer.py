"""A background writer that appends numbered lines to a log file, optionally rotating it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


class LineWriter(threading.Thread):
    """Appends ``line-{n}`` style lines at a target rate; rotates by rename every N lines."""

    def __init__(
        self,
        path: Path,
        *,
        prefix: str = "line",
        rate: float = 2000.0,
        total: int | None = None,
        rotate_every: int | None = None,
        pad: int = 60,
    ) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.prefix = prefix
        self.rate = rate
        self.total = total
        self.rotate_every = rotate_every
        self.pad = "." * pad
        self.written: list[str] = []
        self.rotations = 0
        self._stop_flag = threading.Event()

    def line(self, n: int) -> str:
        return f"{self.prefix}-{n:08d} {self.pad}"

    def run(self) -> None:
        start = time.monotonic()
        n = 0
        out = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - reopened on rotation
        try:
            while not self._stop_flag.is_set() and (self.total is None or n < self.total):
                due = int((time.monotonic() - start) * self.rate) + 1
                chunk = []
                while n < due and (self.total is None or n < self.total):
                    text = self.line(n)
                    chunk.append(text + "\n")
                    self.written.append(text)
                    n += 1
                    if self.rotate_every and n % self.rotate_every == 0:
                        out.write("".join(chunk))
                        chunk = []
                        out.close()
                        self.rotations += 1
                        os.replace(
                            self.path, self.path.with_name(f"{self.path.name}.{self.rotations}")
                        )
                        out = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
                if chunk:
                    out.write("".join(chunk))
                    out.flush()
                self._stop_flag.wait(0.005)
        finally:
            out.close()

    def stop(self) -> list[str]:
        self._stop_flag.set()
        self.join(timeout=30)
        return self.written
