"""Wiping key material: a dependency-free home so the encode worker need not import crypto.py."""

from __future__ import annotations


def zero(buf: bytearray) -> None:
    """Overwrite key material in place (the best Python allows; immutable copies may remain)."""
    buf[:] = bytes(len(buf))
