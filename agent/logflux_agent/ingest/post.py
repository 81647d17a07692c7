"""One ingest request: POST a multipart body under a session, and what the answer means.

Owns the request itself (headers, URL, timeout, capped answer body) and its metrics (in-flight
gauge, wire bytes, request duration); the meaning of the answer is ``outcome.classify``'s, and
a request that got no answer at all becomes ``outcome.transport_failure``.
"""

from __future__ import annotations

import aiohttp

from logflux_agent.clock import Clock
from logflux_agent.ingest import outcome as oc
from logflux_agent.ingest.http import INGEST_BODY_CAP, HttpResult, TransportError, request
from logflux_agent.observe import metrics


async def post_ingest(
    http: aiohttp.ClientSession,
    base_url: str,
    *,
    api_key: str,
    body: bytes,
    content_type: str,
    parts: int,
    timeout: float,
    clock: Clock,
) -> oc.Outcome:
    """POST ``body`` (``parts`` parts) to ``{base_url}/v1/ingest``; the outcome."""
    result = await _post(http, base_url, api_key, body, content_type, timeout, clock)
    if isinstance(result, TransportError):
        return oc.transport_failure(result.kind, str(result))
    return oc.classify(
        result.status,
        result.headers,
        result.body,
        parts=parts,
        now_wall=clock.wall(),
        truncated=result.truncated,
    )


async def _post(
    http: aiohttp.ClientSession,
    base_url: str,
    api_key: str,
    body: bytes,
    content_type: str,
    timeout: float,
    clock: Clock,
) -> HttpResult | TransportError:
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {api_key}"}
    metrics.IN_FLIGHT.inc()
    metrics.WIRE_BYTES.inc(len(body))
    started = clock.monotonic()
    try:
        return await request(
            http,
            "POST",
            f"{base_url}/v1/ingest",
            headers=headers,
            data=body,
            timeout=timeout,
            body_cap=INGEST_BODY_CAP,
        )
    except TransportError as exc:
        return exc
    finally:
        metrics.IN_FLIGHT.dec()
        metrics.REQUEST_DURATION.observe(max(0.0, clock.monotonic() - started))
