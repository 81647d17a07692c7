"""``spool:`` in the configuration: accepted on stdin/socket/syslog and at the top level, refused
with file:line:col on file and journald inputs, values checked."""

from __future__ import annotations

import pytest

from logflux_agent.config.load import load_config_text
from logflux_agent.config.spool import SpoolConfig, effective_spool
from logflux_agent.errors import ConfigError

KEY = "eu-lf_0123456789abcdef0123456789abcdef"


def _load(text: str) -> object:
    return load_config_text(f"api_key: {KEY}\n" + text, "agent.yaml", {})


def test_spool_on_socket_and_top_level_is_read() -> None:
    cfg = _load(
        "spool:\n  max_bytes: 2097152\n  fsync: interval\n"
        "inputs:\n  - type: socket\n    unix: /tmp/a.sock\n    spool: {directory: /tmp/sp}\n"
        "  - type: stdin\n"
    )
    top = cfg.spool  # type: ignore[attr-defined]
    sock, stdin = cfg.inputs  # type: ignore[attr-defined]
    assert top == SpoolConfig(max_bytes=2097152, fsync="interval")
    assert effective_spool(top, sock.spool) == SpoolConfig(directory="/tmp/sp")
    assert effective_spool(top, stdin.spool) is top


@pytest.mark.parametrize("kind", ["file", "journald"])
def test_spool_on_a_rereadable_input_is_refused_with_its_position(kind: str) -> None:
    extra = "    paths: [/var/log/a.log]\n" if kind == "file" else ""
    with pytest.raises(ConfigError) as exc:
        _load(f"inputs:\n  - type: {kind}\n    id: x\n{extra}    spool: {{}}\n")
    text = str(exc.value.report("logflux-agent", "agent.yaml"))
    assert "agent.yaml:" in text and "inputs[0].spool" in text
    assert f"a {kind} input cannot have a spool" in text


def test_bad_spool_values_are_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        _load("spool:\n  max_bytes: 10\n  fsync: sometimes\n  fsync_interval: 0\n")
    text = str(exc.value.report("logflux-agent", "agent.yaml"))
    assert "spool.max_bytes" in text and "spool.fsync" in text and "spool.fsync_interval" in text


def test_disabled_spool_is_none() -> None:
    assert effective_spool(SpoolConfig(), SpoolConfig(enabled=False)) is None
    assert effective_spool(None, None) is None
