"""Config of the socket and syslog inputs: defaults, listener rules, and what validate shows."""

from __future__ import annotations

import io

import pytest

from logflux_agent.commands.validate import summary
from logflux_agent.config.load import LoadResult, load_config_text
from logflux_agent.config.model import SocketInputConfig, SyslogInputConfig
from logflux_agent.errors import ConfigError

KEY = "eu-lf_" + "T3stK3y" * 4


def load(inputs: str) -> LoadResult:
    from logflux_agent.config import load as loader

    return loader._load(f"api_key: {KEY}\ninputs:\n{inputs}", "agent.yaml", {})


def problems(inputs: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config_text(f"api_key: {KEY}\ninputs:\n{inputs}", "agent.yaml", {})
    return err.value.problems


def test_a_bare_socket_input_listens_on_the_default_unix_path() -> None:
    (cfg,) = load("  - type: socket\n").config.inputs
    assert isinstance(cfg, SocketInputConfig)
    assert cfg.unix_path == "/run/logflux-agent/agent.sock"
    assert cfg.require_secret and not cfg.allow_remote and cfg.mode == "0660"
    (tcp_only,) = load("  - type: socket\n    tcp: 127.0.0.1:9999\n").config.inputs
    assert isinstance(tcp_only, SocketInputConfig) and tcp_only.unix_path is None


def test_a_non_loopback_address_needs_allow_remote_and_is_then_a_warning() -> None:
    (problem,) = problems("  - type: socket\n    tcp: 0.0.0.0:9999\n")
    assert problem.startswith("agent.yaml:4:10: inputs[0].tcp: expected a loopback address")
    assert "allow_remote: true" in problem
    result = load("  - type: syslog\n    udp: 0.0.0.0:514\n    allow_remote: true\n")
    assert any("accepts connections from other machines" in w for w in result.warnings)


def test_syslog_needs_a_listener_and_modes_must_be_quoted_octal() -> None:
    (problem,) = problems("  - type: syslog\n")
    assert "at least one of udp" in problem
    assert "quote it" in problems("  - type: socket\n    mode: 0660\n")[0]
    assert "octal file mode" in problems('  - type: socket\n    mode: "rw-rw----"\n')[0]
    assert "absolute path" in problems("  - type: syslog\n    unix: relative.sock\n")[0]


def test_require_secret_false_on_tcp_is_warned_about() -> None:
    result = load("  - type: socket\n    tcp: 127.0.0.1:9999\n    require_secret: false\n")
    assert any("require_secret is false" in w for w in result.warnings)


def test_validate_shows_where_each_input_listens() -> None:
    result = load(
        "  - type: socket\n    unix: /run/a.sock\n    group: www-data\n    tcp: 127.0.0.1:9999\n"
        "  - type: syslog\n    udp: 127.0.0.1:514\n    tcp: 127.0.0.1:514\n"
        "    unix: /run/log.sock\n"
    )
    assert isinstance(result.config.inputs[1], SyslogInputConfig)
    out = io.StringIO()
    summary(result, out)
    text = out.getvalue()
    assert (
        "socket 'socket'; unix /run/a.sock (mode 0660, group www-data); tcp 127.0.0.1:9999 "
        "(shared secret required" in text
    )
    assert "syslog 'syslog'; udp 127.0.0.1:514; tcp 127.0.0.1:514 (framing auto); " in text
    assert "unix datagram /run/log.sock" in text


def test_syslog_unix_stream_is_a_listener_of_its_own_path_checked_like_unix() -> None:
    (cfg,) = load("  - type: syslog\n    unix_stream: /run/log.stream\n").config.inputs
    assert isinstance(cfg, SyslogInputConfig) and cfg.unix_stream == "/run/log.stream"
    (relative,) = problems("  - type: syslog\n    unix_stream: log.stream\n")
    assert relative.startswith("agent.yaml:4:18: inputs[0].unix_stream: ")
    assert "absolute path" in relative
    (same,) = problems("  - type: syslog\n    unix: /run/log\n    unix_stream: /run/log\n")
    assert same.startswith("agent.yaml:5:18: inputs[0].unix_stream: expected a path other than")
    out = io.StringIO()
    summary(load("  - type: syslog\n    unix_stream: /run/log.stream\n"), out)
    want = "syslog 'syslog'; unix stream /run/log.stream (mode 0660, framing auto)"
    assert want in out.getvalue()
