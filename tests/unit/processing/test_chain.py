"""The processor chain on record lists: each parser and enricher, and the mapping to the entry."""

from __future__ import annotations

from typing import Any

import pytest

from logflux_agent.config.load import load_config_text
from logflux_agent.config.model import FileInputConfig
from logflux_agent.observe import metrics
from logflux_agent.processing.chain import Chain, build_chain
from logflux_agent.processing.kubernetes import metadata
from logflux_agent.record import AckToken, Record, records_for

KEY = "eu-lf_0123456789abcdef0123456789abcdef"
READ_TIME = 1_796_104_800.0  # 2026-12-01T06:00:00Z
POD_LOG = "/var/log/pods/shop_web-7d9f_0f1e2d3c-aaaa/app/2.log"


class Stream:
    key = "s"

    def __init__(self) -> None:
        self.commits: list[int | str] = []

    def commit(self, position: int | str) -> None:
        self.commits.append(position)


def chain_for(processors: str, labels: dict[str, str] | None = None) -> Chain:
    doc = f"""
api_key: {KEY}
inputs:
  - type: file
    id: app
    paths: [/tmp/x.log]
    processors:
{processors}
"""
    cfg = load_config_text(doc, "t.yaml", {})
    [inp] = cfg.inputs
    assert isinstance(inp, FileInputConfig)
    chain = build_chain(inp.id, inp.processors, labels)
    assert chain is not None
    return chain


def run(chain: Chain, lines: list[str], source: str = "/tmp/x.log", **kw: Any) -> list[Record]:
    records = records_for(lines, READ_TIME, 7, source, kw.get("attrs", {}))
    return chain.process(records, 0.0)


def parse_errors(processor: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "logflux_agent_parse_errors_total",
        {"input": "app", "processor": processor, "reason": reason},
    )
    return value or 0.0


def test_no_processors_builds_no_chain() -> None:
    assert build_chain("app", ()) is None


def test_json_object_lines_become_fields_and_message_key_the_message() -> None:
    chain = chain_for("      - json: {message_key: msg}")
    [entry] = run(chain, ['{"msg":"payment failed","order_id":"A-1","http":{"status":502}}'])
    assert entry.message == "payment failed"
    assert entry.attributes == {"order_id": "A-1", "http.status": "502"}


def test_json_without_message_key_keeps_the_line_as_message() -> None:
    chain = chain_for("      - json")
    line = '{"a":true,"b":null,"c":[1,2]}'
    [entry] = run(chain, [line])
    assert entry.message == line
    assert entry.attributes == {"a": "true", "b": "", "c": "[1,2]"}


def test_json_leaves_invalid_and_non_object_lines_untouched_and_counts_them() -> None:
    chain = chain_for("      - json")
    before = parse_errors("json", "invalid_json"), parse_errors("json", "not_object")
    entries = run(chain, ["GET /health 200", "[1, 2]", '{"ok":1}', '{"cut'])
    assert [e.message for e in entries] == ["GET /health 200", "[1, 2]", '{"ok":1}', '{"cut']
    assert [e.attributes for e in entries] == [{}, {}, {"ok": "1"}, {}]
    assert parse_errors("json", "invalid_json") == before[0] + 2
    assert parse_errors("json", "not_object") == before[1] + 1


def test_logfmt_pairs_with_quotes_become_fields() -> None:
    chain = chain_for("      - logfmt: {message_key: msg}")
    [entry, plain] = run(chain, ['ts=1 level=warn msg="disk \\"sda\\" full" empty=', "no pairs"])
    assert entry.message == 'disk "sda" full'
    assert entry.attributes == {"ts": "1", "level": "warn", "empty": ""}
    assert plain.message == "no pairs" and plain.attributes == {}


def test_regex_named_groups_become_fields() -> None:
    pattern = r"'^(?P<ip>\S+) (?P<method>[A-Z]+) (?P<path>\S+)'"
    chain = chain_for(f"      - regex: {{pattern: {pattern}}}")
    [hit, miss] = run(chain, ["10.0.0.1 GET /index.html 200", "-"])
    assert hit.attributes == {"ip": "10.0.0.1", "method": "GET", "path": "/index.html"}
    assert hit.message == "10.0.0.1 GET /index.html 200"
    assert miss.attributes == {}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            POD_LOG,
            {
                "namespace": "shop",
                "pod": "web-7d9f",
                "pod_uid": "0f1e2d3c-aaaa",
                "container": "app",
                "restart_count": "2",
            },
        ),
        (
            "/var/log/pods/kube-system_coredns-5d78_11-22/coredns/0.log.20261201-060000",
            {
                "namespace": "kube-system",
                "pod": "coredns-5d78",
                "pod_uid": "11-22",
                "container": "coredns",
                "restart_count": "0",
            },
        ),
        (
            "/var/log/containers/web-7d9f_shop_app-" + "ab" * 32 + ".log",
            {"pod": "web-7d9f", "namespace": "shop", "container": "app", "container_id": "ab" * 32},
        ),
        ("/var/log/syslog", None),
    ],
)
def test_kubernetes_metadata_comes_from_either_path_layout(
    path: str, expected: dict[str, str] | None
) -> None:
    assert metadata(path) == expected


