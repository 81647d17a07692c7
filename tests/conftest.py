"""Shared pytest fixtures: the reference ingestor as a subprocess (``ref_ingestor``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.refingestor import DEV_API_KEY, RefIngestor

__all__ = ["DEV_API_KEY"]


@pytest.fixture
def ref_ingestor(tmp_path: Path) -> Iterator[RefIngestor]:
    """A fresh ``logflux-agent dev-ingestor`` child process for one test (decrypting,
    recording to ``tmp_path/ingestor/entries.jsonl``); stopped afterwards."""
    ingestor = RefIngestor(workdir=tmp_path / "ingestor")
    try:
        yield ingestor
    finally:
        ingestor.close()
