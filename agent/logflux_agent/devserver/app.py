"""``DevServer``: the reference ingestor's state and its aiohttp application.

One instance holds the keys, sessions, nonce memory, faults, switches, recorder and counters,
and offers the Python API used in-process by tests (``apply_faults``, ``configure``,
``reset``, ``stats_json``). The HTTP handlers live in ``ingest.py`` and ``routes.py``.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import math
import uuid
from typing import Any

import structlog
from aiohttp import web

from logflux_agent.clock import SYSTEM_CLOCK, Clock
from logflux_agent.devserver.envelopes import (
    RateLimiter,
    Refused,
    dumps,
    error_response,
    json_response,
)
from logflux_agent.devserver.faults import Faults
from logflux_agent.devserver.keys import KeyRing, ServerKey
from logflux_agent.devserver.options import (
    ENTRY_LIMIT_MODES,
    KEY_ID_FIELDS,
    SERVE_KEYS,
    SUCCESS_STATUSES,
    ConfigChangeError,
    DevServerOptions,
    Limits,
)
from logflux_agent.devserver.recording import Recorder, Stats
from logflux_agent.devserver.sessions import NonceMemory, SessionStore

log = structlog.get_logger(__name__)

MAX_ENTRIES_PAGE = 100_000


class DevServer:
    """The reference ingestor. Build it, then serve ``build_app()`` (see ``server.py``)."""

    def __init__(
        self,
        options: DevServerOptions,
        *,
        clock: Clock = SYSTEM_CLOCK,
        keyring: KeyRing | None = None,
    ) -> None:
        self.options = options
        self.clock = clock
        self.switches = dataclasses.replace(
            options.switches, limits=dataclasses.replace(options.switches.limits)
        )
        if keyring is None:
            primary = (
                ServerKey.load_pem(options.private_key_pem, "--private-key")
                if options.private_key_pem
                else ServerKey.generate()
            )
            secondary = (
                ServerKey.load_pem(options.secondary_key_pem, "--secondary-private-key")
                if options.secondary_key_pem
                else None
            )
            keyring = KeyRing(primary, secondary)
        self.keys = keyring
        self.api_keys = frozenset(options.api_keys)
        self.sessions = SessionStore(options.max_sessions)
        self.nonces = NonceMemory(options.nonce_memory)
        self.faults = Faults(clock)
        self.recorder = Recorder(options.output, options.keep_entries)
        self.stats = Stats()
        self.rate = RateLimiter(options.rate_limit, clock)
        self.base_url = f"http://{options.host}:{options.port}"
        self.epoch = str(uuid.uuid4())
        self.started_at = clock.wall()

    # -- the aiohttp application --------------------------------------------------------------

    def build_app(self) -> web.Application:
        from logflux_agent.devserver.ingest import IngestHandler
        from logflux_agent.devserver.routes import Routes

        app = web.Application(client_max_size=64 * 1024)
        routes = Routes(self)
        app.router.add_post("/v1/ingest", IngestHandler(self).handle)
        routes.register(app)
        return app

    # -- helpers for the handlers -------------------------------------------------------------

    def check_bearer(self, request: web.Request) -> str:
        """The request's API key if it is on the allow-list; else ``Refused`` 401."""
        auth = request.headers.get("Authorization")
        if not auth:
            raise Refused(401, "missing_api_key", "missing Authorization: Bearer <api key> header")
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Refused(401, "missing_api_key", "the Authorization header is not 'Bearer <key>'")
        if token not in self.api_keys:
            raise Refused(401, "invalid_api_key", "the API key is not valid for this ingestor")
        return token

    def json(self, status: int, body: Any, request_id: str) -> web.Response:
        return json_response(status, body, request_id)

    def finish(self, endpoint: str, resp: web.StreamResponse) -> web.StreamResponse:
        """Count the answer and add the X-RateLimit-* headers."""
        resp.headers.update(self.rate.headers())
        self.stats.count_status(endpoint, resp.status)
        return resp

    def fault_response(
        self, endpoint: str, params: dict[str, Any], request_id: str
    ) -> web.StreamResponse:
        """The answer of an injected status fault (Retry-After as seconds or HTTP-date)."""
        status = int(params["status"])
        headers: dict[str, str] = {}
        retry_after = params.get("retry_after")
        if retry_after is not None:
            if params.get("retry_after_date"):
                when = math.ceil(self.clock.wall() + retry_after)
                headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
            else:
                headers["Retry-After"] = str(retry_after)
        message = params.get("message") or f"injected fault: HTTP {status}"
        if status == 401 and endpoint == "ingest" and not params.get("code"):
            code: str | None = "invalid_key_id"  # what a client sees when its key expired
        else:
            code = params.get("code")
        resp = error_response(
            status,
            code,
            message,
            request_id,
            retry_after=params.get("retry_after_body"),
            headers=headers,
        )
        return self.finish(endpoint, resp)

    # -- Python API (also behind /_ref/*) -----------------------------------------------------

    def apply_faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Apply a fault spec (raises ``FaultSpecError``); the active faults afterwards."""
        actions = self.faults.apply(spec)
        expired = 0
        if actions.expire_keys:
            expired = self.sessions.expire_all()
            log.info("devserver.keys_expired", sessions=expired)
        return {"ok": True, "expired_sessions": expired, **self.faults.snapshot()}

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change switches (raises ``ConfigChangeError``); all of them afterwards."""
        if not isinstance(changes, dict):
            raise ConfigChangeError("a config change is a JSON object")
        new = dataclasses.replace(self.switches, limits=dataclasses.replace(self.switches.limits))
        for name, value in changes.items():
            _set_switch(new, name, value)
        self.switches = new
        log.info("devserver.configured", **{k: str(v) for k, v in changes.items()})
        return self.switches_json()

    def switches_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self.switches)
        out["served_fingerprint"] = self.keys.served(self.switches.serve_key).fingerprint
        return out

    def reset(self) -> None:
        """Clear faults, recorded entries and counters; keys, sessions, switches stay."""
        self.faults.clear()
        self.recorder.reset()
        self.stats.reset()
        self.epoch = str(uuid.uuid4())

    def stats_json(self) -> dict[str, Any]:
        out = self.stats.as_json()
        out.update(
            {
                "epoch": self.epoch,
                "uptime_seconds": round(self.clock.wall() - self.started_at, 3),
                "mode": "count" if self.options.no_decrypt else "decrypt",
                "lenient_js_framing": self.options.lenient_js_framing,
                "sessions": len(self.sessions),
                "sessions_expired": self.sessions.expired_total,
                "nonce_memory": {
                    "size": len(self.nonces),
                    "capacity": self.nonces.capacity,
                    "evicted": self.nonces.evicted,
                },
                "entries_recorded": self.recorder.total,
                "entries_in_memory_from": self.recorder.first_in_memory,
                "faults": self.faults.snapshot(),
            }
        )
        return out

    def entries_page(self, since: int, limit: int) -> str:
        """``GET /_ref/entries`` as JSON text (the stored lines are already JSON)."""
        limit = max(0, min(limit, MAX_ENTRIES_PAGE))
        first, lines = self.recorder.page(max(0, since), limit)
        head = dumps(
            {
                "epoch": self.epoch,
                "since": since,
                "first": first,
                "next": first + len(lines),
                "total": self.recorder.total,
                "dropped_from_memory": self.recorder.first_in_memory,
            }
        )
        return head[:-1] + ',"entries":[' + ",".join(lines) + "]}"

    def info_json(self) -> dict[str, Any]:
        served = self.keys.served(self.switches.serve_key)
        return {
            "service": "logflux-dev-ingestor",
            "region": self.options.region,
            "ingestor_url": self.base_url,
            "public_key_fingerprint": served.fingerprint,
            "supports_multipart": True,
            "limits": self.switches.limits.as_json(),
            "mode": "count" if self.options.no_decrypt else "decrypt",
        }

    def close(self) -> None:
        self.recorder.close()


