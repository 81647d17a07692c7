"""``--spool [DIR]`` of the one-shot upload: where standard input spools, and when it is refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from logflux_agent.commands.oneshot import apply_overrides, spool_directory
from logflux_agent.config.load import load_config_text
from logflux_agent.config.model import StdinInputConfig
from logflux_agent.devserver.options import DEV_API_KEY
from logflux_agent.errors import ConfigError


def _args(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"stdin": True, "endpoint": None, "api_key_file": None, **kw})


def test_spool_without_a_directory_is_under_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert spool_directory(_args(spool="")) == str(tmp_path / "logflux-agent" / "spool")
    assert spool_directory(_args(spool="rel")) == str(Path("rel").resolve())
    assert spool_directory(_args()) is None


def test_spool_needs_stdin() -> None:
    with pytest.raises(ConfigError, match="only with --stdin"):
        spool_directory(_args(stdin=False, spool="/x"))


def test_spool_with_a_config_gives_stdin_that_directory_and_keeps_the_file_settings(
    tmp_path: Path,
) -> None:
    text = (
        f"api_key: {DEV_API_KEY}\nstate_dir: {tmp_path}\nspool: {{max_bytes: 2097152}}\n"
        "inputs: [{type: socket, id: app, unix: /tmp/x.sock}]\n"
    )
    config = apply_overrides(load_config_text(text), _args(spool=str(tmp_path / "sp")))
    (stdin,) = [c for c in config.inputs if isinstance(c, StdinInputConfig)]
    assert stdin.spool is not None and stdin.spool.directory == str(tmp_path / "sp")
    assert stdin.spool.max_bytes == 2097152
    socket_input = config.inputs[0]
    assert getattr(socket_input, "spool", None) is None  # others keep the top-level spool
