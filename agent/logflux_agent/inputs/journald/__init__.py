"""The journald input: follow the systemd journal through a managed ``journalctl -o json``.

``input.py`` reads and owns the start position (the committed cursor), ``command.py`` builds
the journalctl command lines, ``process.py`` runs the child process, ``mapping.py`` maps
journal entries to records.
"""

from __future__ import annotations

from logflux_agent.inputs.journald.input import JournaldInput

__all__ = ["JournaldInput"]
