"""inputs/socket/sdkline.py: the SDKs' line shape by one regex gives what the JSON path gives."""

from __future__ import annotations

import json
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.inputs.socket import mapper as mapper_module
from logflux_agent.inputs.socket.mapper import FittedLabels, LineMapper, Policy
from logflux_agent.inputs.socket.rids import RecordIds
from logflux_agent.inputs.socket.sdkline import map_sdk_lines
from logflux_agent.record import Record

NOW = 1_796_000_100.0
SECRET = "s" * 64


def sdk_line(
    message: str,
    *,
    ident: str = "0b5c4a4e-1f43-4c3f-9f5e-000000000001",
    level: int = 6,
    ts: int = 1_796_000_000,
    labels: object = None,
    secret: str | None = None,
    php: bool = False,
) -> str:
    """A line as the SDKs write it: fixed key order, no spaces; ``php``: ``\\/`` and \\uXXXX."""
    obj: dict[str, object] = {
        "id": ident,
        "message": message,
        "source": "php-sdk" if php else "ruby-sdk",
        "entry_type": 1,
        "level": level,
        "timestamp": ts,
    }
    if labels is not None:
        obj["labels"] = labels
    if secret is not None:
        obj["shared_secret"] = secret
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=php)
    return text.replace("/", "\\/") if php else text


def new_mapper(policy: Policy | None = None) -> LineMapper:
    return LineMapper(
        "socket:app", FittedLabels({"team": "web"}), policy or Policy(), RecordIds("app:r-0:")
    )


def json_path(lines: list[str], policy: Policy | None = None) -> tuple[list[Record], object]:
    """The same lines mapped with the regex path turned off: the reference."""
    m = new_mapper(policy)
    with mock.patch.object(mapper_module, "map_sdk_text", return_value=None):
        records = [*m.map_lines(lines, NOW), *m.flush(NOW)]
    return records, dict(m.counts)


def both(lines: list[str], policy: Policy | None = None) -> list[Record]:
    m = new_mapper(policy)
    records = [*m.map_lines(lines, NOW), *m.flush(NOW)]
    assert (records, dict(m.counts)) == json_path(lines, policy)
    return records


def test_ruby_php_and_c_lines_are_taken_by_the_regex_path() -> None:
    lines = [
        sdk_line("GET /a 200", labels={"payload_type": "application", "k": "v"}),
        sdk_line("GET /b 200", labels=[], php=True),  # PHP's empty map
        sdk_line("GET /c 200", labels=["zero", "one"], php=True),  # PHP's keys "0", "1"
        sdk_line("no labels, C style"),
        sdk_line("héllo wörld", level=0, ts=0),
    ]
    m = new_mapper()
    records = map_sdk_lines(lines, m.labels, m.policy, m.rids)
    assert records is not None
    assert list(records) == json_path(lines)[0]
    assert [r.level for r in records] == [7, 7, 7, 7, 1]
    assert records[0].attributes == {"team": "web", "payload_type": "application", "k": "v"}
    assert records[1].attributes == {"team": "web"}
    assert records[2].attributes == {"team": "web", "0": "zero", "1": "one"}
    assert records[4].message == "héllo wörld" and records[4].timestamp == 0.0
    assert records[0].attributes is m.map_lines(lines[:1], NOW)[0].attributes  # shared dict
    assert m.rids.next == 6


def test_secrets_follow_the_listener_policy_on_the_regex_path() -> None:
    policy = Policy(SECRET.encode(), require=True)
    good = sdk_line("ok", labels={"a": "b"}, secret=SECRET)
    m = new_mapper(policy)
    records = map_sdk_lines([good, sdk_line("ok", secret=SECRET)], m.labels, policy, m.rids)
    assert records is not None and all("shared_secret" not in r.attributes for r in records)
    for other in (sdk_line("wrong", secret="x" * 64), sdk_line("none"), sdk_line("e", secret="")):
        assert map_sdk_lines([good, other], m.labels, policy, m.rids) is None
        assert [r.message for r in both([good, other], policy)] == ["ok"]
    lenient = Policy(SECRET.encode(), require=False)
    assert map_sdk_lines([good, sdk_line("none")], m.labels, lenient, m.rids) is not None
    assert map_sdk_lines([sdk_line("x", secret=SECRET)], m.labels, Policy(), m.rids) is not None


