"""The YAML loader: defaults, every kind of bad value (with file:line:col, key path and what was
expected), unknown keys, api_key_file, permissions, and the shipped example configuration."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing

from logflux_agent.commands.validate import endpoint_mode
from logflux_agent.config import model
from logflux_agent.config.load import (
    load_config,
    load_config_report,
    load_config_text,
    load_config_with_warnings,
)
from logflux_agent.config.model import (
    AgentConfig,
    DiscoveryConfig,
    EncryptionConfig,
    FileInputConfig,
    JournaldInputConfig,
    LoggingConfig,
    MetricsConfig,
    QueueConfig,
    SenderConfig,
    StdinInputConfig,
)
from logflux_agent.errors import EXIT_CONFIG, ConfigError

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config" / "agent.yaml.example"
DOCS = ROOT / "docs" / "configuration.md"
KEY = "eu-lf_" + "T3stK3y" * 4
FILE = "inputs:\n  - type: file\n    id: app\n    paths: [/var/log/a.log]\n"


def load(text: str, env: dict[str, str] | None = None) -> AgentConfig:
    return load_config_text(text, "agent.yaml", env or {})


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(text, env)
    assert err.value.exit_code == EXIT_CONFIG
    return err.value.problems


def doc(body: str) -> str:
    return f"api_key: {KEY}\n{body}"


# ---- valid configurations ------------------------------------------------------------------


def test_minimal_config_gets_every_default() -> None:
    cfg = load(doc(FILE))
    assert cfg.api_key.value == KEY and cfg.api_key.region == "eu"
    assert cfg.source == "agent.yaml"
    assert cfg.inputs == (FileInputConfig(id="app", paths=("/var/log/a.log",)),)
    assert (cfg.sender, cfg.queue, cfg.metrics, cfg.logging) == (
        SenderConfig(),
        QueueConfig(),
        MetricsConfig(),
        LoggingConfig(),
    )
    assert (cfg.discovery, cfg.encryption) == (DiscoveryConfig(), EncryptionConfig())
    assert cfg.state_dir == "/var/lib/logflux-agent"
    assert cfg.endpoint is None and cfg.region is None and cfg.tls_verify is True
    assert cfg.node  # the host name


def test_every_input_type_with_its_options() -> None:
    cfg = load(
        doc("""\
inputs:
  - type: file
    id: nginx
    paths: ["/var/log/nginx/*.log", /srv/app.log]
    exclude: ["*.gz"]
    start_at: beginning
    labels: {service: nginx}
    multiline: {start_pattern: '^\\S', max_lines: 50, timeout: 2}
    max_line_bytes: 1024
    long_lines: truncate
    on_full: drop_newest
    detect_level: true
  - type: journald
    id: system
    units: [sshd.service]
    priority: warning
  - type: journald
    id: kernel
    priority: 3
  - type: stdin
