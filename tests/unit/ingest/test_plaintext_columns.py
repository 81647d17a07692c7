"""Attributes written column-wise (ingest/attribute_columns.py) are byte-identical to the
per-dict path: ``json.dumps`` of the labels merged under each dict (plaintext.merge_labels),
for any keys and values — quotes, backslashes, control characters, non-ASCII, lone
surrogates, non-``str`` values — with and without labels (fitting, overlapping, too many)
and record ids, through ``column_texts`` and the whole ``plaintexts``."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.ingest.attribute_columns import MIN_GROUP, column_texts
from logflux_agent.ingest.limits import MAX_LABELS
from logflux_agent.ingest.plaintext import (
    EntryTuple,
    PayloadStatics,
    format_timestamp,
    merge_labels,
    plaintexts,
    stamps_of,
)
from logflux_agent.record import TOKENS_KEY, SearchTokens

TEXT = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
    st.text(st.one_of(st.sampled_from('"\\\n\r\t\x00\x1f\x7f é€😀'), st.characters()), max_size=8),
)
# Values as inputs hand them (str), and what a caller could slip in: numbers, None, bools.
VALUE = st.one_of(TEXT, TEXT, TEXT, st.integers(), st.floats(), st.none(), st.booleans())
KEYS = st.lists(TEXT, max_size=MAX_LABELS, unique=True)
LABELS = st.one_of(
    st.just({}),
    st.just({"team": "pay"}),
    st.dictionaries(st.sampled_from(["team", "env", "stream", "a\\b", 'q"']), TEXT, max_size=4),
    st.just({f"l{i}": str(i) for i in range(MAX_LABELS)}),  # too many: the merge drops some
)
ENDS = [',"meta":{"node":"n"}}\n', ',"meta":{"node":"n","record_id":']


@st.composite
def attribute_dicts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Dicts of one to three shapes (key tuples), each shape often past MIN_GROUP."""
    shapes = draw(st.lists(KEYS, min_size=1, max_size=3))
    count = draw(st.integers(0, 3 * MIN_GROUP))
    picks = draw(st.lists(st.integers(0, len(shapes) - 1), min_size=count, max_size=count))
    strs = draw(st.booleans())  # mostly str values: the column path itself
    value = TEXT if strs else VALUE
    return [{k: draw(value) for k in shapes[p]} for p in picks]


def _per_dict(attrs: dict[str, Any], labels: dict[str, str], lead: str, end: str) -> str:
    merged, _ = merge_labels(labels, attrs)
    if not merged:
        return lead + end
    obj = {str(k): str(v) for k, v in merged.items()}
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return lead + ',"attributes":' + text + end


@settings(max_examples=400, deadline=None)
@given(attribute_dicts(), LABELS, st.sampled_from(["", '"']), st.integers(1, 2))
def test_column_texts_equal_the_per_dict_json(
    dicts: list[dict[str, Any]], labels: dict[str, str], lead: str, ends: int
) -> None:
    groups, rest = column_texts(dicts, labels, lead, ENDS[:ends])
    seen = [id(d) for members, _ in groups for d in members] + list(map(id, rest))
    assert sorted(seen) == sorted(map(id, dicts))  # every dict once, by one path or the other
    for members, texts in groups:
        assert len(members) >= MIN_GROUP
        for end, column in zip(ENDS[:ends], texts, strict=True):
            assert column == [_per_dict(d, labels, lead, end) for d in members]


def test_a_batch_of_one_shape_is_written_column_wise() -> None:
    dicts = [{"stream": "stdout", "req": str(i), "msg": 'a"\\é\x01'} for i in range(MIN_GROUP)]
    groups, rest = column_texts(dicts, {"team": "pay", "stream": "x"}, "", ENDS[:1])
    assert rest == [] and len(groups) == 1
    assert groups[0][1][0][3] == (
        ',"attributes":{"team":"pay","stream":"stdout","req":"3","msg":"a\\"\\\\é\\u0001"}'
        + ENDS[0]
    )


def test_what_the_columns_do_not_take_goes_to_the_per_dict_path() -> None:
    tokens = [{"a": "1", TOKENS_KEY: SearchTokens("x")} for _ in range(MIN_GROUP)]
    numbers: list[dict[str, Any]] = [{"a": 1} for _ in range(MIN_GROUP)]
    few = [{"b": "1"} for _ in range(MIN_GROUP - 1)]
    many = [{f"k{i}": "v" for i in range(MAX_LABELS)} for _ in range(MIN_GROUP)]
    for dicts, labels in ((tokens, {}), (numbers, {}), (few, {}), (many, {"team": "pay"})):
        groups, rest = column_texts(dicts, labels, "", ENDS[:1])
        assert groups == [] and rest == dicts


STATICS_CASES = [
    PayloadStatics.build(node="n", environment=None, agent="a/1"),
    PayloadStatics.build(node="n", environment="prod", agent="a/1", labels={"team": "pay"}),
    PayloadStatics.build(
        node="n", environment=None, agent="a/1", labels={f"l{i}": "v" for i in range(MAX_LABELS)}
    ),
]


def _expected(entry: EntryTuple, statics: PayloadStatics, rid: str | None) -> bytes:
    message, ts, level, source, attrs = entry
    obj: dict[str, Any] = {"v": "2.0", "type": "log", "source": source}
    if 1 <= level <= 8:
        obj["level"] = level
    obj["ts"] = format_timestamp(ts)
    obj["message"] = message
    merged, _ = merge_labels(statics.labels, attrs)
    if merged:
        obj["attributes"] = {str(k): str(v) for k, v in merged.items()}
    obj["meta"] = json.loads(statics.meta_fragment[len(',"meta":') :])
    if rid is not None:
        obj["meta"]["record_id"] = rid
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")


@settings(max_examples=200, deadline=None)
@given(
    attribute_dicts(),
    st.sampled_from(range(len(STATICS_CASES))),
    st.sampled_from(["none", "plain", "quoted", "mixed"]),
    st.booleans(),
)
def test_plaintexts_of_entries_with_own_attributes_equal_json_dumps(
    dicts: list[dict[str, Any]], case: int, ids: str, plain: bool
) -> None:
    # Each entry its own dict and timestamp, as a processor chain hands them over.
    statics = STATICS_CASES[case]
    messages = ["GET /a b" if plain else 'é "\\\n' for _ in dicts]
    entries: list[EntryTuple] = [
        (m, 1_795_000_000.0 + i / 1000, 7, "/var/log/pods/x/0.log", d)
        for i, (m, d) in enumerate(zip(messages, dicts, strict=True))
    ]
    rids: list[str | None] | None = {
        "none": None,
        "plain": [f"f:{i}" for i in range(len(entries))],
        "quoted": [f'f:"{i}"\\' for i in range(len(entries))],
        "mixed": [f"f:{i}" if i % 2 else None for i in range(len(entries))],
    }[ids]
    got = plaintexts(entries, statics, stamps_of(entries), rids=rids)
    want = [_expected(e, statics, None if rids is None else rids[i]) for i, e in enumerate(entries)]
    assert got == want
