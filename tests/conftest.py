"""Shared pytest fixtures: the reference ingestor as a subprocess (``ref_ingestor``), a private
CA (``pki``, from tests/support/tls.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.refingestor import DEV_API_KEY, RefIngestor
from tests.support.tls import pki

__all__ = ["DEV_API_KEY", "pki"]


@pytest.fixture
def ref_ingestor(tmp_path: Path) -> Iterator[RefIngestor]:
    """A fresh ``logflux-agent dev-ingestor`` child process for one test (decrypting,
    recording to ``tmp_path/ingestor/entries.jsonl``); stopped afterwards."""
    ingestor = RefIngestor(workdir=tmp_path / "ingestor")
    try:
        yield ingestor
    finally:
        ingestor.close()
