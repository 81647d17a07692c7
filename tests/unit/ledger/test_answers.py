"""What audit answers, from a ledger and real files: lines mapped through the file, gaps with
their reason, the journal's cursor order, and what the agent still holds."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from logflux_agent.clock import FakeClock
from logflux_agent.inputs.file.identity import FileStream
from logflux_agent.ledger import answers, index, journal
from logflux_agent.ledger.receipts import Receipts
from logflux_agent.ledger.writer import LedgerWriter
from logflux_agent.record import AckToken, records_for


class Report:
    request_ids = ("rq-7",)
    key_id = "k"
    dead_lettered = 0


def ledger(tmp_path: Path) -> Receipts:
    clock = FakeClock(start_wall=time.time())
    w = LedgerWriter(tmp_path / "ledger", max_bytes=1 << 20, max_age=1e6, run="r", clock=clock)
    assert w.open()
    return Receipts(w, clock)


def file_stream(log: Path) -> FileStream:
    st = os.stat(log)
    return FileStream("app", str(log), st.st_dev, st.st_ino, log.read_bytes()[:1024], committed=0)


def accept(receipts: Receipts, stream: object, sizes: list[int], end: int, seq: int) -> None:
    records = records_for([f"m{i}" for i in range(sum(sizes))], 0.0, 6, "s", {})
    records[-1] = records[-1].with_ack(AckToken(stream, end))  # type: ignore[arg-type]
    receipts.emitted("app", records)
    at = 0
    for n in sizes:  # the chunk cut between batches
        receipts.completed(seq, {"app": n}, Report(), "accepted")
        at += n
        seq += 1


def test_line_inside_a_chunk_cut_between_batches_maps_to_its_batch(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line-{i:03d}\n" for i in range(10)))  # 9 bytes a line
    receipts = ledger(tmp_path)
    stream = file_stream(log)
    accept(receipts, stream, [4, 6], end=90, seq=0)
    found = index.load(tmp_path / "ledger")
    (ident,) = answers.identities(str(log), [], found, tmp_path)
    assert answers.point(ident, 3 * 9, found)["deliveries"][0]["batch"] == 0  # line 4
    assert answers.point(ident, 4 * 9, found)["deliveries"][0]["batch"] == 1  # line 5
    summary = answers.summary(ident, found)
    assert summary["accepted"] == [{"bytes": [0, 90], "lines": [1, 10]}]


def test_a_range_accepted_twice_is_a_duplicate_and_a_gap_names_its_reason(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line-{i:03d}\n" for i in range(10)))
    receipts = ledger(tmp_path)
    stream = file_stream(log)
    accept(receipts, stream, [4], end=36, seq=0)
    # A restart from an older checkpoint: the same lines again (a new stream object).
    again = file_stream(log)
    accept(receipts, again, [2], end=18, seq=0)
    receipts.gap(stream, 36, 72, "truncated_unread")
    found = index.load(tmp_path / "ledger")
    (ident,) = answers.identities(str(log), [], found, tmp_path)
    summary = answers.summary(ident, found)
    assert summary["duplicates"][0]["bytes"] == [0, 18]
    assert summary["duplicates"][0]["lines"] == [1, 2]
    assert summary["duplicates"][0]["times"] == 2
    gap, rest = summary["gaps"]
    assert gap["bytes"] == [36, 72] and "truncated unread" in gap["reason"]
    assert rest["bytes"] == [72, 90] and "no checkpoint" in rest["reason"]
    assert answers.point(ident, 40, found)["accepted"] is False


def test_not_yet_names_the_agents_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line-{i:03d}\n" for i in range(10)))
    receipts = ledger(tmp_path)
    stream = file_stream(log)
    accept(receipts, stream, [3], end=27, seq=0)
    state: dict[str, Any] = stream.state(27)
    (tmp_path / "checkpoints.json").write_text(
        json.dumps({"version": 1, "streams": {stream.key: state}})
    )
    found = index.load(tmp_path / "ledger")
    (ident,) = answers.identities(str(log), [], found, tmp_path)
    doc = answers.point(ident, 50, found)
    assert doc["accepted"] is False and "checkpoint for this file is at byte 27" in doc["reason"]


class Journal:
    key = "journald:j"

    def state(self, position: object) -> dict[str, Any]:
        return {"cursor": str(position)}


def cursor(seq: int, seqnum_id: str = "abc") -> str:
    return f"s={seqnum_id};i={seq:x};b=b0;m=1;t=2;x=3"


def test_journal_cursors_are_ordered_by_seqnum_within_their_seqnum_id(tmp_path: Path) -> None:
    receipts = ledger(tmp_path)
    j = Journal()
    records = records_for(["a", "b"], 0.0, 6, "j", {})
    records[-1] = records[-1].with_ack(AckToken(j, cursor(20)))  # type: ignore[arg-type]
    receipts._last[id(j)] = (j, cursor(10))  # type: ignore[assignment]
    receipts.emitted("j", records)
    receipts.completed(0, {"j": 2}, Report(), "accepted")
    found = index.load(tmp_path / "ledger", lambda s: s.kind == "journal")
    assert journal.journal_point(found, cursor(15), tmp_path)["accepted"] is True
    assert journal.journal_point(found, cursor(20), tmp_path)["accepted"] is True
    assert journal.journal_point(found, cursor(10), tmp_path)["accepted"] is False  # after it
    assert journal.journal_point(found, cursor(21), tmp_path)["accepted"] is False
    assert journal.journal_point(found, cursor(15, "other"), tmp_path)["accepted"] is False
    assert "not a journal cursor" in journal.journal_point(found, "junk", tmp_path)["reason"]


def cut_journal_chunk(tmp_path: Path, after: int | None, last: int, n: int) -> index.Ledger:
    """One journal chunk of ``n`` entries ending at seqnum ``last``, cut between two batches
    (entries [0, 3) accepted in batch 0, the rest in batch 1)."""
    receipts = ledger(tmp_path)
    j = Journal()
    records = records_for([f"e{i}" for i in range(n)], 0.0, 6, "j", {})
    records[-1] = records[-1].with_ack(AckToken(j, cursor(last)))  # type: ignore[arg-type]
    if after is not None:
        receipts._last[id(j)] = (j, cursor(after))  # type: ignore[assignment]
    receipts.emitted("j", records)

    class Other(Report):
        request_ids = ("rq-8",)

    receipts.completed(0, {"j": 3}, Report(), "accepted")
    receipts.completed(1, {"j": n - 3}, Other(), "accepted")
    return index.load(tmp_path / "ledger", lambda s: s.kind == "journal")


def test_a_journal_chunk_cut_between_batches_maps_each_cursor_to_its_batch(tmp_path: Path) -> None:
    found = cut_journal_chunk(tmp_path, after=10, last=15, n=5)  # seqnums 11..15: contiguous
    rq = [journal.journal_point(found, cursor(s), tmp_path) for s in (11, 13, 14, 15)]
    got = [d["deliveries"][0]["request_ids"] for d in rq]
    assert got == [["rq-7"], ["rq-7"], ["rq-8"], ["rq-8"]]
    assert all(d["times"] == 1 and "note" not in d for d in rq)
    assert journal.journal_point(found, cursor(16), tmp_path)["accepted"] is False


def test_the_first_journal_chunk_is_mapped_when_its_seqnums_are_1_to_n(tmp_path: Path) -> None:
    found = cut_journal_chunk(tmp_path, after=None, last=5, n=5)
    doc = journal.journal_point(found, cursor(4), tmp_path)
    assert doc["times"] == 1 and doc["deliveries"][0]["request_ids"] == ["rq-8"]


def test_a_cut_chunk_with_gaps_in_its_seqnums_is_accepted_once_all_parts_were(
    tmp_path: Path,
) -> None:
    found = cut_journal_chunk(tmp_path, after=10, last=30, n=5)  # a filter skipped seqnums
    doc = journal.journal_point(found, cursor(12), tmp_path)
    assert doc["accepted"] is True and doc["times"] == 1
    assert "cut between batches r/0, r/1" in doc["note"]