""")
    )
    file_cfg, journal, kernel, stdin = cfg.inputs
    assert isinstance(file_cfg, FileInputConfig)
    assert file_cfg.paths == ("/var/log/nginx/*.log", "/srv/app.log")
    assert file_cfg.multiline == model.MultilineConfig(
        start_pattern="^\\S", max_lines=50, timeout=2.0
    )
    assert isinstance(file_cfg.multiline.timeout, float)
    assert (file_cfg.start_at, file_cfg.long_lines, file_cfg.on_full, file_cfg.detect_level) == (
        "beginning",
        "truncate",
        "drop_newest",
        True,
    )
    assert journal == JournaldInputConfig(id="system", units=("sshd.service",), priority=4)
    assert isinstance(kernel, JournaldInputConfig) and kernel.priority == 3
    assert stdin == StdinInputConfig(id="stdin")


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("emerg", 0),
        ("alert", 1),
        ("crit", 2),
        ("err", 3),
        ("error", 3),
        ("warning", 4),
        ("WARN", 4),
        ("notice", 5),
        ("info", 6),
        ("debug", 7),
        ("0", 0),
        ("7", 7),
    ],
)
def test_journald_priority_names_and_numbers(name: str, number: int) -> None:
    cfg = load(doc(f"inputs:\n  - type: journald\n    id: j\n    priority: {name}\n"))
    assert cfg.inputs[0] == JournaldInputConfig(id="j", priority=number)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://ingest.example", "https://ingest.example"),
        ("https://ingest.example/", "https://ingest.example"),
        ("http://127.0.0.1:8080/base/", "http://127.0.0.1:8080/base"),
    ],
)
def test_endpoint_loses_one_trailing_slash(given: str, kept: str) -> None:
    assert load(doc(f"endpoint: {given}\n")).endpoint == kept


def test_fingerprint_is_normalised() -> None:
    hexa = "ab" * 32
    colons = ":".join(["AB"] * 32)
    for given in (f"SHA256:{hexa}", f"sha256:{hexa.upper()}", colons, hexa):
        cfg = load(doc(f'encryption:\n  public_key_fingerprint: "{given}"\n'))
        assert cfg.encryption.public_key_fingerprint == f"SHA256:{hexa}"


def test_readable_public_key_file_and_ca_file(tmp_path: Path) -> None:
    pem = tmp_path / "pk.pem"
    pem.write_text("-----BEGIN PUBLIC KEY-----\n")
    cfg = load(doc(f"ca_file: {pem}\nencryption:\n  public_key_file: {pem}\n"))
    assert cfg.ca_file == str(pem) and cfg.encryption.public_key_file == str(pem)


def test_ints_are_accepted_for_floats_and_yaml_int_forms_work() -> None:
    cfg = load(
        doc(
            "sender:\n  flush_interval: 2\n  batch_max_bytes: 0x100000\n"
            "queue:\n  max_entries: 1_000\n"
        )
    )
    assert cfg.sender.flush_interval == 2.0 and isinstance(cfg.sender.flush_interval, float)
    assert cfg.sender.batch_max_bytes == 1 << 20
    assert cfg.queue.max_entries == 1000


def test_merge_keys_share_options_between_inputs() -> None:
    cfg = load(
        doc("""\
inputs:
  - &first
    type: file
    id: a
    start_at: beginning
    paths: [/a.log]
  - <<: *first
    id: b
    paths: [/b.log]
    start_at: end
  - <<: [*first]
    id: c
