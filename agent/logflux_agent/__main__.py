"""`python -m logflux_agent`: the same entry point as the `logflux-agent` command."""

from __future__ import annotations

import sys

from logflux_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
