"""`logflux-agent version`: print the agent, Python and crypto library versions."""

from __future__ import annotations

import argparse
import platform


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def main(args: argparse.Namespace) -> int:
    del args
    import cryptography

    from logflux_agent import __version__

    print(
        f"logflux-agent {__version__} (python {platform.python_version()}, "
        f"cryptography {cryptography.__version__})"
    )
    return 0
