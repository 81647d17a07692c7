"""config/values.py: the one HOST:PORT parser agrees with the loader's check of metrics.listen."""

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
