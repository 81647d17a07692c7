"""Every setting of the reference ingestor, with its default (the CLI maps flags onto these).

Switches that tests flip at run time (wrapped init, ``key_uuid``, legacy discovery, which key
init serves, ...) live in ``Switches`` so ``POST /_ref/config`` can change them; the rest is
fixed for the server's life.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The fixed development key: public (documented), accepted when no --api-key is given.
DEV_API_KEY = "eu-lf_devingestor0local0key00001"

DEFAULT_MAX_BATCH_SIZE = 1000
DEFAULT_MAX_PAYLOAD_SIZE = 1_048_576
DEFAULT_MAX_REQUEST_SIZE = 10_485_760
BOMB_GUARD_BYTES = 10 * 1024 * 1024
DEFAULT_KEEP_ENTRIES = 1_000_000
DEFAULT_NONCE_MEMORY = 2_000_000
DEFAULT_MAX_SESSIONS = 100_000
DEFAULT_RATE_LIMIT = 6000  # advertised requests per 60 s window (informational)
SUCCESS_STATUSES = (200, 201, 202)
KEY_ID_FIELDS = ("key_id", "key_uuid")
ENTRY_LIMIT_MODES = ("413", "part")
SERVE_KEYS = ("primary", "secondary")


class ConfigChangeError(ValueError):
    """A run-time switch change (``POST /_ref/config``) is invalid."""


@dataclass(slots=True)
class Limits:
    """What init advertises and ingest enforces; 0 means 'not advertised, not enforced'."""

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE

    def as_json(self) -> dict[str, int]:
        return {
            "max_batch_size": self.max_batch_size,
            "max_payload_size": self.max_payload_size,
            "max_request_size": self.max_request_size,
        }


@dataclass(slots=True)
class Switches:
    """Behaviour a test may change while the server runs (``POST /_ref/config``)."""

    success_status: int = 202
    key_id_field: str = "key_id"
    init_wrapped: bool = False
    complete_wrapped: bool = False
    legacy_discovery: bool = False
    static_without_ingestor_url: bool = False
    serve_key: str = "primary"
    entry_limit: str = "413"  # per-entry size over the limit: "413" (whole request) | "part"
    store_duplicates: bool = False
    # Java's default OAEP provider uses MGF1-SHA-1 with SHA-256: refused unless this is on.
    accept_oaep_mgf1_sha1: bool = False
    # A second handshake/complete with an encrypted_secret seen before: accepted as a new
    # session (default; what a spooling agent relies on after a restart) or refused with 409.
    refuse_reused_secret: bool = False
    limits: Limits = field(default_factory=Limits)


@dataclass(slots=True)
class DevServerOptions:
    """The server's configuration; ``commands/dev_ingestor.py`` builds it from the flags."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: tuple[str, ...] = (DEV_API_KEY,)
    region: str = "eu"
    private_key_pem: bytes | None = None
    secondary_key_pem: bytes | None = None
    output: str | None = None  # a path, "-" for stdout, or None
    no_decrypt: bool = False
    lenient_js_framing: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    public_url: str | None = None
    keep_entries: int = DEFAULT_KEEP_ENTRIES
    nonce_memory: int = DEFAULT_NONCE_MEMORY
    max_sessions: int = DEFAULT_MAX_SESSIONS
    rate_limit: int = DEFAULT_RATE_LIMIT
    switches: Switches = field(default_factory=Switches)
