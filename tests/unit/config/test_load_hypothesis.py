"""Whatever the document, the loader answers with a config or a ConfigError, never a crash."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logflux_agent.config import model
from logflux_agent.config.load import load_config_text
from logflux_agent.config.model import AgentConfig
from logflux_agent.errors import ConfigError

KEY = "eu-lf_" + "HypoK3y" * 4
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str, env: dict[str, str]) -> None:
    problems: list[str] = []
    try:
        cfg = load_config_text(text, "fuzz.yaml", env)
    except ConfigError as exc:
        problems = exc.problems
        cfg = None
    if cfg is None:
        assert problems, "a ConfigError must say what is wrong"
        assert all(isinstance(p, str) and p and KEY not in p for p in problems)
    else:
        assert isinstance(cfg, AgentConfig)
        assert KEY not in repr(cfg)


# ---- arbitrary text ------------------------------------------------------------------------

YAML_ALPHABET = st.sampled_from(
    [
        *"abz019:-_ []{}#&*!|>'\"%@`,?.~\n\t\\$",
        "${",
        "${A}",
        "${A:-1}",
        "<<",
        ": ",
        "\n  ",
        "\n- ",
        "api_key",
        "inputs",
        "type",
        "file",
        "stdin",
        "journald",
        "paths",
        "id",
        "labels",
        "sender",
        "queue",
        "multiline",
        "null",
        "true",
        "0x1F",
        ".inf",
        "1e3",
        "\x00",
        "\ud800",
        "\u2028",
    ]
)


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text, {})


@SETTINGS
@given(st.lists(YAML_ALPHABET, max_size=80).map("".join))
def test_yaml_looking_text(text: str) -> None:
    check(text, {"LOGFLUX_API_KEY": KEY, "A": "x"})


# ---- random structures dumped to YAML ------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "file",
            "stdin",
            "journald",
            "${X}",
            "${X:-5}",
            "/var/log/*.log",
            "127.0.0.1:9102",
            "info",
            KEY,
        ]
    ),
)
ANY = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), SCALARS), inner, max_size=4),
    ),
    max_leaves=20,
)


@SETTINGS
@given(ANY)
def test_random_structures(value: Any) -> None:
    try:
        text = yaml.safe_dump(value, allow_unicode=True)
    except yaml.YAMLError:
        return
    check(text, {"X": "1"})


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


SECTION_KEYS = sorted(
    {
        name
        for cls in (
            model.SenderConfig,
            model.QueueConfig,
            model.MetricsConfig,
            model.LoggingConfig,
            model.DiscoveryConfig,
            model.EncryptionConfig,
        )
        for name in field_names(cls)
    }
)
INPUT_KEYS = sorted(
    {
        name
        for cls in (model.FileInputConfig, model.StdinInputConfig, model.JournaldInputConfig)
        for name in field_names(cls)
    }
)
NEAR_VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=8), SCALARS, max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "start_pattern": st.sampled_from(["^\\S", "(", "a{99999999999}"]),
            "continue_pattern": st.sampled_from(["^\\s", "["]),
            "max_lines": SCALARS,
        },
    ),
)
SECTION = st.dictionaries(st.sampled_from(SECTION_KEYS), NEAR_VALUES, max_size=5)
INPUT = st.builds(
    lambda kind, rest: {"type": kind, **rest},
    st.sampled_from(["file", "stdin", "journald", "socket"]),
    st.dictionaries(st.sampled_from(INPUT_KEYS), NEAR_VALUES, max_size=6),
)
TOP_KEYS = [n for n in field_names(AgentConfig) if n not in ("inputs", "source")]
DOCUMENT = st.fixed_dictionaries(
    {"inputs": st.lists(INPUT, max_size=3)},
    optional={
        **{k: st.one_of(NEAR_VALUES, SECTION) for k in TOP_KEYS},
        "api_key_file": st.sampled_from(["/nonexistent", "", "/dev/null"]),
    },
)


@SETTINGS
@given(
    DOCUMENT,
    st.dictionaries(
        st.sampled_from(
            [
                "LOGFLUX_QUEUE_SIZE",
                "LOGFLUX_DEBUG",
                "LOGFLUX_INITIAL_DELAY",
                "LOGFLUX_NODE",
                "LOGFLUX_API_KEY",
                "X",
            ]
        ),
        st.text(max_size=10),
        max_size=3,
    ),
)
def test_documents_shaped_like_a_config(doc: dict[str, Any], env: dict[str, str]) -> None:
    doc.setdefault("api_key", KEY)
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    check(text, env)
