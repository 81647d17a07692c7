"""Finding the ingestor base URL (protocol §2): endpoint override, static regional, authenticated.

Order: a configured ``endpoint`` is used verbatim (trailing ``/`` stripped, no network); else, if
a region is known (``config.region`` overrides the key's), ``GET`` the static regional document
(no credentials); else, or when that fails, ``GET {gateway}/api/discovery`` with the key, for
each configured gateway in order. First success wins. Each request has its own timeout and a
64 KiB body cap. The URLs come from ``config.discovery`` so tests can point them at loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from yarl import URL

from logflux_agent.config.model import AgentConfig
from logflux_agent.errors import AuthError, DiscoveryError
from logflux_agent.ingest.http import DISCOVERY_BODY_CAP, TransportError, request

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Discovered:
    """The ingestor base URL and how it was found (endpoint, static, authenticated)."""

    base_url: str
    region: str
    via: str


def normalize_base(url: str) -> str | None:
    """``url`` without trailing slashes if it is an absolute http(s) URL, else None."""
    text = url.strip().rstrip("/")
    try:
        parsed = URL(text)
    except (ValueError, TypeError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    return text


def effective_region(config: AgentConfig) -> str:
    return config.region or config.api_key.region


async def discover(config: AgentConfig, session: aiohttp.ClientSession) -> Discovered:
    """Run discovery; raise ``DiscoveryError`` (or ``AuthError``) listing every attempt."""
    region = effective_region(config)
    if config.endpoint:
        base = normalize_base(config.endpoint)
        if base is None:
            raise DiscoveryError(f"endpoint {config.endpoint!r} is not an http(s) URL")
        return Discovered(base, region, "endpoint")
    failures: list[str] = []
    timeout = config.discovery.timeout
    if region:
        url = config.discovery.static_url.replace("{region}", region)
        try:
            base = await _static(session, url, timeout)
            log.info("discovery.static_ok", url=url, ingestor=base)
            return Discovered(base, region, "static")
        except DiscoveryError as exc:
            failures.append(f"static {url}: {exc}")
            log.warning("discovery.static_failed", url=url, error=str(exc))
    refused = 0
    for gateway in config.discovery.gateways:
        url = gateway.rstrip("/") + "/api/discovery"
        try:
            base, found_region = await _authenticated(session, url, config, timeout)
            log.info("discovery.authenticated_ok", url=url, ingestor=base)
            return Discovered(base, region or found_region, "authenticated")
        except AuthError as exc:
            refused += 1
            failures.append(f"{url}: {exc}")
        except DiscoveryError as exc:
            failures.append(f"{url}: {exc}")
            log.warning("discovery.authenticated_failed", url=url, error=str(exc))
    if not config.discovery.gateways:
        failures.append("no discovery gateways configured")
    hint = (
        ""
        if region
        else (" (the key has no region: set `endpoint:` or `region:` in the configuration)")
    )
    message = "no ingestor URL could be discovered" + hint + ": " + "; ".join(failures)
    if refused and refused == len(config.discovery.gateways):
        raise AuthError(message)
    raise DiscoveryError(message)


async def _get_json(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], timeout: float
) -> Any:
    try:
        result = await request(
            session,
            "GET",
            url,
            headers=headers,
            data=None,
            timeout=timeout,
            body_cap=DISCOVERY_BODY_CAP,
        )
    except TransportError as exc:
        raise DiscoveryError(str(exc)) from None
    if result.status in (401, 403):
        raise AuthError(f"HTTP {result.status}: the API key was refused")
    if result.status != 200:
        raise DiscoveryError(f"HTTP {result.status}: {result.snippet()}")
    if result.truncated:
        raise DiscoveryError(f"response larger than {DISCOVERY_BODY_CAP // 1024} KiB")
    doc = result.json()
    if not isinstance(doc, dict):
        raise DiscoveryError("response is not a JSON object")
    return doc


async def _static(session: aiohttp.ClientSession, url: str, timeout: float) -> str:
    try:
        doc = await _get_json(session, url, {"Accept": "application/json"}, timeout)
    except AuthError as exc:
        raise DiscoveryError(str(exc)) from None
    endpoints = doc.get("endpoints")
    ingestor = endpoints.get("ingestor_url") if isinstance(endpoints, dict) else None
    return _valid_url(ingestor, "endpoints.ingestor_url")


async def _authenticated(
    session: aiohttp.ClientSession, url: str, config: AgentConfig, timeout: float
) -> tuple[str, str]:
    headers = {"Accept": "application/json", "Authorization": f"Bearer {config.api_key.value}"}
    doc = await _get_json(session, url, headers, timeout)
    if doc.get("ingestor_url") is not None:
        region = doc.get("data_residency")
        return (
            _valid_url(doc.get("ingestor_url"), "ingestor_url"),
            region if isinstance(region, str) else "",
        )
    data = doc.get("data")
    if isinstance(data, dict):
        region = data.get("region")
        return (
            _valid_url(data.get("base_url"), "data.base_url"),
            region if isinstance(region, str) else "",
        )
    raise DiscoveryError("response has neither `ingestor_url` nor `data.base_url`")


def _valid_url(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DiscoveryError(f"response has no `{name}`")
    base = normalize_base(value)
    if base is None:
        raise DiscoveryError(f"`{name}` {value[:200]!r} is not an http(s) URL")
    return base
