"""The reference ingestor for tests: as a subprocess (``RefIngestor``) or in-process
(``InProcessIngestor``), plus ``verify_entries``, which checks what arrived.

``RefIngestor`` runs ``python -m logflux_agent dev-ingestor --port 0 --ready-file ...`` with
its output in a work directory, waits for the ready file, and talks to the admin API with
urllib only, so it works from sync and async tests alike. It records entries to a JSON-lines
file and serves the same RSA key on every (re)start, so ``restart()`` keeps the fingerprint and
``entries()`` still returns what arrived before a restart (sessions are lost: clients get 401
``invalid_key_id`` and must handshake again, as with a real server restart).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from logflux_agent.devserver.options import DEV_API_KEY, DevServerOptions, Switches

__all__ = ["DEV_API_KEY", "InProcessIngestor", "RefIngestor", "VerifyReport", "verify_entries"]

_SHARED_KEY_PEM: bytes | None = None


def shared_private_key_pem() -> bytes:
    """One RSA-2048 key for the whole test session (generating one per test is slow)."""
    global _SHARED_KEY_PEM
    if _SHARED_KEY_PEM is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _SHARED_KEY_PEM = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return _SHARED_KEY_PEM


# -- verification -----------------------------------------------------------------------------

_SHOW = 5


@dataclass
class VerifyReport:
    """What ``verify`` found. ``duplicates`` counts arrivals beyond the expected ones."""

    received: int = 0
    missing: dict[str, list[str]] = field(default_factory=dict)
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0
    duplicates_by_source: dict[str, int] = field(default_factory=dict)
    out_of_order: dict[str, str] = field(default_factory=dict)
    not_encrypted: int = 0
    undecrypted: int = 0

    @property
    def missing_count(self) -> int:
        return sum(len(v) for v in self.missing.values())

    def problems(self, allow_duplicates: bool) -> list[str]:
        out: list[str] = []
        for src, lines in self.missing.items():
            out.append(
                f"{len(lines)} line(s) of {src!r} never arrived, first: "
                f"{[_short(x) for x in lines[:_SHOW]]}"
            )
        if self.unexpected:
            out.append(
                f"{len(self.unexpected)} unexpected entr(y/ies) arrived, first: "
                f"{[(s, _short(m)) for s, m in self.unexpected[:_SHOW]]}"
            )
        for src, where in self.out_of_order.items():
            out.append(f"{src!r} arrived out of order: {where}")
        if self.duplicates and not allow_duplicates:
            out.append(f"{self.duplicates} duplicate arrival(s): {self.duplicates_by_source}")
        if self.not_encrypted:
            out.append(
                f"{self.not_encrypted} entr(y/ies) were not sent encrypted "
                "(payload type 1 with key id and nonce)"
            )
        if self.undecrypted:
            out.append(
                f"{self.undecrypted} recorded entr(y/ies) carry no decrypted payload "
                "(is the ingestor running with --no-decrypt?)"
            )
        return out


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[:width] + "…"


ORDERS = ("request", "strict", "none")


def verify_entries(
    entries: Iterable[Mapping[str, Any]],
    expected: Mapping[str, Sequence[str]],
    allow_duplicates: bool = False,
    *,
    order: str = "request",
    require_encrypted: bool = True,
) -> VerifyReport:
    """Check ``entries`` (recorded entries) against ``expected`` (source -> lines in order).

    Every expected line must arrive (matched by source + message) and nothing else may arrive.
    A line expected k times matches its first k arrivals; later ones are duplicates, allowed
    only with ``allow_duplicates`` (at-least-once). Order of the first arrivals per source:

    * ``"request"`` (default): inside each request they keep the expected order. Separate
      requests may arrive in any order: a sender with several requests in flight cannot
      promise more.
    * ``"strict"``: their global arrival order is the expected order.
    * ``"none"``: not checked.

    Raises AssertionError with a readable summary on any problem; returns the report.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    report = VerifyReport()
    arrivals: dict[str, list[tuple[str, str]]] = {}  # source -> [(message, request id)]
    for entry in entries:
        report.received += 1
        payload = entry.get("payload")
        if (
            not isinstance(payload, Mapping)
            or not isinstance(payload.get("message"), str)
            or not isinstance(payload.get("source"), str)
        ):
            report.undecrypted += 1
            continue
        if require_encrypted and (
            entry.get("payload_type") != 1 or not entry.get("key_id") or not entry.get("nonce")
        ):
            report.not_encrypted += 1
        source, message = payload["source"], payload["message"]
        if source not in expected:
            report.unexpected.append((source, message))
            continue
        arrivals.setdefault(source, []).append((message, str(entry.get("request_id", ""))))
    for source, lines in expected.items():
        _check_source(report, source, lines, arrivals.get(source, []), order)
    problems = report.problems(allow_duplicates)
    if problems:
        raise AssertionError(
            "reference ingestor verification failed "
            f"({report.received} entries received):\n  - " + "\n  - ".join(problems)
        )
    return report


