"""inputs/socket/entry.py + mapper.py: §10 lines → records, C SDK recovery, the secret policy."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from logflux_agent.inputs.socket.entry import recover, scrub_secret
from logflux_agent.inputs.socket.mapper import FittedLabels, LineMapper, Policy
from logflux_agent.inputs.socket.rids import RecordIds
from logflux_agent.record import Record

NOW = 1_796_000_100.0
ID = "0b5c4a4e-1f43-4c3f-9f5e-000000000001"
SECRET = b"s" * 64


def c_line(message: str, *, level: int = 6, secret: str | None = None, labels: str = "") -> str:
    text = (
        f'{{"id":"{ID}","message":"{message}","source":"c-sdk","entry_type":1,'
        f'"level":{level},"timestamp":1796000000'
    )
    if labels:
        text += f',"labels":{labels}'
    if secret is not None:
        text += f',"shared_secret":"{secret}"'
    return text + "}"


def mapper(
    policy: Policy | None = None, labels: dict[str, str] | None = None, **kw: int
) -> LineMapper:
    return LineMapper(
        "socket:app", FittedLabels(labels or {}), policy or Policy(), RecordIds("app:r-0:"), **kw
    )


def one(m: LineMapper, *lines: str) -> list[Record]:
    return [*m.map_lines(list(lines), NOW), *m.flush(NOW)]


def test_a_ruby_entry_maps_level_ts_labels_id_and_source() -> None:
    line = json.dumps(
        {
            "id": ID,
            "message": "hi",
            "source": "ruby-sdk",
            "entry_type": 1,
            "level": 3,
            "timestamp": 1796000000,
            "labels": {"payload_type": "generic", "k": 1},
            "extra_key": "ignored",
        }
    )
    (rec,) = one(mapper(labels={"team": "web"}), line)
    assert (rec.message, rec.level, rec.timestamp, rec.source) == (
        "hi",
        4,
        1796000000.0,
        "ruby-sdk",
    )
    assert rec.attributes == {"team": "web", "payload_type": "generic", "k": "1"}
    assert rec.rid == ID  # the SDK's id is the record id (meta.record_id), not an attribute


def test_php_empty_and_array_labels() -> None:
    m = mapper()
    a, b = one(
        m,
        '{"id":"x","message":"a","source":"php","entry_type":1,"level":6,"timestamp":1,"labels":[]}',
        '{"message":"b","labels":["zero","one"]}',
    )
    assert a.attributes == {} and a.rid == "x"
    assert b.attributes == {"0": "zero", "1": "one"}
    assert b.rid == "app:r-0:1"  # no id: input, connection, position
    assert b.source == "socket:app" and b.level == 7 and b.timestamp == NOW


def test_levels_out_of_range_are_clamped_and_counted() -> None:
    m = mapper()
    recs = one(m, '{"message":"a","level":-3}', '{"message":"b","level":99}', '{"message":"c"}')
    assert [r.level for r in recs] == [1, 8, 7]
    assert m.counts["level_clamped"] == 2
    one(m, '{"message":"d","level":"high"}')
    assert m.counts["bad_level"] == 1


def test_other_entry_types_are_shipped_as_logs_with_their_type() -> None:
    m = mapper()
    a, b = one(m, '{"message":"m","entry_type":5}', '{"message":"n","entry_type":99}')
    assert a.attributes["entry_type"] == "audit"
    assert b.attributes["entry_type"] == "99" and m.counts["bad_entry_type"] == 1


def test_an_unescaped_quote_and_backslash_line_is_recovered_exactly() -> None:
    m = mapper()
    (rec,) = one(m, c_line('he said "no" \\ then left', level=2, labels='{"a":"b"}'))
    assert rec.message == 'he said "no" \\ then left'
    assert rec.level == 3 and rec.source == "c-sdk" and rec.timestamp == 1796000000.0
    assert rec.attributes == {"a": "b"} and rec.rid == ID
    assert m.counts["recovered"] == 1


def test_a_message_the_c_sdk_split_at_its_newline_is_joined_again() -> None:
    m = mapper()
    line = c_line("first half\nsecond half")
    head, tail = line.split("\n")
    (rec,) = one(m, head, tail)
    assert rec.message == "first half\nsecond half" and rec.rid == ID
    assert m.counts["recovered"] == 1


def test_a_line_cut_at_4095_bytes_keeps_the_message_head() -> None:
    m = mapper()
    line = c_line("x" * 5000)[:4095]
    (rec,) = one(m, line)
    assert rec.message == "x" * (4095 - len(f'{{"id":"{ID}","message":"'))
    assert rec.attributes == {"parse_error": "truncated"} and rec.rid == ID
    assert m.counts["truncated"] == 1


def test_garbage_is_shipped_raw_with_parse_error_and_counted() -> None:
    m = mapper()
    a, b, c = one(m, "not json at all", "[1,2]", '{"no_message":1}')
    assert (a.message, a.attributes["parse_error"]) == ("not json at all", "invalid_json")
    assert b.attributes["parse_error"] == "not_an_object"
    assert c.attributes["parse_error"] == "no_message"
    assert m.counts["parse_error"] == 3


def test_tcp_policy_refuses_wrong_and_missing_secrets_and_strips_the_right_one() -> None:
    m = mapper(Policy(SECRET, require=True))
    good = c_line("ok", secret=SECRET.decode())
    recs = one(m, good, c_line("bad", secret="x" * 64), c_line("none"), '{"message":"ruby"}')
    assert [r.message for r in recs] == ["ok"]
    assert "shared_secret" not in recs[0].attributes
    assert SECRET.decode() not in repr(recs)
    assert m.counts["refused_wrong_secret"] == 1 and m.counts["refused_no_secret"] == 2


def test_tcp_policy_without_require_accepts_missing_but_never_a_wrong_secret() -> None:
    m = mapper(Policy(SECRET, require=False))
    recs = one(m, '{"message":"ruby"}', c_line("bad", secret="nope"))
    assert [r.message for r in recs] == ["ruby"]
    assert m.counts["refused_wrong_secret"] == 1


def test_a_raw_line_never_carries_a_secret() -> None:
    m = mapper(Policy(SECRET, require=False))
    (rec,) = one(m, 'garbage "shared_secret":"' + SECRET.decode() + '" more')
    assert SECRET.decode() not in rec.message
    assert scrub_secret('{"a":1,"shared_secret":"zz"}') == '{"a":1}'


def test_too_many_labels_are_cut_and_counted() -> None:
    m = mapper()
    labels = {f"k{i}": "v" for i in range(30)}
    (rec,) = one(m, json.dumps({"message": "m", "labels": labels}))
    assert len(rec.attributes) == 20
    assert m.counts["attributes_dropped"] == 10


@given(st.text(max_size=200))
def test_any_line_becomes_at_most_one_record_and_never_raises(line: str) -> None:
    line = line.replace("\n", " ")
    recs = one(mapper(), line)
    assert len(recs) <= 1
    assert recover(line, NOW).message is not None


@given(
    st.fixed_dictionaries(
        {
            "message": st.text(max_size=50),
            "level": st.integers(-2, 9),
            "timestamp": st.integers(-5, 2**34),
        },
        optional={
            "id": st.text(max_size=40),
            "source": st.text(max_size=10),
            "entry_type": st.integers(0, 8),
            "labels": st.one_of(
                st.dictionaries(st.text(max_size=70), st.text(max_size=300), max_size=25),
                st.lists(st.text(max_size=5), max_size=3),
            ),
        },
    )
)
def test_the_fast_path_agrees_with_the_general_mapping(obj: dict[str, object]) -> None:
    from logflux_agent.inputs.socket.entry import map_object
    from logflux_agent.processing.attributes import fit_attributes

    m = mapper(labels={"team": "web"})
    (rec,) = one(m, json.dumps(obj))
    entry = map_object(obj, NOW)
    assert rec.message == entry.message and rec.level == entry.level
    assert rec.timestamp == entry.timestamp
    assert rec.source == (entry.source if entry.source is not None else "socket:app")
    assert rec.attributes == fit_attributes(entry.fields, {"team": "web"}).attributes
    assert rec.rid == (entry.ident or "app:r-0:0")


def test_pieces_of_a_split_long_line_are_not_joined_with_a_newline() -> None:
    m = mapper(max_line_bytes=100)
    line = c_line("y" * 150)
    pieces = [line[:100], line[100:]]
    recs = one(m, *pieces)
    assert all("\n" not in r.message for r in recs)
    assert recs[0].attributes["parse_error"] == "truncated"


_USUAL = st.fixed_dictionaries(
    {
        "message": st.text(max_size=30),
        "level": st.integers(0, 7),
        "timestamp": st.integers(0, 2**34),
    },
    optional={
        "id": st.text(min_size=1, max_size=40),
        "source": st.text(max_size=10),
        "entry_type": st.just(1),
        "labels": st.dictionaries(st.sampled_from(["a", "b", "team"]), st.text(max_size=5)),
    },
)


@given(st.lists(_USUAL, min_size=1, max_size=20))
def test_a_chunk_mapped_by_columns_equals_the_same_lines_mapped_one_by_one(
    objs: list[dict[str, object]],
) -> None:
    from logflux_agent.inputs.socket.columns import map_columns

    lines = [json.dumps(o) for o in objs]
    chunk = list(mapper(labels={"team": "web"}).map_lines(lines, NOW))
    single = mapper(labels={"team": "web"})
    each = [rec for line in lines for rec in single.map_lines([line], NOW)]
    assert chunk == each
    # When ids are mixed (some entries without one) the chunk goes line by line: same result.
    m = mapper(labels={"team": "web"})
    columns = map_columns(objs, m.labels, m.policy, m.default_source, m.rids)
    kinds = {type(o.get("id")) for o in objs}
    assert (columns is None) == (len(kinds) > 1)


def test_an_unusual_line_in_a_chunk_takes_the_line_path_and_nothing_is_lost() -> None:
    m = mapper(Policy(SECRET, require=True))
    good = json.dumps({"message": "ok", "level": 6, "timestamp": 1, "shared_secret": "s" * 64})
    bad = json.dumps({"message": "bad", "level": 6, "timestamp": 1, "shared_secret": "x"})
    recs = m.map_lines([good, good, bad, good], NOW)
    assert [r.message for r in recs] == ["ok", "ok", "ok"]
    assert [r.rid for r in recs] == ["app:r-0:0", "app:r-0:1", "app:r-0:2"]
    assert m.counts["refused_wrong_secret"] == 1
    assert m.map_lines([good, good], NOW)[-1].rid == "app:r-0:4"  # by columns, in sequence


def test_entries_with_equal_labels_share_one_attribute_dict_across_connections() -> None:
    shared = FittedLabels({"team": "web"})
    a = LineMapper("socket:app", shared, Policy(), RecordIds("app:r-0:"))
    b = LineMapper("socket:app", shared, Policy(), RecordIds("app:r-1:"))
    line = json.dumps({"message": "m", "level": 6, "timestamp": 1, "labels": {"k": "v"}})
    recs = [
        *a.map_lines([line, line], NOW),
        *b.map_lines([line], NOW),
        *b.map_lines(["{}", line], NOW),
    ]
    assert len({id(r.attributes) for r in recs}) == 2  # "{}" has no message: its own attributes
    assert recs[0].attributes == {"team": "web", "k": "v"}
    assert [r.rid for r in recs] == [
        "app:r-0:0",
        "app:r-0:1",
        "app:r-1:0",
        "app:r-1:1",
        "app:r-1:2",
    ]


def test_an_unusable_sdk_id_stays_an_attribute_and_the_record_id_is_derived() -> None:
    m = mapper()
    for ident in (123, "", "i" * 257):
        (rec,) = one(m, json.dumps({"message": "m", "id": ident}))
        assert rec.attributes["id"] == str(ident)[:256] and rec.rid is not None
        assert rec.rid.startswith("app:r-0:")
