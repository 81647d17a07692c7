"""The attribute-limit rule every parser and socket input shares (protocol.md §4 limits)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from logflux_agent.processing.attributes import (
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    as_text,
    fit_attributes,
)


def test_values_become_strings() -> None:
    fitted = fit_attributes({"a": 1, "b": True, "c": None, "d": [1, "x"], "e": {"k": 2.5}})
    assert fitted.attributes == {"a": "1", "b": "true", "c": "", "d": '[1,"x"]', "e": '{"k":2.5}'}
    assert not fitted.lossy


def test_reserved_names_are_kept_under_a_prefix_in_any_case() -> None:
    fitted = fit_attributes({"Node": "web-1", "key_uuid": "k"})
    assert fitted.attributes == {"field.Node": "web-1", "field.key_uuid": "k"}


def test_bad_names_are_dropped_and_counted() -> None:
    fitted = fit_attributes({"": "x", "n" * (MAX_NAME_CHARS + 1): "y", "ok": "z"})
    assert fitted.attributes == {"ok": "z"}
    assert fitted.dropped == 2


def test_long_values_are_cut_and_counted() -> None:
    fitted = fit_attributes({"v": "x" * 1_000_000})
    assert fitted.attributes["v"] == "x" * MAX_VALUE_CHARS
    assert fitted.truncated == 1
    assert fitted.lossy


def test_static_labels_come_first_and_are_never_displaced() -> None:
    base = {f"l{i}": "s" for i in range(18)}
    fitted = fit_attributes({"a": "1", "l3": "line", "b": "2", "c": "3"}, base)
    assert len(fitted.attributes) == 20
    assert fitted.attributes["l3"] == "line"  # same name: replaced, no new slot
    assert "a" in fitted.attributes and "b" in fitted.attributes
    assert "c" not in fitted.attributes
    assert fitted.dropped == 1


@given(st.dictionaries(st.text(max_size=80), st.recursive(st.none() | st.text(), st.lists)))
def test_result_is_always_within_the_limits(fields: dict[str, object]) -> None:
    fitted = fit_attributes(fields)
    assert len(fitted.attributes) <= 20
    for name, value in fitted.attributes.items():
        assert 1 <= len(name) <= MAX_NAME_CHARS
        assert name.lower() not in {"customer", "application", "node", "timestamp", "loglevel"}
        assert isinstance(value, str) and len(value) <= MAX_VALUE_CHARS
    # Two names can meet under one (``node`` and ``field.node``): never more than given.
    assert len(fitted.attributes) + fitted.dropped <= len(fields)


def test_as_text_of_a_string_is_itself() -> None:
    assert as_text("é\n") == "é\n"
