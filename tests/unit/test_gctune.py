"""gctune.py: the run path's collector settings, and the switch that keeps CPython's."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from logflux_agent import gctune


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()  # the test process's objects go back to the generations they came from
    gc.set_threshold(*before)


def test_tune_freezes_what_exists_and_raises_the_young_threshold() -> None:
    assert gctune.tune({}) == gctune.THRESHOLDS
    assert gc.get_threshold() == gctune.THRESHOLDS
    assert gc.get_freeze_count() > 0


def test_default_keeps_cpython_settings_and_freezes_nothing() -> None:
    before = gc.get_threshold()
    assert gctune.tune({gctune.ENV: "default"}) is None
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_explicit_thresholds_are_used_and_a_typo_keeps_the_usual_ones() -> None:
    assert gctune.tune({gctune.ENV: "700,10,10"}) == (700, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
    assert gctune.tune({gctune.ENV: "lots"}) == gctune.THRESHOLDS
