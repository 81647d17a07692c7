"""``processors:`` in the configuration: what is accepted, and every problem with
file:line:col, key path and expectation."""

from __future__ import annotations

import pytest

from logflux_agent.config.load import load_config_text
from logflux_agent.config.processors import (
    CriProcessor,
    DropFieldsProcessor,
    JsonProcessor,
    KubernetesProcessor,
    LevelProcessor,
    RenameProcessor,
    SetProcessor,
    TimestampProcessor,
    describe,
)
from logflux_agent.errors import ConfigError

KEY = "eu-lf_0123456789abcdef0123456789abcdef"


def doc(processors: str, kind: str = "file") -> str:
    paths = "    paths: [/var/log/x.log]\n" if kind == "file" else ""
    ident = "    id: app\n" if kind != "stdin" else ""
    return f"api_key: {KEY}\ninputs:\n  - type: {kind}\n{ident}{paths}    processors:\n{processors}"


def problems(processors: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(doc(processors), "agent.yaml", {})
    return info.value.problems


def test_a_full_chain_loads_in_order_with_defaults() -> None:
    text = (
        "      - cri\n      - kubernetes: {}\n      - json: {message_key: msg}\n"
        "      - timestamp: {field: time}\n      - level: {map: {fatal: critical, '60': 2}}\n"
        "      - set: {env: prod}\n      - rename: {a: b}\n      - drop_fields: [password]\n"
    )
    [inp] = load_config_text(doc(text), "agent.yaml", {}).inputs
    assert inp.processors == (
        CriProcessor(),
        KubernetesProcessor(),
        JsonProcessor(message_key="msg"),
        TimestampProcessor(field="time"),
        LevelProcessor(map={"fatal": 3, "60": 2}),
        SetProcessor(fields={"env": "prod"}),
        RenameProcessor(fields={"a": "b"}),
        DropFieldsProcessor(fields=("password",)),
    )
    assert [describe(p) for p in inp.processors][:3] == [
        "cri",
        "kubernetes",
        "json(message_key=msg)",
    ]


@pytest.mark.parametrize("kind", ["stdin", "journald"])
def test_every_input_type_takes_processors(kind: str) -> None:
    [inp] = load_config_text(doc("      - json\n", kind), "agent.yaml", {}).inputs
    assert inp.processors == (JsonProcessor(),)


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ("      - jsn: {}\n", "7:9: inputs[0].processors[0]", "did you mean 'json'?"),
        (
            "      - regex: {pattern: '(?P<a>x'}\n",
            "7:26: inputs[0].processors[0].regex.pattern",
            "expected a regular expression",
        ),
        (
            "      - regex: {pattern: 'abc'}\n",
            "7:26: inputs[0].processors[0].regex.pattern",
            "named groups",
        ),
        (
            "      - json\n      - level: {map: {fatal: 9}}\n",
            "8:30: inputs[0].processors[1].level.map['fatal']",
            "expected a LogFlux level: 1 to 8 or a name",
        ),
        (
            "      - json\n      - cri\n",
            "8:9: inputs[0].processors[1]",
            "cri must be the first processor",
        ),
        (
            "      - timestamp\n",
            "7:9: inputs[0].processors[0]",
            "no parser (json, logfmt, regex) runs before it",
        ),
        (
            "      - json\n      - timestamp: {formats: [bogus]}\n",
            "8:31: inputs[0].processors[1].timestamp.formats[0]",
            "a strptime pattern",
        ),
        (
            "      - json: {message_kye: x}\n",
            "7:16: inputs[0].processors[0].json.message_kye",
            "did you mean 'message_key'?",
        ),
        ("      - cri: {max_bytes: 10}\n", "inputs[0].processors[0].cri.max_bytes", "≥ 1024"),
        ("      - {json: {}, cri: {}}\n", "7:9: inputs[0].processors[0]", "one processor per"),
        ("      - drop_fields: []\n", "inputs[0].processors[0].drop_fields", "at least one"),
        ("      json: {}\n", "7:7: inputs[0].processors", "a list of processors"),
    ],
)
def test_bad_processor_config_names_place_path_and_expectation(
    text: str, where: str, expected: str
) -> None:
    found = problems(text)
    assert any(where in p and expected in p for p in found), found
    assert all(p.startswith("agent.yaml:") for p in found)


def test_validate_lists_each_inputs_chain_in_order(tmp_path: object) -> None:
    import io
    from pathlib import Path

    from logflux_agent.commands.validate import summary
    from logflux_agent.config.load import load_config_report

    path = Path(str(tmp_path)) / "agent.yaml"
    path.write_text(doc("      - cri\n      - kubernetes\n      - json: {message_key: msg}\n"))
    path.chmod(0o600)
    out = io.StringIO()
    summary(load_config_report(str(path), {}), out)
    assert "processors: cri → kubernetes → json(message_key=msg)" in out.getvalue()