""")
    )
    a, b, c = cfg.inputs
    assert isinstance(a, FileInputConfig) and isinstance(b, FileInputConfig)
    assert (a.id, a.start_at, b.id, b.start_at, b.paths) == (
        "a",
        "beginning",
        "b",
        "end",
        ("/b.log",),
    )
    assert c == dataclasses.replace(a, id="c")


def test_recursive_merge_is_an_error_not_a_hang() -> None:
    problems = problems_of(doc("labels: &x {<<: *x}\n"))
    assert any("merge keys (<<) nested too deep or recursive" in p for p in problems)


def test_anchor_and_alias_reuse_a_value() -> None:
    cfg = load(doc("labels: &l {team: web}\ninputs:\n  - type: stdin\n    labels: *l\n"))
    assert cfg.labels == {"team": "web"} and cfg.inputs[0].labels == {"team": "web"}


def test_legacy_key_without_endpoint_is_allowed_and_uses_authenticated_discovery() -> None:
    cfg = load(FILE + "api_key: lf_legacykey12345\n")
    assert cfg.api_key.legacy
    assert endpoint_mode(cfg).startswith("authenticated discovery")


def test_endpoint_modes() -> None:
    assert endpoint_mode(load(doc("endpoint: https://i.example/\n"))).startswith(
        "custom endpoint https://i.example "
    )
    assert "static discovery for region eu" in endpoint_mode(load(doc("")))
    legacy_with_region = load("api_key: lf_legacykey12345\nregion: ca\n")
    assert "static discovery for region ca" in endpoint_mode(legacy_with_region)


def test_region_overriding_the_keys_region_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(doc("region: us\n"))
    path.chmod(0o600)
    cfg, warnings = load_config_with_warnings(str(path), {})
    assert cfg.region == "us"
    assert any("overrides the key's own region 'eu'" in w for w in warnings)


def test_stdin_id_defaults_and_labels_may_have_empty_values() -> None:
    cfg = load(doc("inputs:\n  - type: stdin\n    labels: {note: ''}\n"))
    assert cfg.inputs[0].id == "stdin" and cfg.inputs[0].labels == {"note": ""}


def test_optional_values_may_be_null_or_empty() -> None:
    cfg = load(doc("endpoint:\nenvironment: ''\nregion: ~\n" + FILE + "    multiline:\n"))
    assert (cfg.endpoint, cfg.environment, cfg.region) == (None, None, None)


def test_a_config_with_no_inputs_loads() -> None:
    # `run --stdin` adds the stdin input; validate says there are none.
    assert load(doc("inputs: []\n")).inputs == ()


# ---- bad configurations: each names file:line:col, the key path and what was expected -------

LABELS_21 = "labels: {" + ", ".join(f"l{i}: v" for i in range(21)) + "}\n"
BAD: list[tuple[str, str, int, str, str, str | None]] = [
    # (id, document without api_key, line, key path, expectation, value given)
    (
        "endpoint-scheme",
        "endpoint: ftp://ingest.example\n",
        2,
        "endpoint",
        "http:// or https:// URL",
        "'ftp://ingest.example'",
    ),
    ("endpoint-host", "endpoint: https://\n", 2, "endpoint", "with a host", "'https://'"),
    ("endpoint-query", "endpoint: https://x.example/?a=1\n", 2, "endpoint", "without ?query", None),
    ("region-case", "region: EU\n", 2, "region", "one of eu, us, ca, au, ap", "'EU'"),
    ("region-unknown", "region: de\n", 2, "region", "one of eu, us, ca, au, ap", "'de'"),
    ("tls-word", "tls_verify: maybe\n", 2, "tls_verify", "true or false", "'maybe'"),
    ("tls-int", "tls_verify: 1\n", 2, "tls_verify", "true or false", "'1' (an integer)"),
    ("labels-list", "labels: [a, b]\n", 2, "labels", "a mapping of names to strings", "a list"),
    ("label-reserved", "labels: {node: web}\n", 2, "labels.node", "reserved", None),
    ("label-reserved-case", "labels: {LogLevel: x}\n", 2, "labels.LogLevel", "reserved", None),
    ("label-key-uuid", "labels: {key_uuid: x}\n", 2, "labels.key_uuid", "reserved", None),
    (
        "label-long-name",
        "labels: {" + "k" * 65 + ": x}\n",
        2,
        "labels." + "k" * 65,
        "1 to 64 characters",
        "65 characters",
    ),
    (
        "label-long-value",
        "labels: {team: " + "v" * 257 + "}\n",
        2,
        "labels.team",
        "at most 256 characters",
        "257",
    ),
    ("label-int", "labels: {team: 1}\n", 2, "labels.team", "expected a string", "'1'"),
    ("label-bool-key", "labels:\n  yes: x\n", 3, "labels.yes", "a string key", "a boolean"),
    ("labels-21", LABELS_21, 2, "labels", "at most 20 labels", "21"),
    ("state-dir-empty", "state_dir: ''\n", 2, "state_dir", "a non-empty string", "''"),
    ("state-dir-list", "state_dir: [a]\n", 2, "state_dir", "expected a string", "a list"),
    ("node-empty", "node: ''\n", 2, "node", "a non-empty string", None),
    ("environment-list", "environment: [prod]\n", 2, "environment", "expected a string", None),
    (
        "checkpoint-zero",
        "checkpoint_interval: 0\n",
        2,
        "checkpoint_interval",
        "a number > 0",
        "'0'",
    ),
    (
        "checkpoint-word",
        "checkpoint_interval: soon\n",
        2,
        "checkpoint_interval",
        "expected a number",
        "'soon'",
    ),
    ("inputs-mapping", "inputs: {type: file}\n", 2, "inputs", "expected a list", "a mapping"),
    (
        "input-no-type",
        "inputs:\n  - id: app\n",
        3,
        "inputs[0].type",
        "required key is missing: expected one of file, stdin, journald",
        None,
    ),
    (
        "input-bad-type",
        "inputs:\n  - type: kafka\n    id: s\n",
        3,
        "inputs[0].type",
        "one of file, stdin, journald",
        "'kafka'",
    ),
    (
        "input-scalar",
        "inputs:\n  - /var/log/a.log\n",
        3,
        "inputs[0]",
        "a mapping with a type:",
        "'/var/log/a.log'",
    ),
    (
        "file-no-paths",
        "inputs:\n  - type: file\n    id: app\n",
        3,
        "inputs[0].paths",
        "required key is missing: expected a list of strings",
        None,
    ),
    (
        "paths-string",
        FILE.replace("[/var/log/a.log]", "/var/log/a.log"),
        5,
        "inputs[0].paths",
        "expected a list of strings",
        "'/var/log/a.log' (write ['/var/log/a.log'] for a list",
    ),
    (
        "paths-empty",
        FILE.replace("[/var/log/a.log]", "[]"),
        5,
        "inputs[0].paths",
        "at least one path",
        "a list",
    ),
    (
        "paths-empty-item",
        FILE.replace("[/var/log/a.log]", '["/a.log", ""]'),
        5,
        "inputs[0].paths[1]",
        "a non-empty string",
        "''",
    ),
    (
        "paths-int-item",
        FILE.replace("[/var/log/a.log]", "[1]"),
        5,
        "inputs[0].paths[0]",
        "expected a string",
        "'1' (an integer)",
    ),
    (
        "file-no-id",
        "inputs:\n  - type: file\n    paths: [/a.log]\n",
        3,
        "inputs[0].id",
        "required key is missing: expected a string",
        None,
    ),
    (
        "id-space",
        FILE.replace("id: app", "id: my app"),
        4,
        "inputs[0].id",
        "1 to 64 letters, digits",
        "'my app'",
    ),
    (
        "id-duplicate",
        FILE + "  - type: file\n    id: app\n    paths: [/b.log]\n",
        7,
        "inputs[1].id",
        "duplicate input id 'app' (also inputs[0])",
        None,
    ),
    (
        "two-stdin",
        "inputs:\n  - type: stdin\n  - type: stdin\n    id: other\n",
        4,
        "inputs[1]",
        "at most one stdin input",
        None,
    ),
    (
        "start-at",
        FILE + "    start_at: middle\n",
        6,
        "inputs[0].start_at",
        "one of beginning, end",
        "'middle'",
    ),
    (
        "long-lines",
        FILE + "    long_lines: wrap\n",
        6,
        "inputs[0].long_lines",
        "one of split, truncate",
        "'wrap'",
    ),
    (
        "on-full",
        FILE + "    on_full: drop\n",
        6,
        "inputs[0].on_full",
        "one of block, drop_newest",
        "'drop'",
    ),
    (
        "multiline-both",
        FILE + "    multiline: {start_pattern: a, continue_pattern: b}\n",
        6,
        "inputs[0].multiline",
        "exactly one of start_pattern",
        "both",
    ),
    (
        "multiline-none",
        FILE + "    multiline: {max_lines: 5}\n",
        6,
        "inputs[0].multiline",
        "exactly one of start_pattern",
        "neither",
    ),
    (
        "multiline-regex",
        FILE + "    multiline: {start_pattern: '('}\n",
        6,
        "inputs[0].multiline.start_pattern",
        "a regular expression",
        "'('",
    ),
    (
        "max-line-zero",
        FILE + "    max_line_bytes: 0\n",
        6,
        "inputs[0].max_line_bytes",
        "an integer ≥ 1",
        "'0'",
    ),
    (
        "max-line-float",
        FILE + "    max_line_bytes: 1.5\n",
        6,
        "inputs[0].max_line_bytes",
        "expected an integer",
        "'1.5' (a number)",
    ),
    (
        "detect-level",
        FILE + "    detect_level: sometimes\n",
        6,
        "inputs[0].detect_level",
        "true or false",
        "'sometimes'",
    ),
    (
        "input-typo",
        FILE + "    lables: {a: b}\n",
        6,
        "inputs[0].lables",
        "unknown key; did you mean 'labels'?",
        None,
    ),
    (
        "priority-9",
        "inputs:\n  - type: journald\n    id: j\n    priority: 9\n",
        5,
        "inputs[0].priority",
        "0 to 7 or a name",
        "'9'",
    ),
    (
        "priority-word",
        "inputs:\n  - type: journald\n    id: j\n    priority: loud\n",
        5,
        "inputs[0].priority",
        "0 to 7 or a name",
        "'loud'",
    ),
    (
        "units-string",
        "inputs:\n  - type: journald\n    id: j\n    units: sshd.service\n",
        5,
        "inputs[0].units",
        "expected a list of strings",
        "'sshd.service'",
    ),
    (
        "in-flight-zero",
        "sender:\n  max_in_flight: 0\n",
        3,
        "sender.max_in_flight",
        "an integer ≥ 1",
        "'0'",
    ),
    (
        "in-flight-huge",
        "sender:\n  max_in_flight: 1000\n",
        3,
        "sender.max_in_flight",
        "an integer ≤ 256",
        "'1000'",
    ),
    (
        "flush-negative",
        "sender:\n  flush_interval: -1\n",
        3,
        "sender.flush_interval",
        "a number > 0",
        "'-1'",
    ),
    (
        "batch-quoted",
        'sender:\n  batch_max_entries: "100"\n',
        3,
        "sender.batch_max_entries",
        "expected an integer",
        "'100'; remove the quotes",
    ),
    (
        "backoff-below-1",
        "sender:\n  retry_backoff_factor: 0.5\n",
        3,
        "sender.retry_backoff_factor",
        "a number ≥ 1",
        "'0.5'",
    ),
    (
        "max-below-initial",
        "sender:\n  retry_initial_delay: 5\n  retry_max_delay: 1\n",
        4,
        "sender.retry_max_delay",
        "≥ sender.retry_initial_delay (5 s)",
        "1",
    ),
    (
        "timeout-inf",
        "sender:\n  http_timeout: .inf\n",
        3,
        "sender.http_timeout",
        "a finite number",
        "'.inf'",
    ),
    ("sender-typo", "sender:\n  batch_size: 10\n", 3, "sender.batch_size", "unknown key", None),
    (
        "queue-float",
        "queue:\n  max_bytes: 1.0e+9\n",
        3,
        "queue.max_bytes",
        "expected an integer",
        "'1.0e+9' (a number)",
    ),
    ("queue-scalar", "queue: 5\n", 2, "queue", "expected a mapping", "'5'"),
    (
        "listen-port-only",
        'metrics:\n  listen: "9102"\n',
        3,
        "metrics.listen",
        "host:port",
        "'9102'",
    ),
    (
        "listen-ipv6",
        'metrics:\n  listen: "::1:9102"\n',
        3,
        "metrics.listen",
        "brackets",
        "'::1:9102'",
    ),
    (
        "listen-port-range",
        'metrics:\n  listen: "localhost:99999"\n',
        3,
        "metrics.listen",
        "port 0 to 65535",
        "'localhost:99999'",
    ),
    (
        "enabled-quoted",
        'metrics:\n  enabled: "on"\n',
        3,
        "metrics.enabled",
        "true or false",
        "'on'",
    ),
    (
        "log-level",
        "logging:\n  level: verbose\n",
        3,
        "logging.level",
        "one of debug, info, warning, error",
        "'verbose'",
    ),
    (
        "log-format",
        "logging:\n  format: text\n",
        3,
        "logging.format",
        "one of auto, json, console",
        "'text'",
    ),
    (
        "fingerprint",
        'encryption:\n  public_key_fingerprint: "SHA256:abc"\n',
        3,
        "encryption.public_key_fingerprint",
        "'SHA256:' followed by 64 hex digits",
        "'SHA256:abc'",
    ),
    (
        "public-key-file",
        "encryption:\n  public_key_file: /nonexistent/pk.pem\n",
        3,
        "encryption.public_key_file",
        "a readable file",
        "No such file",
    ),
    (
        "ca-file",
        "ca_file: /nonexistent/ca.pem\n",
        2,
        "ca_file",
        "a readable file",
        "'/nonexistent/ca.pem'",
    ),
    (
        "gateway",
        "discovery:\n  gateways: [ftp://gw.example]\n",
        3,
        "discovery.gateways",
        "http:// or https://",
        None,
    ),
    (
        "discovery-timeout",
        "discovery:\n  timeout: 0\n",
        3,
        "discovery.timeout",
        "a number > 0",
        "'0'",
    ),
    ("top-typo", "inptus: []\n", 2, "inptus", "unknown key; did you mean 'inputs'?", None),
    (
        "misplaced",
        "batch_max_entries: 5\n",
        2,
        "batch_max_entries",
        "unknown key; it belongs under sender",
        None,
    ),
    (
        "misplaced-in-input",
        FILE + "    flush_interval: 1\n",
        6,
        "inputs[0].flush_interval",
        "it belongs under sender",
        None,
    ),
    (
        "duplicate-key",
        "labels: {team: a}\nlabels: {team: b}\n",
        3,
        "labels",
        "duplicate key (first set on line 2)",
        None,
    ),
    (
        "unset-variable",
        "environment: ${NOPE_NOT_SET}\n",
        2,
        "environment",
        "environment variable NOPE_NOT_SET is not set",
        None,
    ),
    ("bad-reference", "environment: ${1BAD}\n", 2, "environment", "invalid reference", None),
    ("unterminated", "environment: ${OOPS\n", 2, "environment", "unterminated '${'", None),
]


@pytest.mark.parametrize(
    ("text", "line", "path", "expect", "given"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_config_names_location_path_expectation_and_value(
    text: str, line: int, path: str, expect: str, given: str | None
) -> None:
    problems = problems_of(doc(text))
    prefix = re.compile(rf"^agent\.yaml:{line}:\d+: {re.escape(path)}: ")
    matching = [p for p in problems if prefix.match(p)]
    assert matching, f"no problem at line {line} for {path}: {problems}"
    assert any(expect in p for p in matching), problems
    if given is not None:
        assert any("got " in p and given in p.split("got ", 1)[1] for p in matching), problems


def test_the_bad_table_is_large_enough() -> None:
    assert len(BAD) >= 25


API_KEY_CASES = [
    ("pat", "api_key: eu-lf_usr_abcdef123456\n", 1, "api_key", "Personal Access Token"),
    ("pat-legacy", "api_key: lf_usr_abcdef123456\n", 1, "api_key", "Personal Access Token"),
    ("wrong-region", "api_key: xx-lf_abcdef123456\n", 1, "api_key", "unknown region 'xx'"),
    ("empty-body", "api_key: eu-lf_\n", 1, "api_key", "no key body"),
    ("number", "api_key: 1234567890\n", 1, "api_key", "expected a string, got '****7890'"),
    ("quoted-space", 'api_key: "eu-lf_abcdef123456 "\n', 1, "api_key", "whitespace"),
    ("inner-quotes", "api_key: \"'eu-lf_abcdef123456'\"\n", 1, "api_key", "quotes"),
    ("empty", "api_key: ''\n", 1, "api_key", "the API key is empty"),
    (
        "unset-var",
        "api_key: ${NOPE_KEY_VAR}\n",
        1,
        "api_key",
        "environment variable NOPE_KEY_VAR is not set",
    ),
    (
        "both",
        f"api_key: {KEY}\napi_key_file: /x\n",
        2,
        "api_key_file",
        "set either api_key or api_key_file, not both",
    ),
    ("missing", "state_dir: /tmp\n", 1, "api_key", "required: set api_key: (or api_key_file:)"),
]


@pytest.mark.parametrize(
    ("text", "line", "path", "expect"),
    [c[1:] for c in API_KEY_CASES],
    ids=[c[0] for c in API_KEY_CASES],
)
def test_bad_api_key(text: str, line: int, path: str, expect: str) -> None:
    problems = problems_of(text)
    assert any(
        p.startswith(f"agent.yaml:{line}:") and f": {path}: " in p and expect in p for p in problems
    ), problems
    for p in problems:
        assert "abcdef123456" not in p and "1234567890" not in p
        assert KEY not in p


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        doc("""\
endpoint: ftp://x
region: de
inputs:
  - type: file
    id: app
    paths: /var/log/a.log
    start_at: middle
