"""Discovery (§2), the handshake (§3), ``/health``, ``/info`` and the ``/_ref`` admin API.

Handshake: both steps need ``Authorization: Bearer`` with an allowed key and a JSON object
body (at most 64 KiB) whose ``api_key``, when present, equals the Bearer key. init answers 200
with the served PEM SPKI key, ``supports_multipart: true`` and the limits (flat, or under
``data`` with the ``init_wrapped`` switch). complete base64-decodes ``encrypted_secret``,
unwraps it with RSA-OAEP-SHA256 (or, with ``accept_oaep_mgf1_sha1``, MGF1-SHA-1 as well;
exactly 32 bytes, else 400, naming the OAEP variant that would have worked) and answers 200
with a fresh UUID under ``key_id`` (or ``key_uuid``; under ``data`` with ``complete_wrapped``).

The ``/_ref`` endpoints have no authentication: the server is for loopback development only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from logflux_agent.credentials import mask_key
from logflux_agent.devserver.envelopes import (
    Refused,
    error_response,
    json_response,
    new_request_id,
)
from logflux_agent.devserver.faults import FaultSpecError, RequestFaults
from logflux_agent.devserver.keys import STRICT as STRICT_OAEP
from logflux_agent.devserver.keys import UnwrapError, WrongKeyLength
from logflux_agent.devserver.options import ConfigChangeError
from logflux_agent.devserver.transport import Dropped, drop_connection, read_body

if TYPE_CHECKING:
    from logflux_agent.devserver.app import DevServer

log = structlog.get_logger(__name__)

HANDSHAKE_BODY_LIMIT = 64 * 1024
ADMIN_BODY_LIMIT = 1024 * 1024


class Routes:
    """Every endpoint but ingest, bound to one ``DevServer``."""

    def __init__(self, server: DevServer) -> None:
        self.server = server

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self.static_discovery)
        r.add_get("/api/discovery", self.auth_discovery)
        r.add_post("/v1/handshake/init", self.handshake_init)
        r.add_post("/v1/handshake/complete", self.handshake_complete)
        r.add_get("/health", self.health)
        r.add_get("/info", self.info)
        r.add_get("/_ref/stats", self.ref_stats)
        r.add_get("/_ref/entries", self.ref_entries)
        r.add_get("/_ref/faults", self.ref_faults_get)
        r.add_post("/_ref/faults", self.ref_faults)
        r.add_post("/_ref/reset", self.ref_reset)
        r.add_get("/_ref/config", self.ref_config_get)
        r.add_post("/_ref/config", self.ref_config)

    # -- fault plumbing shared by discovery and handshake -------------------------------------

    async def _with_faults(
        self, request: web.Request, group: str, endpoint: str, limit: int
    ) -> tuple[RequestFaults, bytes | None, str, web.StreamResponse | None]:
        """Apply reset/slow-read/close/delay/status faults; (faults, body, rid, early answer)."""
        srv = self.server
        rid = new_request_id()
        faults = srv.faults.take(group)
        for kind in faults.kinds:
            srv.stats.faults_injected[kind] += 1
        if faults.reset:
            await drop_connection(request, reset=True)
        body, _ = await read_body(request, limit, faults.slow_read)
        if faults.close and not faults.close_after_store:
            await drop_connection(request, reset=False)
        if faults.delay:
            await asyncio.sleep(faults.delay)
        if faults.status is not None:
            if group == "handshake":
                srv.stats.handshake_failures += 1
            return faults, body, rid, srv.fault_response(endpoint, faults.status, rid)
        if group == "discovery" and srv.faults.discovery_down:
            resp = error_response(503, "service_unavailable", "discovery is down (fault)", rid)
            return faults, body, rid, srv.finish(endpoint, resp)
        return faults, body, rid, None

    async def _run(
        self, request: web.Request, group: str, endpoint: str, limit: int, handler: Any
    ) -> web.StreamResponse:
        try:
            faults, body, rid, early = await self._with_faults(request, group, endpoint, limit)
            if early is not None:
                return early
            try:
                resp = handler(request, body, rid)
            except Refused as exc:
                if group == "handshake":
                    self.server.stats.handshake_failures += 1
                self.server.stats.rejections[exc.code] += 1
                resp = error_response(exc.status, exc.code, str(exc), rid, details=exc.details)
            if faults.close:
                await drop_connection(request, reset=False)  # processed, the answer is lost
            return self.server.finish(endpoint, resp)
        except Dropped:
            return web.Response(status=500)  # never sent: the connection is gone

    # -- discovery ----------------------------------------------------------------------------

    async def static_discovery(self, request: web.Request) -> web.StreamResponse:
        return await self._run(
            request, "discovery", "discovery_static", HANDSHAKE_BODY_LIMIT, self._static
        )

    def _static(self, request: web.Request, body: bytes | None, rid: str) -> web.Response:
        srv = self.server
        endpoints = {
            "ingestor_url": srv.base_url,
            "backend_url": srv.base_url,
            "dashboard_url": srv.base_url,
        }
        if srv.switches.static_without_ingestor_url:
            del endpoints["ingestor_url"]
        doc = {
            "version": "1",
            "region": srv.options.region,
            "endpoints": endpoints,
            "updated_at": _iso(srv.started_at),
        }
        return json_response(200, doc)

    async def auth_discovery(self, request: web.Request) -> web.StreamResponse:
        return await self._run(
            request, "discovery", "discovery_auth", HANDSHAKE_BODY_LIMIT, self._auth_discovery
        )

    def _auth_discovery(self, request: web.Request, body: bytes | None, rid: str) -> web.Response:
        srv = self.server
        srv.check_bearer(request)
        if srv.switches.legacy_discovery:
            doc: dict[str, Any] = {
                "status": "success",
                "message": "discovery ok",
                "data": {
                    "base_url": srv.base_url,
                    "region": srv.options.region,
                    "capabilities": ["multipart", "encryption"],
                },
            }
        else:
            doc = {
                "data_residency": srv.options.region,
                "ingestor_url": srv.base_url,
                "backend_url": srv.base_url,
                "environment": "development",
                "features": ["multipart", "encryption"],
            }
        return json_response(200, doc, rid)

    # -- handshake ----------------------------------------------------------------------------

    async def handshake_init(self, request: web.Request) -> web.StreamResponse:
        return await self._run(
            request, "handshake", "handshake_init", HANDSHAKE_BODY_LIMIT, self._init
        )

    def _init(self, request: web.Request, body: bytes | None, rid: str) -> web.Response:
        srv = self.server
        self._handshake_body(request, body)
        key = srv.keys.served(srv.switches.serve_key)
        data = {
            "public_key": key.public_pem,
            "supports_multipart": True,
            "limits": srv.switches.limits.as_json(),
        }
        if srv.switches.init_wrapped:
            return json_response(
                200, {"status": "success", "message": "handshake initiated", "data": data}, rid
            )
        return json_response(200, data, rid)

    async def handshake_complete(self, request: web.Request) -> web.StreamResponse:
        return await self._run(
            request, "handshake", "handshake_complete", HANDSHAKE_BODY_LIMIT, self._complete
        )

    def _complete(self, request: web.Request, body: bytes | None, rid: str) -> web.Response:
        srv = self.server
        api_key, doc = self._handshake_body(request, body)
        secret = doc.get("encrypted_secret")
        if not isinstance(secret, str) or not secret:
            raise Refused(400, "invalid_request", "encrypted_secret (base64 string) is required")
        try:
            wrapped = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(
                400, "invalid_secret", "encrypted_secret is not standard base64 with padding"
            ) from None
        try:
            aes_key, key, variant = srv.keys.unwrap_variant(
                wrapped, srv.switches.serve_key, srv.switches.accept_oaep_mgf1_sha1
            )
        except WrongKeyLength as exc:
            raise Refused(400, "invalid_key_length", str(exc)) from None
        except UnwrapError as exc:
            raise Refused(400, "invalid_secret", str(exc)) from None
        if srv.sessions.seen_secret(wrapped) and srv.switches.refuse_reused_secret:
            raise Refused(
                409, "secret_reused", "this encrypted_secret was registered before (switch)"
            )
        session = srv.sessions.create(aes_key, api_key, key.fingerprint)
        srv.stats.handshakes += 1
        if variant != STRICT_OAEP:
            srv.stats.handshakes_oaep_mgf1_sha1 += 1
        log.info(
            "devserver.handshake",
            key_id=session.key_id,
            api_key=mask_key(api_key),
            fingerprint=key.fingerprint,
            oaep=variant,
        )
        data = {srv.switches.key_id_field: session.key_id}
        if srv.switches.complete_wrapped:
            return json_response(
                200, {"status": "success", "message": "handshake complete", "data": data}, rid
            )
        return json_response(200, {"status": "success", **data}, rid)

    def _handshake_body(
        self, request: web.Request, body: bytes | None
    ) -> tuple[str, dict[str, Any]]:
        api_key = self.server.check_bearer(request)
        if body is None:
            raise Refused(
                413,
                "request_too_large",
                f"handshake bodies are limited to {HANDSHAKE_BODY_LIMIT} bytes",
            )
        ctype = request.headers.get("Content-Type", "")
        if ctype.partition(";")[0].strip().lower() != "application/json":
            raise Refused(
                400, "invalid_content_type", f"Content-Type {ctype!r} is not application/json"
            )
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "invalid_json", "the body is not UTF-8 JSON") from None
        if not isinstance(doc, dict):
            raise Refused(400, "invalid_json", "the body is not a JSON object")
        if "api_key" in doc and doc["api_key"] != api_key:
            raise Refused(
                401, "api_key_mismatch", "the api_key in the body differs from the Bearer key"
            )
        return api_key, doc

    # -- health and info ----------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.StreamResponse:
        return json_response(200, {"status": "ok"})

    async def info(self, request: web.Request) -> web.StreamResponse:
        return json_response(200, self.server.info_json())

    # -- /_ref admin --------------------------------------------------------------------------

    async def ref_stats(self, request: web.Request) -> web.StreamResponse:
        return json_response(200, self.server.stats_json())

    async def ref_entries(self, request: web.Request) -> web.StreamResponse:
        try:
            since = int(request.query.get("since", "0"))
            limit = int(request.query.get("limit", "10000"))
        except ValueError:
            return json_response(400, {"error": "since and limit must be integers"})
        return web.Response(
            text=self.server.entries_page(since, limit), content_type="application/json"
        )

    async def ref_faults_get(self, request: web.Request) -> web.StreamResponse:
        return json_response(200, self.server.faults.snapshot())

    async def ref_faults(self, request: web.Request) -> web.StreamResponse:
        spec = await _admin_json(request)
        try:
            result = self.server.apply_faults(spec)
        except FaultSpecError as exc:
            return json_response(400, {"ok": False, "error": str(exc)})
        log.info("devserver.faults", spec=json.dumps(spec))
        return json_response(200, result)

    async def ref_reset(self, request: web.Request) -> web.StreamResponse:
        self.server.reset()
        return json_response(200, {"ok": True, "epoch": self.server.epoch})

    async def ref_config_get(self, request: web.Request) -> web.StreamResponse:
        return json_response(200, self.server.switches_json())

    async def ref_config(self, request: web.Request) -> web.StreamResponse:
        changes = await _admin_json(request)
        try:
            return json_response(200, self.server.configure(changes))
        except ConfigChangeError as exc:
            return json_response(400, {"ok": False, "error": str(exc)})


async def _admin_json(request: web.Request) -> Any:
    data, size = await read_body(request, ADMIN_BODY_LIMIT)
    if data is None:
        raise web.HTTPRequestEntityTooLarge(max_size=ADMIN_BODY_LIMIT, actual_size=size)
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"ok": False, "error": f"not JSON: {exc}"}),
            content_type="application/json",
        ) from None


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
