"""conf.d/*.yaml fragments (merged in name order, duplicates with both locations) and
``${VAR:?message}`` interpolation, on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from logflux_agent.config.env import interpolate
from logflux_agent.config.fragments import fragment_paths
from logflux_agent.config.load import load_config, load_config_text
from logflux_agent.config.model import FileInputConfig
from logflux_agent.errors import EXIT_CONFIG, ConfigError

KEY = "eu-lf_" + "T3stK3y" * 4


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def main_file(tmp_path: Path, body: str = "") -> Path:
    return write(
        tmp_path / "agent.yaml",
        f"api_key: {KEY}\nstate_dir: {tmp_path}/state\n"
        "inputs:\n  - type: file\n    id: main\n    paths: [/var/log/main.log]\n" + body,
    )


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(str(path), env or {})
    assert err.value.exit_code == EXIT_CONFIG
    return err.value.problems


def test_fragments_are_merged_in_name_order_inputs_appended_maps_merged(tmp_path: Path) -> None:
    main = main_file(tmp_path, "labels: {team: core}\nsender: {flush_interval: 0.5}\n")
    write(
        tmp_path / "conf.d" / "20-web.yaml",
        "inputs:\n  - type: file\n    id: web\n    paths: [/var/log/web.log]\nlabels: {site: b}\n",
    )
    write(
        tmp_path / "conf.d" / "10-db.yaml",
        "inputs:\n  - type: file\n    id: db\n    paths: [/var/log/db.log]\n"
        "sender: {max_in_flight: 2}\n",
    )
    cfg = load_config(str(main), {})
    assert [c.id for c in cfg.inputs] == ["main", "db", "web"]
    assert cfg.labels == {"team": "core", "site": "b"}
    assert (cfg.sender.flush_interval, cfg.sender.max_in_flight) == (0.5, 2)
    assert isinstance(cfg.inputs[2], FileInputConfig)
    assert cfg.inputs[2].paths == ("/var/log/web.log",)


def test_only_visible_yaml_files_are_fragments(tmp_path: Path) -> None:
    main = main_file(tmp_path)
    for name in ("x.yaml~", ".x.yaml.swp", "notes.txt", "y.yml", ".hidden.yaml"):
        write(tmp_path / "conf.d" / name, "this: is not read\n")
    (tmp_path / "conf.d" / "dir.yaml").mkdir()
    write(tmp_path / "conf.d" / "ok.yaml", "labels: {a: b}\n")
    assert [Path(p).name for p in fragment_paths(str(main))] == ["ok.yaml"]
    assert load_config(str(main), {}).labels == {"a": "b"}


def test_a_setting_given_twice_names_both_files_and_lines(tmp_path: Path) -> None:
    main = main_file(tmp_path, "sender:\n  flush_interval: 0.5\n")
    frag = write(tmp_path / "conf.d" / "10-x.yaml", "\nsender:\n  flush_interval: 2\n")
    found = problems(main)
    assert len(found) == 1
    assert found[0].startswith(f"{frag}:3:3: sender.flush_interval: set again (first set at ")
    assert f"{main}:8:3)" in found[0]


def test_a_duplicate_input_id_across_files_names_the_fragment(tmp_path: Path) -> None:
    main = main_file(tmp_path)
    frag = write(
        tmp_path / "conf.d" / "a.yaml",
        "inputs:\n  - type: file\n    id: main\n    paths: [/x.log]\n",
    )
    found = problems(main)
    assert any(p.startswith(f"{frag}:3:") and "duplicate input id 'main'" in p for p in found)


def test_a_bad_value_in_a_fragment_is_reported_at_its_own_position(tmp_path: Path) -> None:
    main = main_file(tmp_path)
    frag = write(tmp_path / "conf.d" / "a.yaml", "queue:\n  max_entries: lots\n")
    found = problems(main)
    assert found == [f"{frag}:2:16: queue.max_entries: expected an integer, got 'lots'"] or (
        len(found) == 1 and found[0].startswith(f"{frag}:2:16: queue.max_entries: expected")
    )


def test_broken_yaml_and_non_mapping_fragments_are_errors(tmp_path: Path) -> None:
    main = main_file(tmp_path)
    broken = write(tmp_path / "conf.d" / "a.yaml", "labels: [unclosed\n")
    listed = write(tmp_path / "conf.d" / "b.yaml", "- just\n- a list\n")
    write(tmp_path / "conf.d" / "c.yaml", "# only a comment\n")
    found = problems(main)
    assert any(p.startswith(f"{broken}:") and "not valid YAML" in p for p in found), found
    assert any(p.startswith(f"{listed}:1:1: expected a mapping") for p in found), found


def test_no_conf_d_is_fine(tmp_path: Path) -> None:
    assert [c.id for c in load_config(str(main_file(tmp_path)), {}).inputs] == ["main"]


# ---- ${VAR:?message} ------------------------------------------------------------------------


def test_required_variable_expands_when_set() -> None:
    assert interpolate("${HOST:?set HOST}", {"HOST": "a"}) == ("a", [], {"HOST"})


@pytest.mark.parametrize("env", [{}, {"HOST": ""}])
def test_required_variable_unset_or_empty_is_an_error_with_the_message(
    env: dict[str, str],
) -> None:
    text, found, _ = interpolate("x-${HOST:?the ingest host, e.g. in.example}", env)
    assert found == [
        "environment variable HOST is not set or empty: the ingest host, e.g. in.example"
    ]
    assert text.startswith("x-${HOST")


def test_required_variable_without_message_says_required() -> None:
    assert interpolate("${HOST:?}", {})[1] == [
        "environment variable HOST is not set or empty: required"
    ]


def test_required_variable_error_has_file_line_col_and_key_path() -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(
            f"api_key: {KEY}\nnode: ${{NODE_NAME:?set NODE_NAME in the unit}}\n",
            "agent.yaml",
            {},
        )
    assert err.value.problems == [
        "agent.yaml:2:7: node: environment variable NODE_NAME is not set or empty: "
        "set NODE_NAME in the unit"
    ]