def test_kubernetes_adds_shared_attributes_once_per_file() -> None:
    chain = chain_for("      - kubernetes")
    entries = run(chain, ["a", "b"], source=POD_LOG, attrs={"team": "web"})
    assert entries[0].attributes is entries[1].attributes  # shared, not one dict per line
    assert entries[0].attributes["k8s.pod"] == "web-7d9f"
    assert entries[0].attributes["team"] == "web"


def test_timestamp_and_level_fields_become_ts_and_level_and_leave_the_attributes() -> None:
    chain = chain_for(
        "      - json\n      - timestamp: {field: t, formats: [rfc3339, unix_ms]}\n"
        "      - level: {field: lvl}"
    )
    entries = run(
        chain,
        [
            '{"t":"2026-12-01T05:00:00.250+01:00","lvl":"ERROR"}',
            '{"t":1796104700123,"lvl":40}',
            '{"t":"yesterday","lvl":"loud"}',
        ],
    )
    assert entries[0].timestamp == pytest.approx(READ_TIME - 7200 + 0.25)
    assert entries[0].level == 4 and entries[0].attributes == {}
    assert entries[1].timestamp == pytest.approx(1796104700.123)
    assert entries[1].level == 5  # pino 40 = warn
    assert entries[2].timestamp == READ_TIME and entries[2].level == 7
    assert entries[2].attributes == {"t": "yesterday", "lvl": "loud"}


def test_timestamp_out_of_the_ingestors_window_keeps_the_read_time() -> None:
    chain = chain_for("      - json\n      - timestamp: {field: t}")
    before = parse_errors("timestamp", "timestamp_out_of_range")
    [old, ahead] = run(chain, ['{"t":"2024-01-01T00:00:00Z"}', '{"t":"2026-12-01T07:00:00Z"}'])
    assert old.timestamp == READ_TIME and ahead.timestamp == READ_TIME
    assert parse_errors("timestamp", "timestamp_out_of_range") == before + 2


def test_level_map_and_number_scales() -> None:
    chain = chain_for(
        "      - json\n      - level: {field: l, numbers: syslog, map: {boom: 2, '99': error}}"
    )
    entries = run(chain, ['{"l":"boom"}', '{"l":"99"}', '{"l":3}', '{"l":40}', '{"l":"Warning"}'])
    assert [e.level for e in entries] == [2, 4, 4, 7, 5]


def test_set_rename_and_drop_fields_act_on_fields_and_shared_attributes() -> None:
    chain = chain_for(
        "      - kubernetes\n      - json\n      - set: {env: prod}\n"
        "      - rename: {k8s.pod: pod, user: customer}\n"
        "      - drop_fields: [password, k8s.pod_uid]"
    )
    [entry] = run(chain, ['{"user":"u1","password":"hunter2","x":1}'], source=POD_LOG)
    attrs = entry.attributes
    assert attrs["env"] == "prod" and attrs["pod"] == "web-7d9f" and "k8s.pod" not in attrs
    assert "password" not in attrs and "k8s.pod_uid" not in attrs
    # "customer" is reserved by the ingestor: the field travels under field.customer.
    assert attrs["field.customer"] == "u1" and attrs["x"] == "1"


def test_fields_that_do_not_fit_keep_the_whole_line_as_message_and_are_counted() -> None:
    chain = chain_for("      - json: {message_key: msg}")
    fields = ",".join(f'"f{i}":{i}' for i in range(30))
    line = '{"msg":"short",' + fields + ',"big":"' + "x" * 1_000_000 + '"}'

    def cut(reason: str) -> float:
        value = metrics.REGISTRY.get_sample_value(
            "logflux_agent_attributes_truncated_total", {"input": "app", "reason": reason}
        )
        return value or 0.0

    before = cut("dropped")
    [entry] = run(chain, [line])
    assert entry.message == line  # nothing extracted is lost
    assert len(entry.attributes) == 20
    assert cut("dropped") == before + 11  # 30 f-fields + big = 31, 20 fit


def test_top_level_labels_count_against_the_attribute_limit() -> None:
    chain = chain_for("      - json", labels={f"g{i}": "v" for i in range(15)})
    fields = ",".join(f'"f{i}":{i}' for i in range(10))
    [entry] = run(chain, ["{" + fields + "}"])
    assert len(entry.attributes) == 20
    assert all(f"g{i}" in entry.attributes for i in range(15))


def test_the_last_records_ack_token_survives_stateless_processing() -> None:
    chain = chain_for("      - json")
    stream = Stream()
    records = records_for(['{"a":1}', "b"], READ_TIME, 7, "/tmp/x.log", {})
    records[-1] = records[-1].with_ack(AckToken(stream, 42))
    out = chain.process(records, 0.0)
    assert [r.ack for r in out] == [None, AckToken(stream, 42)]
