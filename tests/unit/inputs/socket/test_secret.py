"""inputs/socket/secret.py and listen.py: the §10 secret file, and safe Unix socket binding."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from logflux_agent.inputs.socket.listen import ListenError, bind_unix
from logflux_agent.inputs.socket.secret import (
    SecretError,
    default_secret_path,
    load_or_create,
)


def test_default_locations_follow_the_c_sdk_order() -> None:
    assert default_secret_path({"XDG_RUNTIME_DIR": "/run/user/1", "HOME": "/h"}) == (
        "/run/user/1/logflux/agent.secret"
    )
    assert default_secret_path({"HOME": "/h"}) == "/h/.logflux/runtime/agent.secret"
    assert default_secret_path({}) == "/tmp/.logflux-runtime/agent.secret"


def test_created_once_0600_with_a_pid_file_and_reused_after_a_restart(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    extra = tmp_path / "etc" / "agent.secret"
    first = load_or_create(str(extra), env)
    assert first.created
    default = Path(default_secret_path(env))
    for path in (extra, default):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().strip() == first.value
    assert stat.S_IMODE(default.parent.stat().st_mode) == 0o700
    assert len(first.value) == 64
    first.write_pid_files(os.getpid())
    assert (default.parent / "agent.pid").read_text().strip() == str(os.getpid())
    first.remove_pid_files()
    assert not (default.parent / "agent.pid").exists()
    second = load_or_create(str(extra), env)
    assert not second.created and second.value == first.value
    assert first.value.decode() not in repr(second)


def test_a_secret_readable_by_others_or_a_symlink_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.secret"
    path.write_text("abc\n")
    path.chmod(0o644)
    with pytest.raises(SecretError, match="chmod 600") as err:
        load_or_create(str(path), {})
    assert "abc" not in str(err.value)
    target = tmp_path / "elsewhere"
    target.write_text("x\n")
    target.chmod(0o600)
    link = tmp_path / "link.secret"
    link.symlink_to(target)
    with pytest.raises(SecretError, match="cannot read"):
        load_or_create(str(link), {})


def test_a_stale_socket_is_replaced_a_live_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    sock = bind_unix(str(path), socket.SOCK_STREAM, 0o660, None)
    sock.listen()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        with pytest.raises(ListenError, match="another process is listening"):
            bind_unix(str(path), socket.SOCK_STREAM, 0o660, None)
    finally:
        sock.close()


def test_a_path_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("data")
    with pytest.raises(ListenError, match="not a socket"):
        bind_unix(str(path), socket.SOCK_DGRAM, 0o660, None)
    assert path.read_text() == "data"


def test_every_socket_and_syslog_option_is_in_the_example_and_the_docs() -> None:
    import dataclasses

    from logflux_agent.config.model import SocketInputConfig, SyslogInputConfig

    root = Path(__file__).resolve().parents[4]
    example = (root / "config" / "agent.yaml.example").read_text()
    docs = (root / "docs" / "socket-syslog.md").read_text()
    for cls in (SocketInputConfig, SyslogInputConfig):
        for f in dataclasses.fields(cls):
            if f.name in ("type", "id"):
                continue
            assert f"{f.name}:" in example, f"{cls.__name__}.{f.name} not in the example"
            assert f"`{f.name}`" in docs, f"{cls.__name__}.{f.name} not in the docs"
