"""`logflux-agent dev-ingestor`: run the local reference ingestor (protocol §8).

Flags map onto ``devserver.options.DevServerOptions``; aiohttp and the server are imported
inside ``main`` only, because the CLI imports this module to build its parser.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from logflux_agent.errors import EXIT_CONFIG, AgentError, ConfigError

if TYPE_CHECKING:
    from logflux_agent.devserver.options import DevServerOptions


def _positive(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("listening")
    g.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    g.add_argument(
        "--port",
        type=_positive,
        default=8080,
        metavar="N",
        help="TCP port (default 8080; 0 = pick a free one)",
    )
    g.add_argument(
        "--ready-file",
        metavar="PATH",
        help="write {url, port, fingerprint, api_keys, pid} as JSON once listening",
    )
    g.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate chain")
    g.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    g.add_argument(
        "--public-url",
        metavar="URL",
        help="base URL announced by discovery (default: the listening URL)",
    )
    g.add_argument(
        "--region",
        default="eu",
        choices=("eu", "us", "ca", "au", "ap"),
        help="region named by discovery (default eu)",
    )

    g = parser.add_argument_group("keys")
    g.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        dest="api_keys",
        help="accepted API key (repeatable; default: the fixed dev key)",
    )
    g.add_argument(
        "--private-key",
        metavar="PEM",
        help="RSA private key to serve (PKCS#1 or PKCS#8 PEM, e.g. from "
        "'openssl genrsa'); default: a fresh RSA-2048 key",
    )
    g.add_argument(
        "--secondary-private-key",
        metavar="PEM",
        help="second RSA key for rotation tests (default: generated when first served)",
    )

    g.add_argument(
        "--accept-oaep-mgf1-sha1",
        action="store_true",
        help="compatibility: also accept session keys wrapped with OAEP SHA-256 / MGF1-SHA-1 "
        "(Java's default provider); strict OAEP SHA-256 / MGF1-SHA-256 otherwise",
    )

    g = parser.add_argument_group("behaviour")
    g.add_argument(
        "--no-decrypt",
        action="store_true",
        help="counting mode for benchmarks: check framing, count parts and bytes; "
        "no AES, JSON or recording",
    )
    g.add_argument(
        "--lenient-js-framing",
        action="store_true",
        help="also accept the JS SDK's multipart framing (no CRLF before --boundary)",
    )
    g.add_argument(
        "--max-batch-size",
        type=_positive,
        metavar="N",
        default=1000,
        help="entries per request, advertised and enforced (413); default 1000",
    )
    g.add_argument(
        "--max-payload-size",
        type=_positive,
        metavar="N",
        default=1_048_576,
        help="bytes per entry (part body and plaintext); default 1048576",
    )
    g.add_argument(
        "--max-request-size",
        type=_positive,
        metavar="N",
        default=10_485_760,
        help="bytes per request body; default 10485760",
    )
    g.add_argument(
        "--entry-limit",
        choices=("413", "part"),
        default="413",
        help="an entry over max-payload-size: refuse the request (413, default) "
        "or fail only that part",
    )
    g.add_argument(
        "--success-status",
        type=int,
        choices=(200, 201, 202),
        default=202,
        help="status of an accepted ingest request (default 202)",
    )
    g.add_argument(
        "--key-id-field",
        choices=("key_id", "key_uuid"),
        default="key_id",
        help="field name of the key id in the complete answer (default key_id)",
    )
    g.add_argument(
        "--init-wrapped",
        action="store_true",
        help="answer init as {status, message, data:{...}} instead of flat",
    )
    g.add_argument(
        "--complete-wrapped",
        action="store_true",
        help="answer complete as {status, data:{key_id}} instead of flat",
    )
    g.add_argument(
        "--legacy-discovery",
        action="store_true",
        help="answer /api/discovery in the legacy {status, data:{base_url}} form",
    )
    g.add_argument(
        "--store-duplicates",
        action="store_true",
        help="record identical replays again (flagged duplicate) instead of once",
    )
    g.add_argument(
        "--rate-limit",
        type=_positive,
        metavar="N",
        default=6000,
        help="X-RateLimit-Limit per 60 s window (informational; default 6000)",
    )

    g = parser.add_argument_group("recording")
    g.add_argument(
        "--output",
        metavar="FILE",
        help="append each accepted entry as a JSON line to FILE ('-' = stdout)",
    )
    g.add_argument(
        "--keep-entries",
        type=_positive,
        metavar="N",
        default=1_000_000,
        help="entries kept in memory for /_ref/entries (default 1000000)",
    )
    g.add_argument(
        "--nonce-memory",
        type=_positive,
        metavar="N",
        default=2_000_000,
        help="(key id, nonce) pairs remembered for replay/reuse checks "
        "(default 2000000, about 175 bytes each)",
    )
    g.add_argument(
        "--max-sessions",
        type=_positive,
        metavar="N",
        default=100_000,
        help="handshake sessions kept (oldest forgotten first; default 100000)",
    )


def _read(path: str | None, what: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def build_options(args: argparse.Namespace) -> DevServerOptions:
    """``DevServerOptions`` from parsed flags (raises ``ConfigError`` for bad combinations)."""
    from logflux_agent.devserver.options import DEV_API_KEY, DevServerOptions, Limits, Switches

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    keys = tuple(args.api_keys or (DEV_API_KEY,))
    for key in keys:
        if not key or any(ch.isspace() for ch in key):
            raise ConfigError("an --api-key is empty or contains whitespace")
    limits = Limits(
        max_batch_size=args.max_batch_size,
        max_payload_size=args.max_payload_size,
        max_request_size=args.max_request_size,
    )
    switches = Switches(
        success_status=args.success_status,
        key_id_field=args.key_id_field,
        init_wrapped=args.init_wrapped,
        complete_wrapped=args.complete_wrapped,
        legacy_discovery=args.legacy_discovery,
        entry_limit=args.entry_limit,
        store_duplicates=args.store_duplicates,
        accept_oaep_mgf1_sha1=args.accept_oaep_mgf1_sha1,
        limits=limits,
    )
    return DevServerOptions(
        host=args.host,
        port=args.port,
        api_keys=keys,
        region=args.region,
        private_key_pem=_read(args.private_key, "--private-key"),
        secondary_key_pem=_read(args.secondary_private_key, "--secondary-private-key"),
        output=args.output,
        no_decrypt=args.no_decrypt,
        lenient_js_framing=args.lenient_js_framing,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        public_url=args.public_url,
        keep_entries=args.keep_entries,
        nonce_memory=args.nonce_memory,
        max_sessions=args.max_sessions,
        rate_limit=args.rate_limit,
        switches=switches,
    )


def main(args: argparse.Namespace) -> int:
    import asyncio

    from logflux_agent.devserver.server import serve
    from logflux_agent.observe.logging import configure_logging

    configure_logging(
        getattr(args, "log_level", None) or "info", getattr(args, "log_format", None) or "auto"
    )
    try:
        options = build_options(args)
        return asyncio.run(serve(options, ready_file=args.ready_file))
    except AgentError as exc:
        print(f"dev-ingestor: {exc}", file=sys.stderr)
        return exc.exit_code if exc.exit_code else EXIT_CONFIG