sender:
  max_in_flight: 0
logging:
  level: loud
unknown_thing: 1
""")
    )
    paths = [
        "endpoint",
        "region",
        "inputs[0].paths",
        "inputs[0].start_at",
        "sender.max_in_flight",
        "logging.level",
        "unknown_thing",
    ]
    assert len(problems) == len(paths), problems
    for path, problem in zip(paths, problems, strict=True):
        assert f": {path}: " in problem
    assert str(ConfigError(problems)).count("\n") == len(paths) - 1


def test_problems_are_bounded() -> None:
    text = doc("inputs:\n" + "".join(f"  - {{type: file, id: 'bad id {i}'}}\n" for i in range(300)))
    problems = problems_of(text)
    assert len(problems) == 101
    assert problems[-1].startswith("… and ") and "more problems" in problems[-1]


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    [problem] = problems_of(doc("queue:\n  zzz: 1\n"))
    assert problem == (
        "agent.yaml:3:3: queue.zzz: unknown key; valid keys here: max_bytes, max_entries"
    )


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("", "the configuration is empty"),
        ("# only a comment\n", "the configuration is empty"),
        ("- a\n- b\n", "expected a mapping of settings (key: value) at the top level, got a list"),
        ("just text\n", "expected a mapping of settings (key: value) at the top level, got 'just"),
        ("~\n", "at the top level, got null"),
        ("a: [1, 2\n", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("a:\n\tb: 1\n", "not valid YAML"),
        ("a: \x00\n", "not valid YAML"),
    ],
)
def test_unusable_documents(text: str, expect: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1 and expect in problems[0], problems
    assert problems[0].startswith("agent.yaml")


def test_yaml_syntax_error_carries_line_and_column() -> None:
    [problem] = problems_of(doc("inputs:\n  - type: file\n    paths: [a, b\n"))
    assert re.match(r"agent\.yaml:\d+:\d+: not valid YAML: ", problem)


# ---- files ---------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, mode: int = 0o600, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_load_config_from_a_file_keeps_its_path_as_source(tmp_path: Path) -> None:
    path = write(tmp_path, doc(FILE))
    cfg = load_config(str(path), {})
    assert cfg.source == str(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=re.escape(str(missing)) + ".*No such file"):
        load_config(str(missing), {})


def test_directory_and_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path))):
        load_config(str(tmp_path), {})


def test_non_utf8_and_huge_files_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"node: caf\xe9\n")
    with pytest.raises(ConfigError, match="expected UTF-8"):
        load_config(str(bad), {})
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ConfigError, match="larger than"):
        load_config(str(huge), {})


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + doc(FILE).encode())
    path.chmod(0o600)
    assert load_config(str(path), {}).inputs[0].id == "app"


def test_problems_in_a_file_name_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, doc("sender:\n  flush_interval: never\n"))
    with pytest.raises(ConfigError) as err:
        load_config(str(path), {})
    assert err.value.problems == [
        f"{path}:3:19: sender.flush_interval: expected a number, got 'never'"
    ]


@pytest.mark.parametrize("content", [f"{KEY}\n", f"{KEY}\r\n", KEY])
def test_api_key_file_is_read_and_its_line_end_dropped(tmp_path: Path, content: str) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_bytes(content.encode())
    result = load_config_report(str(write(tmp_path, f"api_key_file: {key_file}\n")), {})
    assert result.config.api_key.value == KEY
    assert result.api_key_origin == f"api_key_file {key_file}"


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        ("eu-lf_abc def123\n", "contains whitespace"),
        (" eu-lf_abcdef123\n", "leading or trailing whitespace"),
        ("eu-lf_abcdef123\n\n", "leading or trailing whitespace"),
        ('"eu-lf_abcdef123"\n', "quotes"),
        ("eu-lf_usr_abcdef123\n", "Personal Access Token"),
        ("", "the API key is empty"),
    ],
)
def test_api_key_file_contents_are_still_validated(
    tmp_path: Path, content: str, expect: str
) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text(content)
    path = write(tmp_path, f"api_key_file: {key_file}\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path), {})
    [problem] = err.value.problems
    assert problem.startswith(f"{path}:1:15: api_key_file: ") and expect in problem
    assert "abcdef123" not in problem


def test_api_key_file_that_cannot_be_read(tmp_path: Path) -> None:
    path = write(tmp_path, f"api_key_file: {tmp_path / 'missing'}\n")
    with pytest.raises(ConfigError, match=r"api_key_file: cannot read .*missing"):
        load_config(str(path), {})
    big = tmp_path / "big"
    big.write_bytes(b"x" * 70_000)
    with pytest.raises(ConfigError, match="larger than"):
        load_config(str(write(tmp_path, f"api_key_file: {big}\n")), {})


@pytest.fixture
def captured() -> Iterator[list[dict[str, Any]]]:
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_config_holding_a_key_readable_by_others_warns(
    tmp_path: Path, mode: int, captured: list[dict[str, Any]]
) -> None:
    path = write(tmp_path, doc(FILE), mode=mode)
    cfg, warnings = load_config_with_warnings(str(path), {})
    assert cfg.api_key.value == KEY
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and f"{mode:04o}" in warnings[0]
    events = [e for e in captured if e["event"] == "config.insecure_permissions"]
    assert len(events) == 1
    assert events[0]["log_level"] == "warning" and events[0]["path"] == str(path)
    assert KEY not in repr(captured) and KEY not in warnings[0]


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        (0o600, doc(FILE)),
        (0o400, doc(FILE)),
        (0o644, "api_key: ${LOGFLUX_API_KEY}\n" + FILE),  # the file holds no secret
    ],
)
def test_no_permission_warning_when_nothing_is_exposed(
    tmp_path: Path, mode: int, text: str, captured: list[dict[str, Any]]
) -> None:
    path = write(tmp_path, text, mode=mode)
    _, warnings = load_config_with_warnings(str(path), {"LOGFLUX_API_KEY": KEY})
    assert warnings == []
    assert not [e for e in captured if e["event"] == "config.insecure_permissions"]


def test_permission_warning_is_not_raised_for_api_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text(KEY + "\n")
    path = write(tmp_path, f"api_key_file: {key_file}\n", mode=0o644)
    assert load_config_with_warnings(str(path), {})[1] == []


def test_tls_verify_false_is_a_warning(tmp_path: Path) -> None:
    _, warnings = load_config_with_warnings(str(write(tmp_path, doc("tls_verify: false\n"))), {})
    assert warnings == [
        "tls_verify is false: the ingestor's TLS certificate is not checked "
        "(use ca_file for a private CA instead)"
    ]


# ---- the shipped example and the docs ------------------------------------------------------


def all_fields() -> list[tuple[str, str]]:
    classes = [
        AgentConfig,
        DiscoveryConfig,
        EncryptionConfig,
        FileInputConfig,
        JournaldInputConfig,
        StdinInputConfig,
        model.MultilineConfig,
        SenderConfig,
        QueueConfig,
        MetricsConfig,
        LoggingConfig,
    ]
    return [
        (cls.__name__, f.name)
        for cls in classes
        for f in dataclasses.fields(cls)
        if f.name != "source"
    ]


def test_example_config_validates_and_states_the_defaults() -> None:
    result = load_config_report(str(EXAMPLE), {"LOGFLUX_API_KEY": KEY})
    cfg = result.config
    assert cfg.api_key.value == KEY
    assert result.warnings == ()
    defaults = AgentConfig(api_key=cfg.api_key)
    for name in (
        "sender",
        "queue",
        "metrics",
        "logging",
        "discovery",
        "encryption",
        "labels",
        "state_dir",
        "checkpoint_interval",
        "tls_verify",
        "endpoint",
        "region",
    ):
        assert getattr(cfg, name) == getattr(defaults, name), name
    [file_input] = cfg.inputs
    assert file_input == FileInputConfig(id="app", paths=("/var/log/*.log",))


def test_example_config_mentions_every_option() -> None:
    text = EXAMPLE.read_text()
    missing = [f"{cls}.{name}" for cls, name in all_fields() if f"{name}:" not in text]
    assert not missing
    assert "api_key_file:" in text and "type: journald" in text and "type: stdin" in text


def test_example_config_needs_the_key_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="LOGFLUX_API_KEY is not set"):
        load_config(str(EXAMPLE), {})


def test_docs_describe_every_option_and_variable() -> None:
    from logflux_agent.config.env import VARIABLES

    text = DOCS.read_text()
    missing = [f"{cls}.{name}" for cls, name in all_fields() if f"`{name}`" not in text]
    assert not missing
    assert [v.name for v in VARIABLES if v.name not in text] == []


def test_packaged_docker_config_validates() -> None:
    docker = ROOT / "packaging" / "docker" / "agent.yaml"
    cfg = load_config(str(docker), {"LOGFLUX_API_KEY": KEY})
    assert cfg.inputs and cfg.metrics.listen == "0.0.0.0:9102"


def test_duplicate_ids_are_found_even_next_to_other_errors() -> None:
    problems = problems_of(
        doc(
            FILE + "    lables: {}\n  - type: file\n    id: app\n"
            "    paths: [/b]\n    start_at: middle\n"
        )
    )
    assert [p.split(": ")[1] for p in problems] == [
        "inputs[0].lables",
        "inputs[1].id",
        "inputs[1].start_at",
    ]
    assert "duplicate input id 'app' (also inputs[0])" in problems[1]


def test_an_empty_value_keeps_the_default() -> None:
    # sections whose every key is commented out, and settings left blank
    cfg = load(
        doc(
            "sender:\n  # batch_max_entries: 10\nqueue:\nlabels:\nnode:\n"
            "inputs:\n  - type: journald\n    id: j\n    start_at:\n    units:\n"
        )
    )
    defaults = AgentConfig(api_key=cfg.api_key)
    assert (cfg.sender, cfg.queue, cfg.labels, cfg.node) == (
        defaults.sender,
        defaults.queue,
        {},
        defaults.node,
    )
    assert cfg.inputs == (JournaldInputConfig(id="j"),)
