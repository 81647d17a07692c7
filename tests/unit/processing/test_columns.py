"""The column-wise fast paths give exactly what the per-row paths give: the JSON parser's and
the mapping of uniform fields to attributes (processing/columns.py)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logflux_agent.config.processors import JsonProcessor
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.columns import UniformFitter
from logflux_agent.processing.parsers import JsonParser
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Fitter, Rows
from logflux_agent.record import Record, records_for

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.sampled_from(["msg", "level", "ts", "req", "Customer", "x" * 70, "", "a.b", "stream"])
values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300)
shapes = st.lists(names, min_size=1, max_size=6, unique=True)


def both_ways(rows_of: list[dict[str, object]], base: dict[str, str]) -> tuple[list[Record], ...]:
    out = []
    for fast in (True, False):
        rows = Rows.from_records(records_for(["line"] * len(rows_of), 1.0, 7, "s", base))
        rows.fields = [dict(f) for f in rows_of]
        rows.message = [str(f.get("msg")) if "msg" in f else None for f in rows_of]
        if fast:
            UniformFitter().fit(rows)
        out.append(Fitter(lambda *_: None).to_records(rows))
    return tuple(out)


@SETTINGS
@given(
    shapes,
    st.lists(st.lists(values, min_size=6, max_size=6), min_size=1, max_size=5),
    st.sampled_from([{}, {"env": "prod"}, {"stream": "stdout", "k8s.pod": "p"}]),
)
def test_uniform_fields_fit_column_wise_exactly_as_row_by_row(
    keys: list[str], rows_values: list[list[object]], base: dict[str, str]
) -> None:
    rows_of = [dict(zip(keys, vals, strict=False)) for vals in rows_values]
    fast, slow = both_ways(rows_of, base)
    assert fast == slow
    assert [list(r.attributes) for r in fast] == [list(r.attributes) for r in slow]


def test_the_fast_path_is_taken_for_the_usual_app_lines_and_shares_the_names() -> None:
    rows_of = [{"level": "info", "req": n, "svc": "web"} for n in range(3)]
    rows = Rows.from_records(records_for(["x"] * 3, 1.0, 7, "s", {"env": "prod"}))
    rows.fields = rows_of  # type: ignore[assignment]
    assert UniformFitter().fit(rows) and rows.fields is None
    assert rows.attrs[2] == {"env": "prod", "level": "info", "req": "2", "svc": "web"}
    assert {id(next(iter(a.keys() - {"env"}))) for a in rows.attrs} == {
        id(next(iter(rows.attrs[0].keys() - {"env"})))
    }
    rows_of[1] = {"svc": "web", "level": "info", "req": 1}  # another order: the general path
    rows = Rows.from_records(records_for(["x"] * 3, 1.0, 7, "s", {}))
    rows.fields = rows_of  # type: ignore[assignment]
    assert not UniformFitter().fit(rows) and rows.fields is rows_of


json_lines = st.lists(
    st.one_of(
        st.dictionaries(st.sampled_from(["msg", "a", "b"]), values, max_size=3).map(json.dumps),
        st.dictionaries(st.just("n"), st.dictionaries(st.just("x"), values)).map(json.dumps),
        st.text(max_size=20),
        st.just("[1]"),
        st.just(' {"msg": "spaced"} '),
    ),
    min_size=1,
    max_size=6,
)


@SETTINGS
@given(json_lines)
def test_the_json_parser_column_wise_equals_its_per_line_way(lines: list[str]) -> None:
    got = []
    for fast in (True, False):
        parser = JsonParser(JsonProcessor(message_key="msg"), Reporter("j"))
        if not fast:
            parser.fast = lambda rows: False  # type: ignore[method-assign]
        rows = parser(Rows.from_records(records_for(lines, 1.0, 7, "s", {})))
        got.append((rows.fields, rows.message))
    fast_fields, fast_msgs = got[0]
    slow_fields, slow_msgs = got[1]
    assert fast_fields == slow_fields
    assert (fast_msgs or [None] * len(lines)) == (slow_msgs or [None] * len(lines))


def test_a_chain_on_uniform_json_lines_gives_the_general_paths_entries() -> None:
    lines = [json.dumps({"msg": f"m{n}", "n": n, "ok": "yes"}) for n in range(5)]
    chain = Chain("c", (JsonProcessor(message_key="msg"),))
    out = chain.process(records_for(lines, 1.0, 7, "s", {"env": "p"}), 0.0)
    assert [(r.message, r.attributes) for r in out][4] == (
        "m4",
        {"env": "p", "n": "4", "ok": "yes"},
    )
