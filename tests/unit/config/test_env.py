"""The environment: ${VAR} interpolation and the LOGFLUX_* overrides (env beats file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from logflux_agent.config.env import GO_FALSE, GO_TRUE, VARIABLES, interpolate, read_environment
from logflux_agent.config.load import load_config_report, load_config_text
from logflux_agent.config.model import AgentConfig
from logflux_agent.errors import ConfigError

KEY = "eu-lf_" + "T3stK3y" * 4
OTHER_KEY = "us-lf_" + "0therK3y" * 4
FILE = "inputs:\n  - type: file\n    id: app\n    paths: [/var/log/a.log]\n"


def load(text: str, env: dict[str, str]) -> AgentConfig:
    return load_config_text(text, "agent.yaml", env)


def problems_of(text: str, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(text, env)
    return err.value.problems


# ---- interpolation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "env", "out"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${A:-dflt}", {}, "dflt"),
        ("${A:-dflt}", {"A": ""}, "dflt"),
        ("${A:-dflt}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("${A:-a b:c/d}", {}, "a b:c/d"),
        ("${A}", {"A": ""}, ""),
        ("$${A}", {"A": "x"}, "${A}"),
        ("cost $5", {}, "cost $5"),
        ("a$b", {}, "a$b"),
    ],
)
def test_interpolate(text: str, env: dict[str, str], out: str) -> None:
    result, problems, _ = interpolate(text, env)
    assert (result, problems) == (out, [])


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("${MISSING}", "environment variable MISSING is not set"),
        ("${}", "invalid reference"),
        ("${1A}", "invalid reference"),
        ("${A B}", "invalid reference"),
        ("${A:-${B}}", "nested references are not supported"),
        ("${A", "unterminated"),
    ],
)
def test_interpolation_problems(text: str, expect: str) -> None:
    _, problems, _ = interpolate(text, {})
    assert len(problems) == 1 and expect in problems[0]


def test_interpolated_values_take_the_type_of_the_setting() -> None:
    env = {"Q": "500", "F": "0.25", "B": "false", "ID": "123", "LVL": "debug"}
    cfg = load(
        f"api_key: {KEY}\nqueue:\n  max_entries: ${{Q}}\nsender:\n"
        "  flush_interval: ${F}\ntls_verify: ${B}\nlogging:\n  level: ${LVL}\n"
        "inputs:\n  - type: stdin\n    id: ${ID}\n    labels: {v: '${ID}'}\n",
        env,
    )
    assert cfg.queue.max_entries == 500
    assert cfg.sender.flush_interval == 0.25
    assert cfg.tls_verify is False
    assert cfg.logging.level == "debug"
    assert cfg.inputs[0].id == "123" and cfg.inputs[0].labels == {"v": "123"}


def test_interpolated_value_of_the_wrong_type_names_the_setting() -> None:
    [problem] = problems_of(f"api_key: {KEY}\nqueue:\n  max_entries: ${{Q}}\n", {"Q": "lots"})
    assert problem == "agent.yaml:3:16: queue.max_entries: expected an integer, got 'lots'"


def test_empty_interpolation_means_the_default() -> None:
    cfg = load(
        f"api_key: {KEY}\nnode: ${{NODE_NAME:-}}\nenvironment: ${{ENV:-}}\n"
        "metrics:\n  listen: ${LISTEN:-}\n",
        {},
    )
    defaults = AgentConfig(api_key=cfg.api_key)
    assert (cfg.node, cfg.environment, cfg.metrics.listen) == (
        defaults.node,
        None,
        defaults.metrics.listen,
    )


def test_empty_interpolation_of_a_required_setting_is_an_error() -> None:
    problems = problems_of(
        f"api_key: {KEY}\ninputs:\n  - type: file\n    id: ${{ID:-}}\n    paths: [/a]\n", {}
    )
    assert problems == ["agent.yaml:4:9: inputs[0].id: expected a non-empty string, got ''"]


def test_unset_variable_is_reported_where_it_is_used() -> None:
    # inside [...] or {...} a value holding ${ must be quoted: YAML reads { as a mapping
    text = FILE.replace("/var/log/a.log", '"${LOGDIR}/a"')
    problems = problems_of(f"api_key: {KEY}\n{text}", {})
    assert problems == [
        "agent.yaml:5:13: inputs[0].paths[0]: environment variable LOGDIR is "
        "not set (use ${LOGDIR:-default} to give a default)"
    ]


def test_keys_are_not_interpolated() -> None:
    problems = problems_of(f"api_key: {KEY}\n${{X}}: 1\n", {"X": "node"})
    assert len(problems) == 1 and "unknown key" in problems[0]


def test_api_key_from_interpolation_and_its_errors_are_masked() -> None:
    cfg = load("api_key: ${MY_KEY}\n", {"MY_KEY": KEY})
    assert cfg.api_key.value == KEY
    [problem] = problems_of("api_key: ${MY_KEY}\n", {"MY_KEY": KEY + " "})
    assert "whitespace" in problem and KEY not in problem


# ---- LOGFLUX_* overrides -------------------------------------------------------------------

OVERRIDES = [
    ("LOGFLUX_ENVIRONMENT", "staging", lambda c: c.environment, "staging"),
    ("LOGFLUX_NODE", "web-07", lambda c: c.node, "web-07"),
    ("LOGFLUX_QUEUE_SIZE", "1234", lambda c: c.queue.max_entries, 1234),
    ("LOGFLUX_FLUSH_INTERVAL", "3", lambda c: c.sender.flush_interval, 3.0),
    ("LOGFLUX_BATCH_SIZE", "50", lambda c: c.sender.batch_max_entries, 50),
    ("LOGFLUX_INITIAL_DELAY", "250", lambda c: c.sender.retry_initial_delay, 0.25),
    ("LOGFLUX_MAX_DELAY", "45", lambda c: c.sender.retry_max_delay, 45.0),
    ("LOGFLUX_BACKOFF_FACTOR", "1.5", lambda c: c.sender.retry_backoff_factor, 1.5),
    ("LOGFLUX_HTTP_TIMEOUT", "12.5", lambda c: c.sender.http_timeout, 12.5),
    ("LOGFLUX_WORKER_COUNT", "8", lambda c: c.sender.max_in_flight, 8),
    ("LOGFLUX_DEBUG", "true", lambda c: c.logging.level, "debug"),
]
FILE_VALUES = (
    "environment: production\nnode: from-file\nqueue:\n  max_entries: 99\n"
    "sender:\n  flush_interval: 9\n  batch_max_entries: 9\n"
    "  retry_initial_delay: 0.125\n  retry_max_delay: 60\n"
    "  retry_backoff_factor: 3\n  http_timeout: 9\n  max_in_flight: 9\n"
    "logging:\n  level: warning\n"
)


@pytest.mark.parametrize(("var", "raw", "get", "value"), OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_environment_beats_the_file(var: str, raw: str, get: object, value: object) -> None:
    text = f"api_key: {KEY}\n{FILE_VALUES}"
    from_file = load(text, {})
    from_env = load(text, {var: raw})
    assert callable(get)
    assert get(from_env) == value
    assert get(from_file) != value
    assert type(get(from_env)) is type(value)


def test_overrides_apply_without_the_section_in_the_file() -> None:
    cfg = load(f"api_key: {KEY}\n", {"LOGFLUX_BATCH_SIZE": "7", "LOGFLUX_QUEUE_SIZE": "70"})
    assert (cfg.sender.batch_max_entries, cfg.queue.max_entries) == (7, 70)
    assert cfg.sender.flush_interval == 1.0  # the rest keeps its default


def test_every_table_variable_is_tested_or_has_no_effect() -> None:
    tested = {o[0] for o in OVERRIDES} | {"LOGFLUX_API_KEY"}
    for var in VARIABLES:
        assert (var.name in tested) == (var.target is not None), var.name


@pytest.mark.parametrize("word", sorted(GO_TRUE))
def test_debug_true_in_every_go_form(word: str) -> None:
    cfg = load(f"api_key: {KEY}\nlogging:\n  level: error\n", {"LOGFLUX_DEBUG": word})
    assert cfg.logging.level == "debug"


@pytest.mark.parametrize("word", sorted(GO_FALSE))
def test_debug_false_keeps_the_file_level(word: str) -> None:
    cfg = load(f"api_key: {KEY}\nlogging:\n  level: error\n", {"LOGFLUX_DEBUG": word})
    assert cfg.logging.level == "error"


@pytest.mark.parametrize(
    ("var", "raw", "expect"),
    [
        (
            "LOGFLUX_QUEUE_SIZE",
            "lots",
            "expected an integer, got 'lots' (it sets queue.max_entries)",
        ),
        ("LOGFLUX_QUEUE_SIZE", "1.5", "expected an integer"),
        ("LOGFLUX_BATCH_SIZE", "1e3", "expected an integer"),
        ("LOGFLUX_FLUSH_INTERVAL", "5s", "expected a number of seconds"),
        ("LOGFLUX_INITIAL_DELAY", "fast", "expected a number of milliseconds"),
        ("LOGFLUX_BACKOFF_FACTOR", "nan", "expected a number"),
        ("LOGFLUX_HTTP_TIMEOUT", "inf", "expected a number of seconds"),
        ("LOGFLUX_DEBUG", "yes", "expected a boolean"),
        ("LOGFLUX_DEBUG", "on", "expected a boolean"),
        (
            "LOGFLUX_WORKER_COUNT",
            "0",
            "expected an integer ≥ 1, got 0 (it sets sender.max_in_flight)",
        ),
        ("LOGFLUX_WORKER_COUNT", "9999", "expected an integer ≤ 256"),
        ("LOGFLUX_BATCH_SIZE", "-5", "expected an integer ≥ 1"),
        ("LOGFLUX_BACKOFF_FACTOR", "0.5", "expected a number ≥ 1"),
        ("LOGFLUX_FLUSH_INTERVAL", "0", "expected a number > 0"),
    ],
)
def test_unusable_variable_is_a_config_error_naming_it(var: str, raw: str, expect: str) -> None:
    problems = problems_of(f"api_key: {KEY}\n", {var: raw})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"environment variable {var}: ") and expect in problems[0]


def test_every_bad_variable_is_reported_with_the_file_problems() -> None:
    problems = problems_of(
        f"api_key: {KEY}\nregion: mars\n", {"LOGFLUX_QUEUE_SIZE": "x", "LOGFLUX_BATCH_SIZE": "y"}
    )
    assert len(problems) == 3
    assert problems[0].startswith("agent.yaml:2:9: region:")


@pytest.mark.parametrize(
    "var",
    [
        "LOGFLUX_MAX_RETRIES",
        "LOGFLUX_ENABLE_COMPRESSION",
        "LOGFLUX_LOG_GROUP",
        "LOGFLUX_FAILSAFE_MODE",
        "LOGFLUX_PAT",
        "LOGFLUX_PRIVATE_KEY_FILE",
    ],
)
def test_sdk_only_variables_are_accepted_without_effect(var: str, tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(f"api_key: {KEY}\n")
    path.chmod(0o600)
    plain = load_config_report(str(path), {}).config
    result = load_config_report(str(path), {var: "not even valid ~!"})
    assert result.config == plain
    assert [v for v, _ in result.env_ignored] == [var]
    assert result.warnings == ()


def test_empty_variables_count_as_unset() -> None:
    cfg = load(
        f"api_key: {KEY}\nnode: n1\n",
        {"LOGFLUX_NODE": "", "LOGFLUX_QUEUE_SIZE": "", "LOGFLUX_API_KEY": ""},
    )
    assert cfg.node == "n1" and cfg.queue.max_entries == 20_000 and cfg.api_key.value == KEY


def test_env_api_key_beats_the_file_and_the_key_file(tmp_path: Path) -> None:
    assert load(f"api_key: {KEY}\n", {"LOGFLUX_API_KEY": OTHER_KEY}).api_key.value == OTHER_KEY
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    path = tmp_path / "agent.yaml"
    path.write_text(f"api_key_file: {key_file}\n")
    result = load_config_report(str(path), {"LOGFLUX_API_KEY": OTHER_KEY})
    assert result.config.api_key.value == OTHER_KEY
    assert result.api_key_origin == "environment variable LOGFLUX_API_KEY"


def test_env_api_key_alone_is_enough() -> None:
    cfg = load("state_dir: /tmp/x\n", {"LOGFLUX_API_KEY": OTHER_KEY})
    assert cfg.api_key.region == "us"


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        ("eu-lf_usr_abcdefghijk", "Personal Access Token"),
        (" " + KEY, "whitespace"),
        ("xx-lf_abcdefghijk", "unknown region"),
    ],
)
def test_bad_env_api_key_names_the_variable_and_masks_it(raw: str, expect: str) -> None:
    [problem] = problems_of("state_dir: /tmp/x\n", {"LOGFLUX_API_KEY": raw})
    assert problem.startswith("agent.yaml: environment variable LOGFLUX_API_KEY: ")
    assert expect in problem
    assert raw.strip() not in problem


def test_a_close_misspelling_of_a_variable_is_a_warning() -> None:
    out = read_environment(
        {"LOGFLUX_QUEUE_SIZ": "4", "LOGFLUX_LOG_PATHS": "/x", "LOGFLUX_BATCH_SIZES": "1"}
    )
    assert out.warnings == [
        "environment variable LOGFLUX_BATCH_SIZES is not one the agent reads; did you mean "
        "LOGFLUX_BATCH_SIZE?",
        "environment variable LOGFLUX_QUEUE_SIZ is not one the agent reads; did you mean "
        "LOGFLUX_QUEUE_SIZE?",
    ]
    # a variable the file interpolates is the file's business
    assert read_environment({"LOGFLUX_QUEUE_SIZ": "4"}, {"LOGFLUX_QUEUE_SIZ"}).warnings == []


def test_other_variables_are_ignored() -> None:
    out = read_environment({"PATH": "/bin", "HOME": "/root", "LOGFLUXAPI": "x"})
    assert (out.values, out.problems, out.warnings, out.api_key) == ({}, [], [], None)


def test_a_variable_that_is_not_utf8_is_an_error() -> None:
    [problem] = problems_of(f"api_key: {KEY}\n", {"LOGFLUX_NODE": "caf\udce9"})
    assert problem.startswith("environment variable LOGFLUX_NODE: expected UTF-8 text")
