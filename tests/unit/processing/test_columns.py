"""The column-wise fast paths give exactly what the per-row paths give: the JSON parser's and
the mapping of uniform fields to attributes (processing/columns.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logflux_agent.config.processors import CriProcessor, JsonProcessor, KubernetesProcessor
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.columns import UniformFitter
from logflux_agent.processing.parsers import JsonParser
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import SLICE, Fitter, Rows
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
    rows_of[1] = {"svc": "web", "level": "info", "req": 1}  # another order: a group too small
    rows = Rows.from_records(records_for(["x"] * 3, 1.0, 7, "s", {}))
    rows.fields = rows_of  # type: ignore[assignment]
    assert not UniformFitter().fit(rows) and rows.fields is rows_of


@SETTINGS
@given(
    st.lists(st.tuples(st.sampled_from([0, 1, 2, 3]), st.integers(0, 99)), max_size=80),
    st.sampled_from([{}, {"env": "prod"}, {"stream": "stdout", "k8s.pod": "p"}]),
)
def test_rows_of_several_shapes_fit_group_by_group_exactly_as_row_by_row(
    picks: list[tuple[int, int]], base: dict[str, str]
) -> None:
    # Shapes: the usual line, the same names in another order, a line with one more field
    # (sometimes one value too long), and a line that had no fields (not JSON).
    def row(shape: int, n: int) -> dict[str, object] | None:
        if shape == 0:
            return {"msg": f"m{n}", "level": "info", "req": n}
        if shape == 1:
            return {"req": n, "level": "warn", "msg": f"m{n}"}
        if shape == 2:
            return {"msg": "e", "level": "error", "err": "x" * (300 if n == 7 else n)}
        return None

    rows_of = [row(shape, n) for shape, n in picks]
    out = []
    for fast in (True, False):
        rows = Rows.from_records(records_for(["line"] * len(rows_of), 1.0, 7, "s", base))
        rows.fields = [None if f is None else dict(f) for f in rows_of]
        rows.message = [None if f is None else str(f["msg"]) for f in rows_of]
        for f in rows.fields:
            if f is not None:
                del f["msg"]
        if fast:
            UniformFitter().fit(rows)
        out.append(Fitter(lambda *_: None).to_records(rows))
    assert out[0] == out[1]
    assert [list(r.attributes) for r in out[0]] == [list(r.attributes) for r in out[1]]


def test_a_list_of_two_shapes_and_unparsed_lines_is_done_column_wise() -> None:
    usual = [{"level": "info", "req": n} for n in range(20)]
    other = [{"level": "error", "err": f"e{n}"} for n in range(20)]
    rows_of: list[dict[str, object] | None] = [*usual, None, *other, None]
    rows = Rows.from_records(records_for(["x"] * len(rows_of), 1.0, 7, "s", {"env": "p"}))
    rows.fields = rows_of  # type: ignore[assignment]
    assert UniformFitter().fit(rows) and rows.fields is None
    assert rows.attrs[20] == {"env": "p"} and rows.attrs[19] == {
        "env": "p",
        "level": "info",
        "req": "19",
    }
    assert rows.attrs[21] == {"env": "p", "level": "error", "err": "e0"}


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
            parser.fast = lambda rows: None  # type: ignore[method-assign]
        rows = parser(Rows.from_records(records_for(lines, 1.0, 7, "s", {})))
        got.append((rows.fields, rows.message))
    fast_fields, fast_msgs = got[0]
    slow_fields, slow_msgs = got[1]
    assert fast_fields == slow_fields
    assert (fast_msgs or [None] * len(lines)) == (slow_msgs or [None] * len(lines))


# Lines that are not one JSON value alone but can be parts of one with their neighbours when
# lines are parsed together (each group is consecutive lines): an object left open and its
# closing half (also inside an array), a line that closes its value and opens a key of the
# enclosing object, a string cut in two; and lines that are values, bad ones and blank ones.
line_groups = st.sampled_from(
    [
        ['{"a":{"b":1', '{"c":2}}'],
        ['{"a":[{"b":1', "2}]}"],
        ['{"d":1},"zz":{"e":2}'],
        ['{"d":1},"zz":{"e":2', '"k":1}'],
        ['{"a":"x', 'y"}'],
        ["1,2"],
        [""],
        [" "],
        ["{}"],
        ['{"a":1}'],
        ['{"msg":"m","n":2}'],
        [' {"s":"x"}\t'],
        ['{"n":{"x":1}}'],
        ["[1]"],
        ["null"],
        ['{"a":1} {"b":2}'],
    ]
)


def parsed_both_ways(lines: list[str]) -> list[tuple[object, object, object]]:
    got = []
    for fast in (True, False):
        reporter = Reporter("j")
        parser = JsonParser(JsonProcessor(message_key="msg"), reporter)
        if not fast:
            parser.fast = lambda rows: None  # type: ignore[method-assign]
        rows = parser(Rows.from_records(records_for(lines, 1.0, 7, "s", {})))
        fields = rows.fields or [None] * len(lines)
        got.append((fields, rows.message or [None] * len(lines), dict(reporter.counts)))
    return got


@SETTINGS
@given(st.lists(line_groups, min_size=1, max_size=8))
def test_lines_that_are_json_only_together_are_parsed_and_counted_one_by_one(
    groups: list[list[str]],
) -> None:
    fast, slow = parsed_both_ways([line for group in groups for line in group])
    assert fast == slow


def test_a_line_cannot_take_its_neighbours_into_its_object() -> None:
    # Together: {"a":[{"b":1, <the next line's key>:2}]} and a line that adds a key of its
    # own: as many values as lines, none of them a nested object.
    lines = ['{"a":[{"b":1', "2}]}", '{"d":1},"zz":{"e":2}', '{"msg":"ok"}']
    fast, slow = parsed_both_ways(lines)
    assert fast == slow
    assert fast[0] == [None, None, None, {}] and fast[1] == [None, None, None, "ok"]


def test_a_chain_on_uniform_json_lines_gives_the_general_paths_entries() -> None:
    lines = [json.dumps({"msg": f"m{n}", "n": n, "ok": "yes"}) for n in range(5)]
    chain = Chain("c", (JsonProcessor(message_key="msg"),))
    out = chain.process(records_for(lines, 1.0, 7, "s", {"env": "p"}), 0.0)
    assert [(r.message, r.attributes) for r in out][4] == (
        "m4",
        {"env": "p", "n": "4", "ok": "yes"},
    )


def container_read(count: int) -> list[Record]:
    """One read of ``count`` CRI lines holding JSON objects, as the file input emits it."""
    lines = [
        f"2026-12-01T06:00:{n % 60:02d}.{n:09d}Z stdout F "
        + json.dumps({"level": "info", "ts": n * 7, "msg": f"GET /{n}", "req": n, "svc": "web"})
        for n in range(count)
    ]
    return records_for(lines, 1.0, 7, "/var/log/pods/ns_web-1_u1/app/0.log", {"env": "p"})


def through_chain(records: list[Record], *, fast: bool) -> tuple[list[Record], list[object]]:
    """``records`` through cri + kubernetes + json; with ``fast`` False every column-wise path
    is turned off (the per-line ways). Also returns what each fast path returned: the
    unwrapper's and the fitter's True/False, the parser's ranges of rows it left."""
    chain = Chain("c", (CriProcessor(), KubernetesProcessor(), JsonProcessor(message_key="msg")))
    assert chain.unwrapper is not None
    parser = chain.steps[1]
    assert isinstance(parser, JsonParser)
    results: list[object] = []
    paths = [
        (chain.unwrapper, "fast", False),
        (parser, "fast", None),
        (chain._uniform, "fit", False),
    ]
    for owner, name, off in paths:
        real = getattr(owner, name)

        def spy(rows: Rows, real: Any = real, off: object = off) -> Any:
            if not fast:
                return off
            results.append(real(rows))
            return results[-1]

        setattr(owner, name, spy)
    return chain.process(records, 0.0), results