def _set_switch(sw: Any, name: str, value: Any) -> None:
    def need(ok: bool, expected: str) -> None:
        if not ok:
            raise ConfigChangeError(f"{name}: expected {expected}, got {json.dumps(value)}")

    if name == "success_status":
        need(value in SUCCESS_STATUSES, f"one of {SUCCESS_STATUSES}")
    elif name == "key_id_field":
        need(value in KEY_ID_FIELDS, f"one of {KEY_ID_FIELDS}")
    elif name == "serve_key":
        need(value in SERVE_KEYS, f"one of {SERVE_KEYS}")
    elif name == "entry_limit":
        need(value in ENTRY_LIMIT_MODES, f"one of {ENTRY_LIMIT_MODES}")
    elif name in (
        "init_wrapped",
        "complete_wrapped",
        "legacy_discovery",
        "static_without_ingestor_url",
        "store_duplicates",
        "accept_oaep_mgf1_sha1",
        "refuse_reused_secret",
    ):
        need(isinstance(value, bool), "true or false")
    elif name == "limits":
        need(isinstance(value, dict), "an object")
        fields = {f.name for f in dataclasses.fields(Limits)}
        for k, v in value.items():
            if k not in fields:
                raise ConfigChangeError(f"limits.{k}: unknown; known: {sorted(fields)}")
            if type(v) is not int or v < 0:
                raise ConfigChangeError(f"limits.{k}: expected an integer >= 0 (0 = no limit)")
            setattr(sw.limits, k, v)
        return
    else:
        known = [f.name for f in dataclasses.fields(sw)]
        raise ConfigChangeError(f"unknown switch {name!r}; known: {known}")
    setattr(sw, name, value)
