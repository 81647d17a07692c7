"""Glob matching and scanning: the scan and the event-path matcher agree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from logflux_agent.inputs.file.finder import Finder, GlobPattern


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")
    return path


def found(finder: Finder) -> list[str]:
    return sorted(finder.scan().files)


def test_star_matches_within_one_component_only(tmp_path: Path) -> None:
    a = touch(tmp_path / "a.log")
    touch(tmp_path / "sub" / "b.log")
    touch(tmp_path / "c.txt")
    finder = Finder([str(tmp_path / "*.log")])
    assert found(finder) == [str(a)]
    assert finder.matches(str(a))
    assert not finder.matches(str(tmp_path / "sub" / "b.log"))


def test_double_star_matches_zero_or_more_directories(tmp_path: Path) -> None:
    files = [
        touch(tmp_path / "a.log"),
        touch(tmp_path / "x" / "b.log"),
        touch(tmp_path / "x" / "y" / "c.log"),
    ]
    touch(tmp_path / "x" / "y" / "c.txt")
    finder = Finder([str(tmp_path / "**" / "*.log")])
    assert found(finder) == sorted(str(f) for f in files)
    assert all(finder.matches(str(f)) for f in files)
    assert finder.patterns[0].recursive


def test_trailing_double_star_means_every_file_below(tmp_path: Path) -> None:
    files = [touch(tmp_path / "d" / "a"), touch(tmp_path / "d" / "e" / "b")]
    finder = Finder([str(tmp_path / "d" / "**")])
    assert found(finder) == sorted(str(f) for f in files)


def test_hidden_names_need_an_explicit_dot(tmp_path: Path) -> None:
    touch(tmp_path / ".hidden.log")
    touch(tmp_path / ".git" / "x.log")
    visible = touch(tmp_path / "v.log")
    assert found(Finder([str(tmp_path / "*.log")])) == [str(visible)]
    assert found(Finder([str(tmp_path / "**" / "*.log")])) == [str(visible)]
    assert found(Finder([str(tmp_path / ".*.log")])) == [str(tmp_path / ".hidden.log")]
    assert not Finder([str(tmp_path / "**" / "*.log")]).matches(str(tmp_path / ".git" / "x.log"))


def test_excludes_by_base_name_or_full_path(tmp_path: Path) -> None:
    keep = touch(tmp_path / "app.log")
    touch(tmp_path / "app.log.gz")
    touch(tmp_path / "old" / "app.log")
    finder = Finder(
        [str(tmp_path / "**" / "app.log*")], exclude=["*.gz", str(tmp_path / "old" / "*")]
    )
    assert found(finder) == [str(keep)]
    assert not finder.matches(str(tmp_path / "app.log.gz"))


def test_wildcard_directories_and_literal_leaves(tmp_path: Path) -> None:
    a = touch(tmp_path / "svc1" / "current")
    b = touch(tmp_path / "svc2" / "current")
    touch(tmp_path / "svc3" / "other")
    finder = Finder([str(tmp_path / "svc*" / "current")])
    assert found(finder) == [str(a), str(b)]
    assert finder.patterns[0].recursive
    assert finder.watch_roots() == {str(tmp_path): True}


def test_only_regular_files_and_symlink_loops_are_reported(tmp_path: Path) -> None:
    (tmp_path / "dir.log").mkdir()
    os.mkfifo(tmp_path / "fifo.log")
    (tmp_path / "l1.log").symlink_to(tmp_path / "l2.log")
    (tmp_path / "l2.log").symlink_to(tmp_path / "l1.log")
    (tmp_path / "dangling.log").symlink_to(tmp_path / "nowhere")
    real = touch(tmp_path / "real.log")
    result = Finder([str(tmp_path / "*.log")]).scan()
    assert sorted(result.files) == [str(real)]
    assert sorted(p for r, p, _ in result.problems if r == "symlink_loop") == [
        str(tmp_path / "l1.log"),
        str(tmp_path / "l2.log"),
    ]


def test_directory_symlink_loops_under_double_star_terminate(tmp_path: Path) -> None:
    a = touch(tmp_path / "a" / "x.log")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    result = Finder([str(tmp_path / "**" / "*.log")]).scan()
    assert sorted(result.files) == [str(a)]


def test_missing_base_directory_is_a_problem_not_an_error(tmp_path: Path) -> None:
    result = Finder([str(tmp_path / "nope" / "*.log")]).scan()
    assert result.files == {}
    assert result.problems == [("missing_dir", str(tmp_path / "nope"), "directory does not exist")]
    assert Finder([str(tmp_path / "nope" / "*.log")]).watch_roots() == {}


def test_watch_roots_skip_directories_inside_a_recursive_root(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    finder = Finder(
        [
            str(tmp_path / "a" / "**" / "*.log"),
            str(tmp_path / "a" / "b" / "*.log"),
            str(tmp_path / "*.txt"),
        ]
    )
    assert finder.watch_roots() == {str(tmp_path / "a"): True, str(tmp_path): False}


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/var/log/*.log", "/var/log/syslog.log", True),
        ("/var/log/*.log", "/var/log/a/b.log", False),
        ("/var/log/**/*.log", "/var/log/a/b/c.log", True),
        ("/var/log/**/*.log", "/var/log/c.log", True),
        ("/var/log/app-?.log", "/var/log/app-1.log", True),
        ("/var/log/app-[0-9].log", "/var/log/app-x.log", False),
        ("/var/log/app.log", "/var/log/app.log", True),
        ("/var/log/app.log", "/var/log/app.log.1", False),
        ("/var/*/app.log", "/var/log/app.log", True),
    ],
)
def test_pattern_matching(pattern: str, path: str, expected: bool) -> None:
    assert GlobPattern(pattern).matches(path) is expected