def test_lines_the_regex_cannot_take_exactly_go_the_json_path() -> None:
    unusual = [
        sdk_line('a "quoted" word'),  # an escape
        sdk_line("tab\there"),
        sdk_line("x", level=9),
        sdk_line("x", ts=10**12),
        sdk_line("x", ident=""),
        sdk_line("x", labels={"nested": {"a": 1}}),
        sdk_line("x", labels={f"k{i}": "v" for i in range(40)}),  # over the attribute limit
        sdk_line("x").replace(',"entry_type":1', ',"entry_type":2'),
        '{"id":"i","message":"unescaped "quote"","source":"c-sdk","entry_type":1,'
        '"level":6,"timestamp":1}',
        sdk_line("x") + " ",
        "",
    ]
    m = new_mapper()
    for line in unusual:
        assert map_sdk_lines([sdk_line("ok"), line], m.labels, m.policy, m.rids) is None, line
        both([sdk_line("ok"), line])


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from('"\\/\t{}[],:'), max_size=25
)
_LABELS = st.none() | st.dictionaries(st.sampled_from(["a", "b", "payload_type"]), _TEXT)
_LABELS |= st.lists(_TEXT, max_size=3) | st.dictionaries(st.just("n"), st.integers())


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            _TEXT, st.integers(-1, 8), st.integers(0, 2**37), _LABELS, st.booleans(), st.booleans()
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_chunk_maps_as_the_json_path_maps_it(
    entries: list[tuple[str, int, int, object, bool, bool]],
) -> None:
    policies = [Policy(), Policy(SECRET.encode(), require=False)]
    lines = [
        sdk_line(msg, level=level, ts=ts, labels=labels, php=php, secret=SECRET if sec else None)
        for msg, level, ts, labels, php, sec in entries
    ]
    for policy in policies:
        both(lines, policy)


def test_php_label_arrays_are_mapped_column_wise_when_the_regex_cannot_take_the_chunk() -> None:
    from logflux_agent.inputs.socket.columns import map_columns
    from logflux_agent.inputs.socket.entry import decode_lines

    lines = [sdk_line("é /x", labels=[], php=True), sdk_line("ü", labels=["a", "b"], php=True)]
    m = new_mapper()
    assert map_sdk_lines(lines, m.labels, m.policy, m.rids) is None  # \u00e9: an escape
    records = map_columns(decode_lines(lines), m.labels, m.policy, "socket:app", m.rids)
    assert records is not None and list(records) == json_path(lines)[0]
    assert [r.attributes for r in records] == [{"team": "web"}, {"team": "web", "0": "a", "1": "b"}]


def test_after_a_chunk_the_regex_missed_the_next_16_chunks_skip_it_with_the_same_records() -> None:
    from logflux_agent.inputs.socket.mapper import SDK_RETRY_CHUNKS
    from logflux_agent.inputs.socket.sdkline import map_sdk_text

    m = new_mapper()
    good = [sdk_line("ok", labels={"a": "b"})]
    chunks = [[sdk_line("x", level=9)], *([good] * (SDK_RETRY_CHUNKS + 1))]
    with mock.patch.object(mapper_module, "map_sdk_text", wraps=map_sdk_text) as spy:
        got = [list(m.map_lines(chunk, NOW)) for chunk in chunks]
    assert spy.call_count == 2  # the miss, then the first chunk after the window
    reference = new_mapper()
    with mock.patch.object(mapper_module, "map_sdk_text", return_value=None):
        assert got == [list(reference.map_lines(chunk, NOW)) for chunk in chunks]
