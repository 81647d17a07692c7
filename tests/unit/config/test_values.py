"""config/values.py: the one HOST:PORT parser agrees with the loader's check of metrics.listen;
the line minimum and the pin format are config/'s rules, also for a config built in code."""

from __future__ import annotations

import pytest

from logflux_agent.config.load import load_config_text
from logflux_agent.config.model import MetricsConfig
from logflux_agent.config.values import Invalid, parse_hostport, parse_listen
from logflux_agent.errors import ConfigError

KEY = "eu-lf_valuestestkey0123456789"
GOOD = [("127.0.0.1:9102", ("127.0.0.1", 9102)), ("[::1]:0", ("::1", 0)), ("a:65535", ("a", 65535))]
BAD = ["9102", ":9102", "[]:80", "host:port", "h:+80", "h:65536", "::1:9102"]


def loads(listen: str) -> bool:
    text = f"api_key: {KEY}\nmetrics:\n  listen: '{listen}'\ninputs: []\n"
    try:
        load_config_text(text, "agent.yaml", {})
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize(("listen", "expected"), GOOD)
def test_a_valid_address_parses_and_loads(listen: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(listen) == expected
    assert MetricsConfig(listen=listen).address == expected
    assert loads(listen)


@pytest.mark.parametrize("listen", BAD)
def test_an_invalid_address_is_refused_alike_by_the_loader_and_the_parser(listen: str) -> None:
    with pytest.raises(Invalid):
        parse_hostport(listen)
    with pytest.raises(ConfigError, match=r"metrics\.listen: expected host:port"):
        parse_listen(listen)
    assert not loads(listen)


def test_the_line_minimum_is_the_framers() -> None:
    # Stated twice (config/ may not import inputs/): this keeps them one number.
    from logflux_agent.config.values import MIN_LINE_BYTES
    from logflux_agent.inputs.framing import MIN_LINE_BYTES as FRAMER_MIN

    assert MIN_LINE_BYTES == FRAMER_MIN


def _load_problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(f"api_key: {KEY}\n{text}", "agent.yaml", {})
    return caught.value.problems


def test_a_too_small_max_line_bytes_is_refused_at_its_line_and_column() -> None:
    text = "inputs:\n  - type: file\n    id: a\n    paths: [/x]\n    max_line_bytes: 2\n"
    assert _load_problems(text) == [
        "agent.yaml:6:21: inputs[0].max_line_bytes: expected at least 4 bytes, got '2' (an integer)"
    ]


def test_a_config_built_in_code_meets_the_loaders_rules() -> None:
    from logflux_agent.config.checks import built_problems, refuse_unusable
    from logflux_agent.config.model import FileInputConfig, MultilineConfig

    assert built_problems(FileInputConfig(id="ok", paths=("/x",), rescan_interval=1)) == []
    bad = FileInputConfig(
        id="bad id",
        paths=("/x",),
        fingerprint_bytes=0,
        close_inactive=0.0,
        multiline=MultilineConfig(),
    )
    problems = built_problems(bad)
    assert [p.split(":")[0] for p in problems] == [
        "id",
        "multiline",
        "close_inactive",
        "fingerprint_bytes",
    ]
    with pytest.raises(ConfigError, match=r"input 'bad id': fingerprint_bytes: expected"):
        refuse_unusable(bad, "input 'bad id'")


def test_a_pin_in_code_is_checked_by_the_loaders_rule() -> None:
    from logflux_agent.config.values import parse_fingerprint

    hexpart = "ab" * 32
    assert parse_fingerprint(hexpart.upper()) == "SHA256:" + hexpart
    with pytest.raises(ConfigError, match=r"public_key_fingerprint: expected 'SHA256:' .*64 hex"):
        parse_fingerprint("SHA256:abc")
    assert any(
        "public_key_fingerprint" in p
        for p in _load_problems("encryption:\n  public_key_fingerprint: SHA256:abc\ninputs: []\n")
    )
