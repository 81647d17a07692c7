"""Every parser, on any input: it never raises, and it round-trips what it claims to parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logflux_agent.config.processors import (
    CriProcessor,
    JsonProcessor,
    KubernetesProcessor,
    LevelProcessor,
    LogfmtProcessor,
    RegexProcessor,
    TimestampProcessor,
)
from logflux_agent.processing.attributes import as_text, attribute_name, fit_attributes
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.container import parse_cri, parse_docker
from logflux_agent.processing.kubernetes import metadata
from logflux_agent.processing.parsers import flatten, format_logfmt, parse_logfmt
from logflux_agent.processing.timefmt import parse_rfc3339, parse_time
from logflux_agent.record import records_for

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
READ_TIME = 1_796_104_800.0

ALL = (
    CriProcessor(max_bytes=1024),
    KubernetesProcessor(),
    JsonProcessor(message_key="msg"),
    LogfmtProcessor(),
    RegexProcessor(pattern=r"(?P<word>\w+)"),
    TimestampProcessor(field="ts", formats=("rfc3339", "unix_ms", "%d/%b/%Y:%H:%M:%S %z")),
    LevelProcessor(field="level"),
)
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=10,
)


@SETTINGS
@given(st.lists(st.text(max_size=200), max_size=20), st.text(max_size=80))
def test_the_whole_chain_never_raises_and_keeps_one_entry_per_complete_line(
    lines: list[str], source: str
) -> None:
    chain = Chain("h", ALL)
    out = chain.process(records_for(lines, READ_TIME, 7, source, {}), 0.0)
    out += chain.flush(0.0, force=True)
    for entry in out:
        assert isinstance(entry.message, str) and 1 <= entry.level <= 8
        assert len(entry.attributes) <= 20
        assert all(1 <= len(k) <= 64 and len(v) <= 256 for k, v in entry.attributes.items())


@SETTINGS
@given(st.dictionaries(names, json_values, max_size=8))
def test_json_round_trips_flattened_objects(obj: dict[str, object]) -> None:
    chain = Chain("h", (JsonProcessor(),))
    line = json.dumps(obj)
    [entry] = chain.process(records_for([line], READ_TIME, 7, "s", {}), 0.0)
    flat = flatten(obj)
    fitted = fit_attributes(flat)
    if not fitted.lossy:
        assert entry.message == line
        for key, value in flat.items():
            assert entry.attributes[attribute_name(key) or ""] == as_text(value)
    else:  # what did not fit is still in the message
        assert entry.message == line


key_text = st.text(
    st.characters(blacklist_characters=' ="\\', blacklist_categories=("Cs", "Zs", "Cc")),
    min_size=1,
    max_size=10,
)


@SETTINGS
@given(st.dictionaries(key_text, st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)))
def test_logfmt_round_trips(fields: dict[str, str]) -> None:
    assert parse_logfmt(format_logfmt(fields)) == fields


@SETTINGS
@given(st.text(max_size=300))
def test_logfmt_never_raises(line: str) -> None:
    assert isinstance(parse_logfmt(line), dict)


timestamps = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@SETTINGS
@given(
    timestamps,
    st.sampled_from(["stdout", "stderr"]),
    st.sampled_from("PF"),
    st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=50),
)
def test_cri_round_trips(when: datetime, stream: str, flag: str, text: str) -> None:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    parsed = parse_cri(f"{stamp} {stream} {flag} {text}")
    assert parsed == (text, parse_rfc3339(stamp), stream, flag == "P")
    assert abs(parse_rfc3339(stamp) - when.timestamp()) < 1e-5  # type: ignore[operator]


@SETTINGS
@given(st.text(max_size=200))
def test_cri_and_docker_never_raise(line: str) -> None:
    assert parse_cri(line) is not None and parse_docker(line) is not None


@SETTINGS
@given(timestamps, st.text(st.characters(blacklist_characters="\r\n"), max_size=40), st.booleans())
def test_docker_round_trips(when: datetime, text: str, complete: bool) -> None:
    stamp = when.isoformat().replace("+00:00", "Z")
    log = text + ("\n" if complete else "")
    parsed = parse_docker(json.dumps({"log": log, "stream": "stderr", "time": stamp}))
    assert parsed == (text, parse_rfc3339(stamp), "stderr", not complete)


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none(), st.booleans()))
def test_time_and_level_parsing_never_raise(value: object) -> None:
    formats = ("rfc3339", "unix", "unix_ms", "unix_ns", "%Y-%m-%d")
    result = parse_time(value, formats)
    assert result is None or isinstance(result, float)
    from logflux_agent.processing.fields import LevelStep
    from logflux_agent.processing.report import Reporter

    level = LevelStep(LevelProcessor(), Reporter("h")).level_of(value)
    assert level is None or 1 <= level <= 8


@SETTINGS
@given(timestamps, st.integers(-23, 23), st.sampled_from([0, 30]))
def test_rfc3339_with_offsets_round_trips(when: datetime, hours: int, minutes: int) -> None:
    sign = "+" if hours >= 0 else "-"
    text = when.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(hours):02d}:{minutes:02d}"
    offset = (abs(hours) * 3600 + minutes * 60) * (1 if hours >= 0 else -1)
    assert parse_rfc3339(text) == when.replace(microsecond=0).timestamp() - offset


dns = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@SETTINGS
@given(dns, dns, st.uuids(), dns, st.integers(0, 99))
def test_kubernetes_paths_round_trip(
    ns: str, pod: str, uid: object, container: str, n: int
) -> None:
    path = f"/var/log/pods/{ns}_{pod}_{uid}/{container}/{n}.log"
    assert metadata(path) == {
        "namespace": ns,
        "pod": pod,
        "pod_uid": str(uid),
        "container": container,
        "restart_count": str(n),
    }


@SETTINGS
@given(st.text(max_size=200))
def test_kubernetes_never_raises(path: str) -> None:
    assert metadata(path) is None or isinstance(metadata(path), dict)


@SETTINGS
@given(st.lists(st.text(st.characters(blacklist_characters="\n"), max_size=30), max_size=12))
def test_cri_partials_rejoin_to_the_original_text(pieces: list[str]) -> None:
    chain = Chain("h", (CriProcessor(),))
    stamp = "2026-12-01T06:00:00Z"
    lines = [f"{stamp} stdout P {p}" for p in pieces] + [f"{stamp} stdout F end"]
    [entry] = chain.process(records_for(lines, READ_TIME, 7, "s", {}), 0.0)
    assert entry.message == "".join(pieces) + "end"


stamp_like = st.one_of(
    timestamps.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"),
    st.text(st.sampled_from("0123456789-T:.Z+ ٣"), min_size=18, max_size=32),
    # A valid second, then a fraction that may hold another dot, a non-ASCII digit, an "e".
    st.tuples(timestamps, st.text(st.sampled_from("0123456789.٣²_e"), min_size=1, max_size=12)).map(
        lambda p: p[0].strftime("%Y-%m-%dT%H:%M:%S.") + p[1] + "Z"
    ),
)


@SETTINGS
@given(st.lists(stamp_like, min_size=1, max_size=10))
def test_the_column_time_parser_agrees_with_the_per_item_one(stamps: list[str]) -> None:
    from logflux_agent.processing.timefmt import parse_rfc3339_column

    column = parse_rfc3339_column(stamps)
    if column is not None:
        assert column == [parse_rfc3339(s) for s in stamps]


@SETTINGS
@given(
    st.one_of(st.text(max_size=60), json_values.map(json.dumps)), st.sampled_from(["", " ", "\n "])
)
def test_json_parses_exactly_what_json_loads_parses_as_an_object(text: str, pad: str) -> None:
    line = pad + text + pad
    try:
        expected = json.loads(line)
    except ValueError:
        expected = None
    chain = Chain("h", (JsonProcessor(),))
    rows_fields: list[object] = []

    def capture(rows: object) -> object:
        rows_fields.extend(rows.fields or [None])  # type: ignore[attr-defined]
        return rows

    chain.steps.append(capture)  # type: ignore[arg-type]
    chain.process(records_for([line], READ_TIME, 7, "s", {}), 0.0)
    if isinstance(expected, dict):
        assert rows_fields == [flatten(expected) if expected else None] or rows_fields == [expected]
    else:
        assert rows_fields == [None]


@SETTINGS
@given(
    st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    st.integers(0, 10**9),
    st.text(max_size=30),
)
def test_regex_round_trips_its_named_groups(word: str, number: int, noise: str) -> None:
    chain = Chain("h", (RegexProcessor(pattern=r"(?P<word>[a-z]+)=(?P<number>\d+)$"),))
    line = f"{noise}\n{word}={number}"
    fields: list[object] = []
    chain.steps.append(lambda rows: fields.extend(rows.fields or [None]) or rows)
    [entry] = chain.process(records_for([line], READ_TIME, 7, "s", {}), 0.0)
    [found] = fields
    assert isinstance(found, dict) and found["number"] == str(number)
    assert found["word"].endswith(word) and entry.message == line
