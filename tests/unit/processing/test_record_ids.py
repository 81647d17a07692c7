"""Record ids through processor chains: kept by field steps, dropped with filtered rows, and a
joined cri/docker line carries its first piece's id (RID.md, docs/record-ids.md)."""

from __future__ import annotations

import json

from logflux_agent.config.privacy import ExcludeProcessor
from logflux_agent.config.processors import (
    CriProcessor,
    DockerProcessor,
    JsonProcessor,
    SetProcessor,
)
from logflux_agent.processing.chain import Chain
from logflux_agent.record import Record, records_for
from tests.unit.processing.test_container import T0, chunk

SOURCE = "/var/log/pods/ns_pod_uid/app/0.log"


def with_ids(records: list[Record], first: int) -> list[Record]:
    return [r._replace(rid=f"r{first + i}") for i, r in enumerate(records)]


def rids(records: list[Record]) -> list[str | None]:
    return [r.rid for r in records]


def test_field_steps_keep_each_rows_id_and_filters_drop_it_with_the_row() -> None:
    chain = Chain(
        "app",
        (
            JsonProcessor(),
            SetProcessor(fields={"env": "prod"}),
            ExcludeProcessor(patterns=("drop",)),
        ),
    )
    lines = [json.dumps({"msg": m, "n": i}) for i, m in enumerate(["a", "drop me", "c", "d"])]
    out = chain.process(with_ids(chunk(lines, 10, SOURCE), 0), 0.0)
    assert [r.attributes["msg"] for r in out] == ["a", "c", "d"]
    assert rids(out) == ["r0", "r2", "r3"]
    assert all(r.attributes.get("env") == "prod" for r in out)


def test_no_processor_chain_changes_nothing_about_ids() -> None:
    records = records_for(["x", "y"], 1.0, 6, "s", {}, ["i1", "i2"])
    assert rids(records) == ["i1", "i2"]
    assert rids(records_for(["x"], 1.0, 6, "s", {})) == [None]


def test_a_joined_cri_line_has_its_first_pieces_id_across_chunks() -> None:
    chain = Chain("pods", (CriProcessor(),))
    first = chain.process(
        with_ids(chunk([f"{T0} stdout F a", f"{T0} stdout P long "], 50, SOURCE), 0), 0.0
    )
    assert rids(first) == ["r0"]
    assert chain.process(with_ids(chunk([f"{T0} stdout P line "], 80, SOURCE), 2), 1.0) == []
    last = chain.process(
        with_ids(chunk([f"{T0} stdout F end", f"{T0} stdout F b", "not cri"], 120, SOURCE), 3),
        2.0,
    )
    assert [r.message for r in last] == ["long line end", "b", "not cri"]
    assert rids(last) == ["r1", "r4", "r5"]


def test_streams_interleaved_each_joined_line_has_its_own_first_id() -> None:
    chain = Chain("pods", (CriProcessor(),))
    lines = [f"{T0} stdout P o1 ", f"{T0} stderr P e1 ", f"{T0} stdout F o2", f"{T0} stderr F e2"]
    out = chain.process(with_ids(chunk(lines, 30, SOURCE), 0), 0.0)
    assert [(r.message, r.rid) for r in out] == [("o1 o2", "r0"), ("e1 e2", "r1")]


def test_at_the_size_cap_each_emitted_text_has_the_id_of_its_first_held_piece() -> None:
    chain = Chain("pods", (CriProcessor(max_bytes=1024),))  # type: ignore[call-arg]
    piece = "x" * 400
    lines = [f"{T0} stdout P {piece}"] * 5 + [f"{T0} stdout F end"]
    out = chain.process(with_ids(chunk(lines, 70, SOURCE), 0), 0.0)
    assert [len(r.message) for r in out] == [800, 800, 403]
    assert rids(out) == ["r0", "r2", "r4"]


def test_a_complete_line_after_held_pieces_over_the_cap_keeps_its_own_id() -> None:
    chain = Chain("pods", (CriProcessor(max_bytes=1024),))  # type: ignore[call-arg]
    lines = [f"{T0} stdout P {'y' * 1000}", f"{T0} stdout F {'z' * 100}"]
    out = chain.process(with_ids(chunk(lines, 70, SOURCE), 0), 0.0)
    assert [(len(r.message), r.rid) for r in out] == [(1000, "r0"), (100, "r1")]


def test_pieces_flushed_at_the_timeout_have_their_first_pieces_id() -> None:
    chain = Chain("pods", (CriProcessor(partial_timeout=5.0),))  # type: ignore[call-arg]
    chain.process(with_ids(chunk([f"{T0} stdout P dang"], 9, SOURCE), 7), 100.0)
    chain.process(with_ids(chunk([f"{T0} stdout P ling"], 12, SOURCE), 8), 101.0)
    out = chain.flush(107.0)
    assert [(r.message, r.rid) for r in out] == [("dangling", "r7")]


def test_docker_partials_join_with_the_first_pieces_id() -> None:
    chain = Chain("d", (DockerProcessor(),))
    lines = [
        json.dumps({"log": "part one ", "stream": "stdout", "time": T0}),
        json.dumps({"log": "and two\n", "stream": "stdout", "time": T0}),
        json.dumps({"log": "alone\n", "stream": "stdout", "time": T0}),
    ]
    out = chain.process(with_ids(chunk(lines, 5, SOURCE), 10), 0.0)
    assert [(r.message, r.rid) for r in out] == [("part one and two", "r10"), ("alone", "r12")]
