"""``processors:`` in the configuration: what is accepted, and every problem with
file:line:col, key path and expectation."""

from __future__ import annotations

import pytest

from logflux_agent.config.load import load_config_text
from logflux_agent.config.processors import (
    CriProcessor,
    DetectLevelProcessor,
    DropFieldsProcessor,
    JsonProcessor,
    KubernetesProcessor,
    LevelProcessor,
    MultilineProcessor,
    RenameProcessor,
    SetProcessor,
    SyslogProcessor,
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
            "no parser (json, logfmt, regex, syslog) runs before it",
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
        (
            "      - cri\n      - json\n      - multiline: {start_pattern: '^\\S'}\n",
            "9:9: inputs[0].processors[2]",
            "multiline must come before json",
        ),
        (
            "      - multiline: {start_pattern: a}\n      - multiline: {start_pattern: b}\n",
            "8:9: inputs[0].processors[1]",
            "multiline appears twice",
        ),
        (
            "      - redact\n      - multiline: {start_pattern: a}\n",
            "8:9: inputs[0].processors[1]",
            "multiline must come before redact",
        ),
        (
            "      - multiline: {}\n",
            "7:20: inputs[0].processors[0].multiline",
            "exactly one of start_pattern",
        ),
        (
            "      - multiline: {start_pattern: a, continue_pattern: b}\n",
            "inputs[0].processors[0].multiline",
            "got both",
        ),
        (
            "      - multiline: {continue_pattern: '(x'}\n",
            "7:39: inputs[0].processors[0].multiline.continue_pattern",
            "expected a regular expression",
        ),
        (
            "      - multiline: {start_pattern: a, max_lines: 0}\n",
            "inputs[0].processors[0].multiline.max_lines",
            "≥ 1",
        ),
        (
            "      - syslog\n      - detect_level\n",
            "8:9: inputs[0].processors[1]",
            "detect_level after syslog would overwrite",
        ),
        (
            "      - json\n      - level\n      - detect_level\n",
            "9:9: inputs[0].processors[2]",
            "detect_level after level",
        ),
        ("      - syslog: {facility: x}\n", "inputs[0].processors[0].syslog.facility", "unknown"),
    ],
)
def test_bad_processor_config_names_place_path_and_expectation(
    text: str, where: str, expected: str
) -> None:
    found = problems(text)
    assert any(where in p and expected in p for p in found), found
    assert all(p.startswith("agent.yaml:") for p in found)


def test_multiline_detect_level_and_syslog_load_as_processors() -> None:
    text = (
        "      - cri\n      - kubernetes\n"
        "      - multiline: {continue_pattern: '^\\s+at ', timeout: 3}\n"
        "      - detect_level\n      - syslog\n      - timestamp\n"
    )
    [inp] = load_config_text(doc(text), "agent.yaml", {}).inputs
    assert inp.processors[2:5] == (
        MultilineProcessor(continue_pattern=r"^\s+at ", timeout=3.0),
        DetectLevelProcessor(),
        SyslogProcessor(),
    )
    assert describe(inp.processors[2]) == r"multiline(continue_pattern=^\s+at ; timeout=3.0)"


@pytest.mark.parametrize(
    ("processors", "expected"),
    [
        ("[cri]", "write it as a processor after cri"),
        ("[docker, json]", "write it as a processor after docker"),
        ("[{multiline: {start_pattern: x}}]", "keep the processor"),
    ],
)
def test_the_input_multiline_option_next_to_container_processors_says_what_to_write(
    processors: str, expected: str
) -> None:
    text = (
        f"api_key: {KEY}\ninputs:\n  - type: file\n    id: app\n    paths: [/x.log]\n"
        f"    multiline: {{start_pattern: '^\\S'}}\n    processors: {processors}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "agent.yaml", {})
    [problem] = info.value.problems
    assert problem.startswith("agent.yaml:6:16: inputs[0].multiline: ") and expected in problem


def test_the_input_multiline_option_alone_and_with_other_processors_still_loads() -> None:
    text = (
        f"api_key: {KEY}\ninputs:\n  - type: file\n    id: app\n    paths: [/x.log]\n"
        f"    multiline: {{start_pattern: '^\\S'}}\n    detect_level: true\n"
        f"    processors: [json]\n"
    )
    [inp] = load_config_text(text, "agent.yaml", {}).inputs
    assert inp.multiline is not None and inp.detect_level


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
