"""Lines a filter drops reach the ledger as runs by record id (ledger/drops.py), read back by
``index.load`` and merged by ``skipped.drop_ranges``."""

from __future__ import annotations

import time
from pathlib import Path

from logflux_agent.clock import FakeClock
from logflux_agent.config.privacy import ExcludeProcessor, IncludeProcessor
from logflux_agent.inputs.file.identity import FileStream
from logflux_agent.inputs.file.record_ids import id_head, identity_digest
from logflux_agent.ledger import index
from logflux_agent.ledger.drops import Drops, stream_digest
from logflux_agent.ledger.index import Drop
from logflux_agent.ledger.skipped import drop_ranges
from logflux_agent.ledger.writer import LedgerWriter
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.rows import DROP_SINKS
from logflux_agent.record import AckToken, Record, records_for

HEAD = b"first line\n"


def setup(tmp_path: Path) -> tuple[Drops, FileStream, str]:
    clock = FakeClock(start_wall=time.time())
    ledger = tmp_path / "ledger"
    writer = LedgerWriter(ledger, max_bytes=1 << 20, max_age=86_400.0, run="r", clock=clock)
    assert writer.open()
    stream = FileStream("app", "/var/log/app.log", 1, 2, HEAD, committed=0)
    digest = identity_digest("app", 1, 2, id_head(HEAD)[0])
    return Drops(writer, clock), stream, digest


def lines(stream: FileStream, digest: str, texts: list[str], start: int) -> list[Record]:
    """Records of consecutive lines from ``start`` (each line's bytes: text + newline)."""
    offsets = [start]
    for t in texts:
        offsets.append(offsets[-1] + len(t) + 1)
    rids = [f"f:{digest}:{o}" for o in offsets[:-1]]
    records = records_for(texts, 0.0, 6, "app.log", {}, rids)
    records[-1] = records[-1].with_ack(AckToken(stream, offsets[-1]))
    return records


def chain(tmp_path: Path) -> Chain:
    return Chain(
        "app",
        (IncludeProcessor(patterns=("^p",)), ExcludeProcessor(patterns=("DROP",))),
        state_dir=str(tmp_path),
    )


def test_runs_end_at_the_next_row_or_the_token_and_continue_across_lists(tmp_path: Path) -> None:
    drops, stream, digest = setup(tmp_path)
    DROP_SINKS[str(tmp_path)] = drops.note
    try:
        c = chain(tmp_path)
        first = ["p-a", "p-b DROP", "p-c DROP", "p-d", "p-e DROP"]  # bytes 0..4, 4..13, ...
        c.process(lines(stream, digest, first, 0), 0.0)
        at = sum(len(t) + 1 for t in first)
        c.process(lines(stream, digest, ["p-f DROP", "p-g"], at), 0.0)
    finally:
        del DROP_SINKS[str(tmp_path)]
    # Two runs: [4, 22) (p-b, p-c: ends where p-d starts); p-e to its token, continued by p-f.
    assert drops.pending == {(digest, "exclude (excluded)"): [[4, 22], [26, 44]]}
    drops.flush()
    found = index.load(tmp_path / "ledger")
    assert [(d.start, d.end, d.why) for d in found.drops[digest]] == [
        (4, 22, "exclude (excluded)"),
        (26, 44, "exclude (excluded)"),
    ]


def test_nothing_is_recorded_without_record_ids_or_without_a_sink(tmp_path: Path) -> None:
    drops, stream, digest = setup(tmp_path)
    c = chain(tmp_path)
    c.process(lines(stream, digest, ["p-a DROP", "p-b"], 0), 0.0)  # no sink registered
    DROP_SINKS[str(tmp_path)] = drops.note
    try:
        plain = [r._replace(rid=None) for r in lines(stream, digest, ["p-c DROP", "p-d"], 0)]
        c.process(plain, 0.0)
    finally:
        del DROP_SINKS[str(tmp_path)]
    assert drops.pending == {}


def test_a_later_filters_run_does_not_claim_the_bytes_an_earlier_filter_dropped() -> None:
    # include dropped [10, 30) ("zz" lines); exclude then saw its two rows around it side by
    # side and recorded [0, 40): its own bytes are [0, 10) and [30, 40).
    runs = [Drop("d", 0, 40, "exclude (excluded)"), Drop("d", 10, 30, "include (not_included)")]
    got, open_ended = drop_ranges(None, [*runs, runs[0]])  # re-dropped after a restart: once
    assert [(s.start, s.end, s.reason) for s in got] == [
        (0, 10, "dropped by filter: exclude (excluded)"),
        (10, 30, "dropped by filter: include (not_included)"),
        (30, 40, "dropped by filter: exclude (excluded)"),
    ]
    assert open_ended == 0


def test_the_stream_digest_is_the_file_inputs_record_id_identity(tmp_path: Path) -> None:
    drops, stream, digest = setup(tmp_path)
    assert stream_digest(stream, drops.digests) == digest
    growing = FileStream("app", "/var/log/app.log", 1, 3, b"no newline yet", committed=0)
    assert stream_digest(growing, drops.digests) is None  # its first line may still grow