def _check_source(
    report: VerifyReport, source: str, lines: Sequence[str], got: list[tuple[str, str]], order: str
) -> None:
    positions: dict[str, list[int]] = {}
    for pos, line in enumerate(lines):
        positions.setdefault(line, []).append(pos)
    used: Counter[str] = Counter()
    firsts: list[tuple[int, str]] = []  # (expected position, request id) of first arrivals
    dups = 0
    for message, request_id in got:
        slots = positions.get(message)
        if slots is None:
            report.unexpected.append((source, message))
        elif used[message] < len(slots):
            firsts.append((slots[used[message]], request_id))
            used[message] += 1
        else:
            dups += 1
    if dups:
        report.duplicates += dups
        report.duplicates_by_source[source] = dups
    arrived = {pos for pos, _ in firsts}
    missing = [line for pos, line in enumerate(lines) if pos not in arrived]
    if missing:
        report.missing[source] = missing
    last: dict[str, int] = {}
    for i, (pos, request_id) in enumerate(firsts):
        key = "" if order == "strict" else request_id
        if order != "none" and last.get(key, -1) > pos:
            where = "" if order == "strict" else f" within request {request_id}"
            report.out_of_order[source] = (
                f"arrival {i}{where} is {_short(lines[pos])!r}, after "
                f"{_short(lines[last[key]])!r} which was expected later"
            )
            return
        last[key] = pos


# -- the subprocess ---------------------------------------------------------------------------


class AdminError(AssertionError):
    """An admin call to the reference ingestor failed."""


