"""The session key exchange (protocol §3): init → verify/pin the server key → wrap → complete.

Init returns the server's RSA key (flat or under ``data``) and its limits. The key is parsed and
fingerprinted; if a pin is configured and differs, nothing more is sent (``PinMismatchError``).
A fresh AES-256 key is wrapped with RSA-OAEP-SHA256 and sent to complete, which answers the key
id (Go lookup order: ``key_id``, ``key_uuid``, ``data.key_id``, ``data.key_uuid``, trimmed).
Both steps need status exactly 200 (Go).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from logflux_agent import USER_AGENT
from logflux_agent.config.model import AgentConfig
from logflux_agent.config.values import parse_fingerprint
from logflux_agent.credentials import mask_secrets
from logflux_agent.errors import AuthError, ConfigError, HandshakeError, PinMismatchError
from logflux_agent.ingest import crypto
from logflux_agent.ingest.http import DISCOVERY_BODY_CAP, HttpResult, TransportError, request
from logflux_agent.ingest.session import ServerLimits, Session

log = structlog.get_logger(__name__)

# A key id travels in a part header: printable ASCII without separators that could break it.
_KEY_ID_RE = re.compile(r"^[\x21-\x7e]{1,256}$")


@dataclass(frozen=True, slots=True)
class Pin:
    """The expected server key fingerprint and where it was configured."""

    fingerprint: str
    source: str


def load_pin(config: AgentConfig) -> Pin | None:
    """The configured pin (``public_key_fingerprint`` and/or ``public_key_file``), or None."""
    enc = config.encryption
    pins: list[Pin] = []
    if enc.public_key_fingerprint:
        # The format is config/'s rule (the loader applied it at file:line:col already).
        fp = parse_fingerprint(enc.public_key_fingerprint)
        pins.append(Pin(fp, "encryption.public_key_fingerprint"))
    if enc.public_key_file:
        try:
            pem = Path(enc.public_key_file).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"encryption.public_key_file {enc.public_key_file}: cannot read: {exc}"
            ) from None
        try:
            key = crypto.parse_public_key(pem)
        except HandshakeError as exc:
            raise ConfigError(
                f"encryption.public_key_file {enc.public_key_file}: "
                f"{str(exc).replace('the ingestor sent', 'the file holds')}"
            ) from None
        pins.append(
            Pin(crypto.fingerprint(key), f"encryption.public_key_file ({enc.public_key_file})")
        )
    if len(pins) == 2 and pins[0].fingerprint != pins[1].fingerprint:
        raise ConfigError(
            f"encryption.public_key_fingerprint ({pins[0].fingerprint}) and "
            f"encryption.public_key_file ({pins[1].fingerprint}) name different keys"
        )
    return pins[0] if pins else None


async def perform_handshake(
    http: aiohttp.ClientSession,
    base_url: str,
    config: AgentConfig,
    *,
    pin: Pin | None,
    generation: int,
    now: float,
    timeout: float,
) -> Session:
    """Run init + complete against ``base_url`` and return the live session."""
    key_value = config.api_key.value
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {key_value}",
        "User-Agent": USER_AGENT,
    }
    init_url = f"{base_url}/v1/handshake/init"
    result = await _post(http, init_url, headers, {"api_key": key_value}, timeout)
    _check_status(result, init_url, config)
    doc = result.json()
    if not isinstance(doc, dict):
        raise HandshakeError(
            f"handshake init at {init_url}: the answer is not a JSON object: {_snippet(result)}"
        )
    source = _init_object(doc, init_url)
    public_key = crypto.parse_public_key(source["public_key"])
    fingerprint = crypto.fingerprint(public_key)
    if pin is not None and not crypto.fingerprints_equal(fingerprint, pin.fingerprint):
        raise PinMismatchError(
            f"the ingestor at {base_url} presented public key {fingerprint}, which does not "
            f"match the pinned {pin.fingerprint} ({pin.source}); refusing to send anything "
            "(if the account key was rotated on purpose, update the pin)"
        )
    limits = _parse_limits(source.get("limits"))
    supports_multipart = source.get("supports_multipart")
    if supports_multipart is False:
        log.warning(
            "handshake.multipart_not_advertised",
            ingestor=base_url,
            note="sending multipart anyway: protocol v3 has no other format",
        )

    aes_key = crypto.new_session_key()
    try:
        wrapped = crypto.wrap_key(public_key, aes_key)
        secret = base64.b64encode(wrapped).decode("ascii")
        key_id = await complete_with_secret(http, base_url, config, secret, timeout=timeout)
        session = Session(
            base_url=base_url,
            key_id=key_id,
            fingerprint=fingerprint,
            server_limits=limits,
            supports_multipart=bool(supports_multipart),
            created=now,
            generation=generation,
            max_entries=config.encryption.session_max_entries,
            _key=bytearray(aes_key),
            _prefix=crypto.new_nonce_prefix(),
            encrypted_secret=secret,
        )
    finally:
        crypto.zero(aes_key)
    log.info(
        "handshake.ok",
        ingestor=base_url,
        key_id=key_id,
        fingerprint=fingerprint,
        pinned=pin is not None,
        max_batch_size=limits.max_batch_size,
        max_payload_size=limits.max_payload_size,
        max_request_size=limits.max_request_size,
    )
    return session


async def complete_with_secret(
    http: aiohttp.ClientSession,
    base_url: str,
    config: AgentConfig,
    encrypted_secret: str,
    *,
    timeout: float,
) -> str:
    """Handshake step 3 for an already wrapped key: the key id the ingestor answers.

    The spool uses it alone to register a spooled batch's ``encrypted_secret`` again when its
    key id is refused after a restart (docs/spool.md). Raises AuthError or HandshakeError.
    """
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {config.api_key.value}",
        "User-Agent": USER_AGENT,
    }
    url = f"{base_url}/v1/handshake/complete"
    body = {"api_key": config.api_key.value, "encrypted_secret": encrypted_secret}
    result = await _post(http, url, headers, body, timeout)
    _check_status(result, url, config)
    return _key_id(result, url)


async def _post(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: dict[str, str],
    timeout: float,
) -> HttpResult:
    try:
        return await request(
            http,
            "POST",
            url,
            headers=headers,
            data=json.dumps(body).encode(),
            timeout=timeout,
            body_cap=DISCOVERY_BODY_CAP,
        )
    except TransportError as exc:
        raise HandshakeError(f"ingestor unavailable: {exc}") from None


def _snippet(result: HttpResult) -> str:
    return mask_secrets(result.snippet())


def _check_status(result: HttpResult, url: str, config: AgentConfig) -> None:
    if result.status in (401, 403):
        raise AuthError(
            f"the ingestor refused the API key {config.api_key.masked} at {url} "
            f"(HTTP {result.status}): {_snippet(result)} — is the key valid and not revoked?"
        )
    if result.status != 200:
        raise HandshakeError(f"handshake at {url} failed: HTTP {result.status}: {_snippet(result)}")
    if result.truncated:
        raise HandshakeError(
            f"handshake at {url}: answer larger than {DISCOVERY_BODY_CAP // 1024} KiB"
        )


def _init_object(doc: dict[str, Any], url: str) -> dict[str, Any]:
    flat = doc.get("public_key")
    if isinstance(flat, str) and flat.strip():
        return doc
    data = doc.get("data")
    if isinstance(data, dict):
        inner = data.get("public_key")
        if isinstance(inner, str) and inner.strip():
            return data
    raise HandshakeError(
        f"handshake init at {url}: the answer has no `public_key` (neither flat nor under `data`)"
    )


def _parse_limits(raw: object) -> ServerLimits:
    if not isinstance(raw, dict):
        return ServerLimits()
    values: dict[str, int] = {}
    for name in ("max_batch_size", "max_payload_size", "max_request_size"):
        value = raw.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            values[name] = value
        elif value not in (None, 0):
            log.warning("handshake.limit_ignored", limit=name, value=repr(value)[:40])
    return ServerLimits(**values)


def _key_id(result: HttpResult, url: str) -> str:
    doc = result.json()
    if not isinstance(doc, dict):
        raise HandshakeError(
            f"handshake complete at {url}: the answer is not a JSON object: {_snippet(result)}"
        )
    data = doc.get("data")
    candidates = [doc.get("key_id"), doc.get("key_uuid")]
    if isinstance(data, dict):
        candidates += [data.get("key_id"), data.get("key_uuid")]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            key_id = value.strip()
            if not _KEY_ID_RE.match(key_id):
                raise HandshakeError(
                    f"handshake complete at {url}: key id {key_id[:80]!r} "
                    "contains characters not allowed in a header"
                )
            return key_id
    raise HandshakeError(
        f"handshake complete at {url}: the answer has no key id "
        "(key_id / key_uuid, flat or under `data`)"
    )
