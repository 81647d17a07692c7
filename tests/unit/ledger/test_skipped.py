"""Skipped ranges for audit: dead letters found by record id, ranges cut out, the binary rule."""

from __future__ import annotations

import json
from pathlib import Path

from logflux_agent.clock import FakeClock
from logflux_agent.ingest.deadletter import DeadLetters
from logflux_agent.ledger.filemap import OnDisk
from logflux_agent.ledger.skipped import (
    GONE_NOTE,
    Skipped,
    dead_lettered,
    dead_ranges,
    id_prefix,
    is_binary,
    subtract,
)
from logflux_agent.record import records_for


def test_subtract_cuts_ranges_out_at_their_exact_bytes() -> None:
    cut = [Skipped(5, 10, "a"), Skipped(20, 30, "b"), Skipped(40, 45, "c")]
    assert subtract([(0, 25), (28, 42), (50, 60)], cut) == [(0, 5), (10, 20), (30, 40), (50, 60)]
    assert subtract([(5, 10)], cut) == []


def test_dead_letters_are_found_by_the_record_id_of_the_file_they_came_from(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"first\nsecond line\nthird\n")
    disk = OnDisk.at(str(log))
    assert disk is not None and not is_binary(disk)
    prefix = id_prefix(disk, "app")
    records = records_for(["second line", "other file"], 0.0, 6, "s", {})
    records = [records[0]._replace(rid=f"{prefix}6"), records[1]._replace(rid="f:0123:6")]
    dead = DeadLetters(str(tmp_path), 1 << 20, FakeClock())
    dead.write(records, reason="bad_request", status=400, error="no")
    line = json.loads((tmp_path / "dead-letter.jsonl").read_text().splitlines()[0])
    assert line["record_id"] == f"{prefix}6"
    found = dead_lettered(tmp_path, [prefix])
    # The end recorded for a file gone from disk: the message's bytes and its newline.
    assert found == {prefix: [(6, "dead-lettered: bad_request (HTTP 400): no", 18)]}
    assert dead_ranges(disk, found[prefix]) == [Skipped(6, 18, found[prefix][0][1])]
    gone = dead_ranges(None, found[prefix])
    assert [(s.start, s.end, s.note) for s in gone] == [(6, 18, GONE_NOTE)]


def test_a_file_with_a_nul_in_its_first_bytes_is_binary(tmp_path: Path) -> None:
    log = tmp_path / "blob"
    log.write_bytes(b"text\n" * 10 + b"\0")
    disk = OnDisk.at(str(log))
    assert disk is not None and is_binary(disk)