class _Admin:
    """urllib calls to ``/_ref/*`` (TLS certificates are not checked: loopback only)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ctx: ssl.SSLContext | None = None
        if url.startswith("https:"):
            self._ctx = ssl.create_default_context()
            self._ctx.check_hostname = False
            self._ctx.verify_mode = ssl.CERT_NONE

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ctx) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AdminError(
                f"{method} {path} -> HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}"
            ) from None


class RefIngestor:
    """``logflux-agent dev-ingestor`` as a child process; started by the constructor.

    ``args`` are extra CLI flags. Use as a context manager or call ``close()``.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        workdir: Path | str | None = None,
        ready_timeout: float = 30.0,
        same_key: bool = True,
    ) -> None:
        self.args = list(args)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="refingestor-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready_file = self.workdir / "ready.json"
        self.log_path = self.workdir / "ingestor.log"
        self.ready_timeout = ready_timeout
        self.output_path: Path | None = None
        if any(a == "--output" or a.startswith("--output=") for a in self.args):
            self.output_path = _flag_value(self.args, "--output")  # None for "-" (stdout)
        elif "--no-decrypt" not in self.args:
            self.output_path = self.workdir / "entries.jsonl"
            self.args += ["--output", str(self.output_path)]
        if same_key and "--private-key" not in self.args:
            key_file = self.workdir / "server_key.pem"
            key_file.write_bytes(shared_private_key_pem())
            os.chmod(key_file, 0o600)
            self.args += ["--private-key", str(key_file)]
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.port = 0
        self.ready: dict[str, Any] = {}
        self._cache: list[dict[str, Any]] = []
        self._offset = 0
        self._start(port=0)

    # -- lifecycle -------------------------------------------------------------------------

    def _start(self, port: int) -> None:
        self.ready_file.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        argv = [
            sys.executable,
            "-m",
            "logflux_agent",
            "dev-ingestor",
            "--port",
            "0",
            "--ready-file",
            str(self.ready_file),
            *self.args,
        ]
        if port:
            argv += ["--port", str(port)]
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.ready_timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"dev-ingestor exited with {self.proc.returncode} before "
                    f"it was ready:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(
                    f"dev-ingestor not ready after {self.ready_timeout}s:\n{self.log_tail()}"
                )
            time.sleep(0.02)
        self.ready = json.loads(self.ready_file.read_text(encoding="utf-8"))
        self.url: str = str(self.ready["url"])
        self.port = int(self.ready["port"])
        self.api_key: str = str(self.ready["api_keys"][0])
        self.api_keys: list[str] = [str(k) for k in self.ready["api_keys"]]
        self.fingerprint: str = str(self.ready["fingerprint"])
        self._admin = _Admin(self.url)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def restart(self) -> None:
        """Stop if running, then start again on the same port with the same key."""
        self.stop()
        self._start(port=self.port)

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RefIngestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- admin API ---------------------------------------------------------------------------

    def faults(self, **spec: Any) -> dict[str, Any]:
        """``POST /_ref/faults`` with ``spec`` (see docs/dev-ingestor.md); the active faults."""
        result: dict[str, Any] = self._admin.call("POST", "/_ref/faults", spec)
        return result

    def reset_faults(self) -> dict[str, Any]:
        return self.faults(clear=True)

    def config(self, **switches: Any) -> dict[str, Any]:
        """``POST /_ref/config``: change run-time switches (key_id_field, init_wrapped, ...)."""
        result: dict[str, Any] = self._admin.call("POST", "/_ref/config", switches)
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin.call("GET", "/_ref/stats")
        return result

    def reset(self) -> None:
        """Clear faults, entries (also the output file) and counters."""
        self._admin.call("POST", "/_ref/reset", {})
        self._cache = []
        self._offset = 0

    def entries_api(self, page: int = 10_000) -> list[dict[str, Any]]:
        """Entries of the current process still in its memory, paging through /_ref/entries."""
        out: list[dict[str, Any]] = []
        since = 0
        while True:
            doc = self._admin.call("GET", f"/_ref/entries?since={since}&limit={page}")
            out.extend(doc["entries"])
            if doc["next"] >= doc["total"] or not doc["entries"]:
                return out
            since = doc["next"]

    def entries(self) -> list[dict[str, Any]]:
        """Every accepted entry since start/reset, across restarts (read from the output file;
        without one, from /_ref/entries)."""
        if self.output_path is None:
            return self.entries_api()
        try:
            with open(self.output_path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self._offset:  # truncated by a reset we did not make
                    self._cache, self._offset = [], 0
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return list(self._cache)
        end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
        for line in chunk[:end].splitlines():
            if line.strip():
                self._cache.append(json.loads(line))
        self._offset += end
        return list(self._cache)

    def wait_for_entries(
        self, n: int, timeout: float = 30.0, *, distinct: bool = False
    ) -> list[dict[str, Any]]:
        """Poll until ``n`` entries arrived (``distinct``: n different source+message pairs;
        with ``--no-decrypt``: until the ``entries_accepted`` counter reaches ``n``)."""
        deadline = time.monotonic() + timeout
        counting = self.ready.get("mode") == "count"  # --no-decrypt records nothing
        while True:
            entries = [] if counting else self.entries()
            if counting:
                count = int(self.stats()["entries_accepted"])
            elif distinct:
                count = len(
                    {
                        (e["payload"].get("source"), e["payload"].get("message"))
                        for e in entries
                        if isinstance(e.get("payload"), dict)
                    }
                )
            else:
                count = len(entries)
            if count >= n:
                return entries
            if not self.running():
                raise AssertionError(
                    f"dev-ingestor died ({len(entries)} entries so far):\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {n} entries "
                    f"({'distinct ' if distinct else ''}got {count}); stats: "
                    f"{_stats_summary(self.stats())}"
                )
            time.sleep(0.05)

    def verify(
        self,
        expected: Mapping[str, Sequence[str]],
        allow_duplicates: bool = False,
        *,
        order: str = "request",
    ) -> VerifyReport:
        """Every expected line arrived decrypted, in order per source, nothing else arrived;
        AssertionError with a summary otherwise. See ``verify_entries``."""
        return verify_entries(self.entries(), expected, allow_duplicates, order=order)


def _flag_value(args: Sequence[str], flag: str) -> Path | None:
    value: str | None = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return None if value in (None, "-") else Path(str(value))


def _stats_summary(stats: Mapping[str, Any]) -> str:
    keys = (
        "requests",
        "entries_accepted",
        "parts_failed",
        "duplicates",
        "status",
        "failure_reasons",
        "rejections",
    )
    return json.dumps({k: stats.get(k) for k in keys})


# -- in-process ---------------------------------------------------------------------------------


class InProcessIngestor:
    """The same server inside the test's event loop, on a free loopback port.

    ``clock`` drives wall time (Retry-After dates, accepted_at) and fault durations; ``ssl``
    serves HTTPS; other keyword arguments are ``DevServerOptions`` fields, and ``switches`` a
    ``Switches`` or a dict of its fields. ``faults``/``config``/``stats``/``entries`` act on
    the server directly.
    """

    def __init__(
        self,
        *,
        clock: Any = None,
        ssl_context: ssl.SSLContext | None = None,
        switches: Switches | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        from logflux_agent.clock import SYSTEM_CLOCK

        options.setdefault("port", 0)
        options.setdefault("keep_entries", 1_000_000)
        if "private_key_pem" not in options:
            options["private_key_pem"] = shared_private_key_pem()
        if isinstance(switches, Mapping):
            switches = Switches(**switches)
        if switches is not None:
            options["switches"] = switches
        self.options = DevServerOptions(**options)
        self.clock = clock or SYSTEM_CLOCK
        self.ssl_context = ssl_context
        self.api_key = self.options.api_keys[0]
        self.url = ""
        self.fingerprint = ""

    async def __aenter__(self) -> InProcessIngestor:
        from logflux_agent.devserver.app import DevServer
        from logflux_agent.devserver.server import start

        self.server = DevServer(self.options, clock=self.clock)
        self._listening = await start(self.server, ssl_context=self.ssl_context)
        self.url = self._listening.url
        self.port = self._listening.port
        self.fingerprint = self.server.keys.primary.fingerprint
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._listening.close()
        self.server.close()

    def faults(self, **spec: Any) -> dict[str, Any]:
        return self.server.apply_faults(spec)

    def reset_faults(self) -> dict[str, Any]:
        return self.faults(clear=True)

    def config(self, **switches: Any) -> dict[str, Any]:
        return self.server.configure(switches)

    def stats(self) -> dict[str, Any]:
        return self.server.stats_json()

    def reset(self) -> None:
        self.server.reset()

    def entries(self) -> list[dict[str, Any]]:
        _, lines = self.server.recorder.page(0, self.server.recorder.total)
        return [json.loads(line) for line in lines]

    async def wait_for_entries(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        import asyncio

        deadline = time.monotonic() + timeout
        while self.server.recorder.total < n:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {n} entries "
                    f"(got {self.server.recorder.total}); stats: "
                    f"{_stats_summary(self.stats())}"
                )
            await asyncio.sleep(0.01)
        return self.entries()

    def verify(
        self,
        expected: Mapping[str, Sequence[str]],
        allow_duplicates: bool = False,
        *,
        order: str = "request",
    ) -> VerifyReport:
        return verify_entries(self.entries(), expected, allow_duplicates, order=order)