def test_a_read_longer_than_one_slice_gives_the_per_line_entries_column_wise() -> None:
    records = container_read(3 * SLICE + 17)  # four slices, the last one short
    fast, taken = through_chain(records, fast=True)
    slow, _ = through_chain(records, fast=False)
    assert taken == [True, [], True]  # (the parser left no rows to the per-line way)
    assert fast == slow
    assert [list(r.attributes) for r in fast] == [list(r.attributes) for r in slow]
    assert fast[-1].message == f"GET /{3 * SLICE + 16}" and fast[-1].attributes["req"] == str(
        3 * SLICE + 16
    )


def test_a_bad_line_in_a_later_slice_costs_that_slice_the_per_line_way() -> None:
    for bad in ("not a cri line", "2026-12-01T06:00:00.5Z stdout F not json"):
        records = container_read(2 * SLICE + 5)
        records[2 * SLICE + 1] = records[2 * SLICE + 1]._replace(message=bad)
        fast, taken = through_chain(records, fast=True)
        slow, _ = through_chain(records, fast=False)
        if bad.startswith("not"):  # cri declines the whole read (it joins pieces per line)
            assert taken[0] is False
        else:  # the JSON parser: only the third slice, the bad line's, went the per-line way
            assert taken == [True, [range(2 * SLICE, 2 * SLICE + 5)], True]
        assert fast == slow
        assert fast[2 * SLICE + 1].message in (bad, "not json")  # shipped as text
