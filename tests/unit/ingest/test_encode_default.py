"""The plain install (`pip install .`, the README's quick start) is the fast one."""

from __future__ import annotations

import platform
from importlib.metadata import requires

import pytest

from logflux_agent.ingest.encode import DEFAULT_COMPRESSOR


def test_isal_is_a_plain_dependency_on_machines_with_its_wheel() -> None:
    reqs = [r for r in requires("logflux-agent") or [] if r.startswith("isal")]
    assert any("extra ==" not in r for r in reqs), reqs


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "aarch64"),
    reason="isal is installed by default only where its wheel exists (x86_64, aarch64)",
)
def test_the_encoder_deflates_with_isal_by_default() -> None:
    assert DEFAULT_COMPRESSOR == "isal"
