"""Response bodies (protocol §4 envelopes), request ids and the X-RateLimit-* headers.

Every error is ``{"status":"error","error":{"code","message","details"[,"retry_after"]},
"request_id"}``; a batch answer is ``{"status":"success","message","request_id","data":{"success",
"total","succeeded","failed","failures":[{"index","error"}]}}``. Each response also carries the
request id as ``X-Request-ID``.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from aiohttp import web

from logflux_agent.clock import Clock

DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
    507: "insufficient_storage",
}
RATE_WINDOW_SECONDS = 60


class Refused(Exception):
    """The whole request is refused with ``status``/``code``; nothing of it is stored."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


def new_request_id() -> str:
    return str(uuid.uuid4())


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def json_response(
    status: int, body: Any, request_id: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    hdrs = dict(headers or {})
    if request_id:
        hdrs["X-Request-ID"] = request_id
    return web.Response(
        status=status, text=dumps(body), content_type="application/json", headers=hdrs
    )


def error_body(
    code: str, message: str, request_id: str, details: str = "", retry_after: int | None = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "details": details}
    if retry_after is not None:
        err["retry_after"] = retry_after
    return {"status": "error", "error": err, "request_id": request_id}


def error_response(
    status: int,
    code: str | None,
    message: str,
    request_id: str,
    *,
    details: str = "",
    retry_after: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = error_body(
        code or DEFAULT_CODES.get(status, "error"), message, request_id, details, retry_after
    )
    return json_response(status, body, request_id, headers)


def batch_body(
    request_id: str, total: int, failures: list[tuple[int, str]], duplicates: int = 0
) -> dict[str, Any]:
    failed = len(failures)
    message = (
        "batch accepted"
        if not failed
        else f"batch partially accepted: {failed} of {total} entries failed"
    )
    data: dict[str, Any] = {
        "success": failed == 0,
        "total": total,
        "succeeded": total - failed,
        "failed": failed,
        "failures": [{"index": i, "error": e} for i, e in failures],
    }
    if duplicates:
        data["duplicates"] = duplicates
    return {"status": "success", "message": message, "request_id": request_id, "data": data}


class RateLimiter:
    """Informational fixed-window counter for the X-RateLimit-* headers; it never refuses
    (429s come from faults). Reset is epoch seconds (> 10^9) of the window's end."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self.limit = limit
        self._clock = clock
        self._window = -1
        self._used = 0

    def headers(self) -> dict[str, str]:
        now = self._clock.wall()
        window = int(now // RATE_WINDOW_SECONDS)
        if window != self._window:
            self._window, self._used = window, 0
        self._used += 1
        reset = (window + 1) * RATE_WINDOW_SECONDS
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self._used)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
