"""The ``ledger:`` section: defaults, and its errors at file:line:col with the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from logflux_agent.config.load import load_config
from logflux_agent.errors import EXIT_CONFIG, ConfigError

KEY = "eu-lf_" + "a1b2c3d4" * 4


def write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "agent.yaml"
    path.write_text(f"api_key: {KEY}\ninputs:\n  - type: stdin\n    id: in\n{body}")
    return str(path)


def test_the_ledger_is_on_by_default(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), {})
    assert cfg.ledger.enabled is True
    assert cfg.ledger.max_bytes == 256 * 1024 * 1024 and cfg.ledger.max_age == 30 * 86_400.0


def test_ledger_settings_are_read(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "ledger:\n  enabled: false\n  max_age: 3600\n"), {})
    assert cfg.ledger.enabled is False and cfg.ledger.max_age == 3600.0


@pytest.mark.parametrize(
    ("body", "where", "expect"),
    [
        ("ledger:\n  max_bytes: 1000\n", "agent.yaml:6:14: ledger.max_bytes", "at least 1048576"),
        ("ledger:\n  max_age: -1\n", "agent.yaml:6:12: ledger.max_age", "a number > 0"),
        ("ledger:\n  enabled: maybe\n", "agent.yaml:6:12: ledger.enabled", "true or false"),
        ("ledger:\n  max_byte: 1\n", "agent.yaml:6:3: ledger.max_byte", "max_bytes"),
    ],
)
def test_bad_ledger_values_name_file_line_col_and_expectation(
    tmp_path: Path, body: str, where: str, expect: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, body), {})
    assert err.value.exit_code == EXIT_CONFIG
    (problem,) = err.value.problems
    assert problem.startswith(where) or where in problem, problem
    assert expect in problem, problem
