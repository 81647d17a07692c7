"""HTTP plumbing shared by discovery, handshake and ingest: one aiohttp session, capped reads.

Owns TLS (verification on by default, ``ca_file`` added to the system trust store), proxies
(``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, credentials in the proxy URL), per-request
timeouts, reading response bodies with a size cap, and turning aiohttp/OS errors into one
``TransportError`` whose message says precisely what failed (DNS, TLS, refused, timeout...).
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from logflux_agent.errors import ConfigError

KiB = 1024
DISCOVERY_BODY_CAP = 64 * KiB
INGEST_BODY_CAP = 1024 * KiB


class TransportError(Exception):
    """The request got no HTTP answer. ``kind``: dns, tls, refused, timeout, proxy, connection."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (or was cut at the cap)."""
        if self.truncated or not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def snippet(self, limit: int = 200) -> str:
        text = self.body[:limit].decode("utf-8", "replace")
        return " ".join(text.split())


def make_ssl_context(tls_verify: bool, ca_file: str | None) -> ssl.SSLContext | bool:
    """Verification on by default; ``ca_file`` is trusted in addition to the system store."""
    if not tls_verify:
        return False
    ctx = ssl.create_default_context()
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"ca_file {ca_file}: cannot load CA certificates: {exc}") from None
    return ctx


def make_session(
    ssl_context: ssl.SSLContext | bool, *, user_agent: str, connections: int
) -> aiohttp.ClientSession:
    """``ssl_context`` from ``make_ssl_context``: built once, since loading the system trust
    store takes ~25 ms, which must not happen on the event loop while it serves /health."""
    connector = aiohttp.TCPConnector(
        ssl=ssl_context, limit=max(2, connections), enable_cleanup_closed=True
    )
    # trust_env stays off: with it aiohttp consults ~/.netrc and the proxy variables on a
    # thread for every request (two thread hops per batch), and a .netrc entry for the
    # ingestor would even clash with our Authorization header. env_proxy() does the proxy part.
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, headers={"User-Agent": user_agent}
    )


def env_proxy(url: str) -> tuple[str, dict[str, str]] | None:
    """The proxy for ``url`` from ``HTTPS_PROXY``/``HTTP_PROXY`` unless ``NO_PROXY`` exempts it.

    Read from the environment on every call (a dict walk, no file access). Returns the proxy
    URL and the headers for it: credentials in the proxy URL become ``Proxy-Authorization``.
    """
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme)
    if not proxy or not parts.hostname:
        return None
    if urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
        parts.hostname, proxies
    ):
        return None
    proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if proxy_parts.username is None:
        return proxy_parts.geturl(), {}
    auth = aiohttp.encode_basic_auth(
        unquote(proxy_parts.username), unquote(proxy_parts.password or "")
    )
    bare = proxy_parts._replace(netloc=proxy_parts.netloc.rpartition("@")[2])
    return bare.geturl(), {"Proxy-Authorization": auth}


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    data: bytes | None,
    timeout: float,
    body_cap: int,
) -> HttpResult:
    """One request with a total timeout; the body is read up to ``body_cap`` bytes."""
    via = env_proxy(url)
    proxy, proxy_headers = via if via is not None else (None, None)
    try:
        async with session.request(
            method,
            url,
            headers=dict(headers),
            data=data,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
            proxy=proxy,
            proxy_headers=proxy_headers,
        ) as resp:
            chunks: list[bytes] = []
            size = 0
            truncated = False
            while True:
                chunk = await resp.content.read(min(64 * KiB, body_cap + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > body_cap:
                    truncated = True
                    break
            body = b"".join(chunks)[:body_cap]
            return HttpResult(resp.status, resp.headers, body, truncated)
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        raise describe(exc, url, timeout) from None


def describe(exc: BaseException, url: str, timeout: float) -> TransportError:
    """A precise, secret-free message for a failed request."""
    host = url
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return TransportError("dns", f"cannot resolve the host of {host} (DNS): {exc.os_error}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TransportError(
            "tls", f"TLS certificate verification failed for {host}: {exc.certificate_error}"
        )
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return TransportError("tls", f"TLS handshake with {host} failed: {exc}")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return TransportError("proxy", f"cannot connect to the proxy for {host}: {exc.os_error}")
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return TransportError(
            "proxy", f"the proxy refused the tunnel to {host}: HTTP {exc.status} {exc.message}"
        )
    if isinstance(exc, TimeoutError):
        return TransportError("timeout", f"no answer from {host} within {timeout:g} s (timeout)")
    if isinstance(exc, aiohttp.ClientConnectorError):
        err = exc.os_error
        if isinstance(err, ConnectionRefusedError):
            return TransportError("refused", f"connection refused by {host}")
        return TransportError("connection", f"cannot connect to {host}: {err}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return TransportError("connection", f"{host} closed the connection without answering")
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return TransportError("invalid_url", f"invalid URL {host}: {exc}")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError("refused", f"connection refused by {host}")
    return TransportError("connection", f"request to {host} failed: {type(exc).__name__}: {exc}")
