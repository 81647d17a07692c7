"""logflux-agent: the LogFlux log collection daemon.

This package owns nothing but the version string; see the sub-modules.
"""

from __future__ import annotations

__version__ = "0.1.0"
USER_AGENT = f"logflux-agent/{__version__}"
