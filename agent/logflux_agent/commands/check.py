"""`logflux-agent check`: validate the config, discover the ingestor and perform the handshake.

Prints the ingestor URL, region, key id, the server key fingerprint and whether it matches the
pin, the limits, and the masked API key. Exit 0 when every step worked, 1 with the precise
reason when one failed (DNS, TLS, connection refused, 401, non-PEM key, pin mismatch...), 2 for
a configuration error. Nothing is ingested.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logflux_agent.config.model import AgentConfig
    from logflux_agent.observe.logsink import Writer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up after this many seconds (default 60)",
    )


def _row(out: Writer, name: str, value: str) -> None:
    print(f"  {name:<18} {value}", file=out)


def _listening(out: Writer, config: AgentConfig) -> None:
    """Where the socket and syslog inputs will listen (the same words as ``validate``)."""
    from logflux_agent.commands.validate import listener_summary
    from logflux_agent.config.model import SocketInputConfig, SyslogInputConfig

    for cfg in config.inputs:
        if isinstance(cfg, SocketInputConfig | SyslogInputConfig):
            _row(out, "listens", listener_summary(cfg))


def main(args: argparse.Namespace) -> int:
    import asyncio

    from logflux_agent.config.load import load_config
    from logflux_agent.credentials import mask_secrets
    from logflux_agent.errors import EXIT_RUNTIME, AgentError, ConfigError
    from logflux_agent.observe.logging import configure_logging
    from logflux_agent.observe.logsink import TolerantStream

    # `check | head -1`: a reader that stops early ends the output, not with a traceback.
    out, err = TolerantStream(sys.stdout), TolerantStream(sys.stderr)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.report("logflux-agent check", args.config), file=err)
        return exc.exit_code
    except AgentError as exc:
        print(f"logflux-agent check: {mask_secrets(str(exc))}", file=err)
        return exc.exit_code
    configure_logging(args.log_level or "warning", args.log_format or "console")

    print(f"configuration {args.config}: ok", file=out)
    _row(out, "api key", config.api_key.masked)
    region = config.region or config.api_key.region
    origin = "from the region: setting" if config.region else "from the key"
    _row(out, "region", f"{region} ({origin})" if region else "none (legacy key)")
    _listening(out, config)
    out.flush()

    async def run() -> int:
        from logflux_agent.ingest.client import IngestClient

        client = IngestClient(config)
        try:
            async with asyncio.timeout(args.timeout):
                info = await client.start()
        finally:
            await client.close()
        _row(out, "ingestor", info.base_url)
        _row(out, "discovered via", info.discovered_via)
        if info.region and not region:
            _row(out, "data residency", info.region)
        _row(out, "key id", info.key_id)
        _row(out, "public key", info.fingerprint)
        if info.pin is None:
            _row(out, "pin", "not configured (set encryption.public_key_fingerprint to pin it)")
        else:
            _row(out, "pin", f"matches {info.pin_source}")
        limits = info.server_limits
        _row(
            out,
            "server limits",
            f"max_batch_size={limits.max_batch_size or 'unset'} "
            f"max_payload_size={limits.max_payload_size or 'unset'} "
            f"max_request_size={limits.max_request_size or 'unset'}",
        )
        if not info.supports_multipart:
            _row(out, "warning", "the ingestor did not advertise supports_multipart")
        print("check: OK", file=out)
        return 0

    try:
        return asyncio.run(run())
    except TimeoutError:
        print(f"check: FAILED: no answer within {args.timeout:g} s", file=err)
        return EXIT_RUNTIME
    except AgentError as exc:
        kind = type(exc).__name__
        print(f"check: FAILED ({kind}): {mask_secrets(str(exc))}", file=err)
        return EXIT_RUNTIME if not isinstance(exc, ConfigError) else exc.exit_code
