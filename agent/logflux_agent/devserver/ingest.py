"""``POST /v1/ingest``: auth, limits, multipart, per-part decryption and validation, recording.

Request-level answers (nothing of the request is stored): 401 ``missing_api_key`` /
``invalid_api_key`` (Bearer), 413 ``request_too_large`` / ``batch_too_large`` /
``entry_too_large``, 400 ``invalid_content_type`` / ``invalid_multipart``, 401 ``invalid_key_id``
(an X-LF-Key-ID this server did not issue to this API key, or expired), 400 ``nonce_reuse``
(a known (key id, nonce) with a different body). Anything else wrong with one part is a part
failure in the 2xx batch envelope's ``failures``; the other parts are accepted.

Accepted entries are recorded before the answer is sent; an injected delay holds the answer
only. In ``--no-decrypt`` (counting) mode the delimiters are checked and parts and bytes counted
(``multipart.count_parts``); part headers, AES, gzip, JSON and nonces are not looked at and
nothing is recorded.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from logflux_agent.devserver import payload as pl
from logflux_agent.devserver.envelopes import Refused, batch_body, error_response, new_request_id
from logflux_agent.devserver.faults import RequestFaults
from logflux_agent.devserver.multipart import (
    MultipartError,
    Part,
    TooManyParts,
    boundary_from_content_type,
    count_parts,
    parse_multipart,
    scan_multipart,
)
from logflux_agent.devserver.options import BOMB_GUARD_BYTES
from logflux_agent.devserver.sessions import body_digest, nonce_slot
from logflux_agent.devserver.transport import Dropped, drop_connection, read_body

if TYPE_CHECKING:
    from logflux_agent.devserver.app import DevServer

log = structlog.get_logger(__name__)


class _Accepted:
    """A part that passed every check, waiting for the request to be accepted as a whole."""

    __slots__ = ("digest", "duplicate", "line", "slot")

    def __init__(self, line: str, slot: bytes | None, digest: int, duplicate: bool) -> None:
        self.line, self.slot, self.digest, self.duplicate = line, slot, digest, duplicate


class IngestHandler:
    """The ingest endpoint of one ``DevServer``."""

    def __init__(self, server: DevServer) -> None:
        self.server = server

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except Dropped:
            return web.Response(status=500)  # never sent: the connection is gone

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        srv = self.server
        stats = srv.stats
        rid = new_request_id()
        stats.requests += 1
        faults = srv.faults.take("ingest")
        for kind in faults.kinds:
            stats.faults_injected[kind] += 1
        if faults.reset:
            await drop_connection(request, reset=True)
        body, size = await read_body(
            request, srv.switches.limits.max_request_size, faults.slow_read
        )
        stats.bytes_in += size
        if faults.close and not faults.close_after_store:
            await drop_connection(request, reset=False)  # nothing stored, no answer
        if faults.status is not None:
            if faults.delay:
                await asyncio.sleep(faults.delay)
            return srv.fault_response("ingest", faults.status, rid)
        try:
            resp = self._process(request, body, size, faults, rid)
        except Refused as exc:
            stats.rejections[exc.code] += 1
            resp = error_response(exc.status, exc.code, str(exc), rid, details=exc.details)
        else:
            if faults.close:
                await drop_connection(request, reset=False)  # stored, but the answer is lost
        if faults.delay:
            await asyncio.sleep(faults.delay)
        return srv.finish("ingest", resp)

    def _process(
        self, request: web.Request, body: bytes | None, size: int, faults: RequestFaults, rid: str
    ) -> web.Response:
        srv = self.server
        api_key = srv.check_bearer(request)
        limits = srv.switches.limits
        if body is None:
            raise Refused(
                413,
                "request_too_large",
                f"the request body is {size} bytes, more than max_request_size "
                f"{limits.max_request_size}",
            )
        try:
            boundary = boundary_from_content_type(request.headers.get("Content-Type"))
        except MultipartError as exc:
            raise Refused(400, "invalid_content_type", str(exc)) from None
        if srv.options.no_decrypt:
            return self._count(body, boundary, faults, rid)
        try:
            parts = parse_multipart(
                body,
                boundary,
                lenient_js=srv.options.lenient_js_framing,
                max_parts=limits.max_batch_size,
            )
        except TooManyParts as exc:
            raise Refused(
                413,
                "batch_too_large",
                f"{exc.count} entries in one request, more than max_batch_size {exc.limit}",
            ) from None
        except MultipartError as exc:
            raise Refused(400, "invalid_multipart", str(exc)) from None
        srv.stats.parts += len(parts)
        return self._decode_all(parts, api_key, faults, rid)

    def _count(self, body: bytes, boundary: bytes, faults: RequestFaults, rid: str) -> web.Response:
        srv = self.server
        try:
            if srv.options.lenient_js_framing:
                count, total = scan_multipart(body, boundary, lenient_js=True)
            else:  # delimiters counted, parts not looked into: cheap next to any shipper
                count, total = count_parts(body, boundary)
        except MultipartError as exc:
            raise Refused(400, "invalid_multipart", str(exc)) from None
        limit = srv.switches.limits.max_batch_size
        if limit and count > limit:
            raise Refused(
                413,
                "batch_too_large",
                f"{count} entries in one request, more than max_batch_size {limit}",
            )
        failures = [(i, faults.fail_error) for i in sorted(faults.fail_indexes) if i < count]
        stats = srv.stats
        stats.parts += count
        stats.part_bytes += total
        stats.entries_accepted += count - len(failures)
        stats.parts_failed += len(failures)
        if failures:
            stats.failure_reasons["injected"] += len(failures)
        return srv.json(srv.switches.success_status, batch_body(rid, count, failures), rid)

    def _decode_all(
        self, parts: list[Part], api_key: str, faults: RequestFaults, rid: str
    ) -> web.Response:
        srv = self.server
        stats = srv.stats
        accepted: list[_Accepted] = []
        failures: list[tuple[int, str]] = []
        in_request: dict[bytes, int] = {}
        duplicates = 0
        now = srv.clock.wall()
        for index, part in enumerate(parts):
            stats.part_bytes += len(part.body)
            try:
                if index in faults.fail_indexes:
                    raise pl.PartFailure("injected", faults.fail_error)
                item = self._decode(part, index, api_key, in_request, rid, now)
            except pl.EntryTooLarge as exc:
                if srv.switches.entry_limit == "413":
                    raise Refused(
                        413, "entry_too_large", f"part {index}: {exc}", details=f"index {index}"
                    ) from None
                failures.append((index, str(exc)))
                stats.failure_reasons[exc.reason] += 1
                continue
            except pl.PartFailure as exc:
                failures.append((index, str(exc)))
                stats.failure_reasons[exc.reason] += 1
                if exc.reason == "decrypt_failed":
                    stats.decrypt_failures += 1
                continue
            if item is None or item.duplicate:
                duplicates += 1
            if item is not None:
                accepted.append(item)
        lines = [a.line for a in accepted]
        try:
            srv.recorder.record(lines)
        except OSError as exc:
            log.error("devserver.output_failed", error=str(exc))
            raise Refused(500, "internal_error", f"cannot record the entries: {exc}") from None
        for a in accepted:
            if a.slot is not None:
                srv.nonces.remember(a.slot, a.digest)
        stats.entries_accepted += len(parts) - len(failures) - duplicates
        stats.duplicates += duplicates
        stats.parts_failed += len(failures)
        return srv.json(
            srv.switches.success_status, batch_body(rid, len(parts), failures, duplicates), rid
        )

    def _decode(
        self,
        part: Part,
        index: int,
        api_key: str,
        in_request: dict[bytes, int],
        rid: str,
        now: float,
    ) -> _Accepted | None:
        """Check and decode one part: its record, or None for a duplicate not to store."""
        srv = self.server
        limit = srv.switches.limits.max_payload_size
        headers = part.headers
        pl.check_content_type(headers)
        entry_type, payload_type = pl.check_types(headers)
        x_ts = pl.check_timestamp_header(headers)
        if limit and len(part.body) > limit:
            raise pl.EntryTooLarge(
                f"the part body is {len(part.body)} bytes, more than max_payload_size {limit}"
            )
        slot: bytes | None = None
        digest = 0
        duplicate = False
        key_id = nonce_b64 = None
        if entry_type <= 6:
            key_id = headers.get("x-lf-key-id")
            if not key_id:
                raise pl.PartFailure("missing_header", "missing X-LF-Key-ID")
            session = srv.sessions.get(key_id, api_key)
            if session is None:
                raise Refused(
                    401,
                    "invalid_key_id",
                    f"unknown X-LF-Key-ID {key_id[:64]!r} (never issued to this API "
                    "key, or expired): perform the handshake again",
                    details=f"index {index}",
                )
            nonce_b64, nonce = pl.decode_nonce(headers)
            slot = nonce_slot(session, nonce)
            digest = body_digest(part.body)
            previous = in_request.get(slot)
            if previous is None:
                previous = srv.nonces.lookup(slot)
            if previous == digest:
                if not srv.switches.store_duplicates:
                    return None
                duplicate = True
            data = pl.decrypt(session.aead, nonce, part.body, part.alt_body)
            if previous is not None and previous != digest:
                srv.stats.nonce_reuse += 1
                raise Refused(
                    400,
                    "nonce_reuse",
                    f"part {index}: nonce {nonce_b64} was already used under key id "
                    f"{key_id} with a different body (AES-GCM nonce reuse)",
                    details=f"index {index}",
                )
            in_request[slot] = digest
        else:
            data = part.body
        guard = min(limit, BOMB_GUARD_BYTES) if limit else BOMB_GUARD_BYTES
        if data.startswith(pl.GZIP_MAGIC):
            plaintext = pl.gunzip_bounded(data, guard)
        else:
            plaintext = data
            srv.stats.parts_uncompressed += 1
        if len(plaintext) > guard:
            raise pl.EntryTooLarge(f"the plaintext is {len(plaintext)} bytes, more than {guard}")
        text, obj = pl.parse_plaintext(plaintext, entry_type, x_ts)
        srv.stats.plaintext_bytes += len(plaintext)
        if "\n" in text or "\r" in text:
            text = json.dumps(obj, separators=(",", ":"))
        head = '{"duplicate":true,"key_id":' if duplicate else '{"key_id":'
        # key_id is one we issued (a UUID), the nonce is checked base64 and the timestamp
        # matched RFC 3339: all safe inside JSON quotes as they are.
        line = (
            f'{head}{_q(key_id)},"nonce":{_q(nonce_b64)},"entry_type":{entry_type},'
            f'"payload_type":{payload_type},"x_timestamp":{_q(x_ts)},'
            f'"search_tokens":{_tokens(headers)},'
            f'"accepted_at":{now},"request_id":"{rid}","index":{index},"payload":{text}}}'
        )
        return _Accepted(line, slot, digest, duplicate)


def _tokens(headers: dict[str, str]) -> str:
    return json.dumps(pl.search_tokens(headers)) if "x-lf-search-tokens" in headers else "[]"


def _q(safe: str | None) -> str:
    return "null" if safe is None else f'"{safe}"'
