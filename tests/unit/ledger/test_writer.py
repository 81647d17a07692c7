"""The ledger writer: one write per record, torn tails cut at start, rotation and retention,
and a failing disk that never stops delivery."""

from __future__ import annotations

import os
import time
from pathlib import Path

from logflux_agent.clock import FakeClock
from logflux_agent.ledger import format as fmt
from logflux_agent.ledger.writer import MIN_SEGMENT, LedgerWriter


def now() -> FakeClock:
    # Retention compares segment mtimes (real) with the clock's wall time: start it now.
    return FakeClock(start_wall=time.time())


def writer(directory: Path, clock: FakeClock, **kw: float) -> LedgerWriter:
    w = LedgerWriter(
        directory,
        max_bytes=int(kw.get("max_bytes", 1 << 20)),
        max_age=kw.get("max_age", 86_400.0),
        run="run-1",
        clock=clock,
    )
    assert w.open()
    return w


def all_records(directory: Path) -> list[dict[str, object]]:
    return [r for p in fmt.segments(directory) for r in fmt.scan(p).records]


def test_each_record_is_on_disk_after_append_without_sync(tmp_path: Path) -> None:
    w = writer(tmp_path, now())
    sid = w.sid(("file", 1), {"kind": "file", "dev": 1})
    w.append({"t": "b", "seq": 0, "c": [[sid, 0, 10, 1, 0, 1]]}, "batch")
    kinds = [r["t"] for r in all_records(tmp_path)]
    assert kinds == ["r", "s", "b"]  # the stream is defined before its first use


def test_a_torn_tail_is_cut_and_counted_at_open_and_a_new_segment_begins(tmp_path: Path) -> None:
    clock = now()
    w = writer(tmp_path, clock)
    w.append({"t": "b", "seq": 0}, "batch")
    w.close()
    path = fmt.segments(tmp_path)[0]
    good = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(fmt.frame({"t": "b", "seq": 1})[:-2])  # kill -9 in the middle of a write
    again = writer(tmp_path, clock)
    assert again.torn_cut == 1
    assert path.stat().st_size == good
    assert len(fmt.segments(tmp_path)) == 2
    assert [r.get("seq") for r in all_records(tmp_path) if r["t"] == "b"] == [0]


def test_segments_rotate_and_the_oldest_go_past_max_bytes(tmp_path: Path) -> None:
    w = writer(tmp_path, now(), max_bytes=1 << 20)
    assert w.segment_bytes == 128 * 1024
    big = "x" * 4000
    for seq in range(800):  # ~3.2 MB of records through a 1 MiB cap
        w.append({"t": "b", "seq": seq, "pad": big}, "batch")
    sizes = [p.stat().st_size for p in fmt.segments(tmp_path)]
    assert sum(sizes) <= (1 << 20) + w.segment_bytes
    assert w.size_bytes == sum(sizes)
    seqs = [r["seq"] for r in all_records(tmp_path) if r["t"] == "b"]
    assert seqs[-1] == 799 and seqs == sorted(seqs)  # the newest kept, in order


def test_segments_older_than_max_age_are_deleted(tmp_path: Path) -> None:
    clock = now()
    w = writer(tmp_path, clock, max_bytes=1 << 20, max_age=3600.0)
    w.append({"t": "b", "seq": 0, "pad": "y" * MIN_SEGMENT * 2}, "batch")  # rotates
    first = fmt.segments(tmp_path)[0]
    os.utime(first, (clock.wall() - 7200, clock.wall() - 7200))
    w.expire()
    assert first not in fmt.segments(tmp_path)
    assert len(fmt.segments(tmp_path)) == 1


def test_a_full_disk_is_counted_and_the_next_write_says_what_was_lost(tmp_path: Path) -> None:
    w = writer(tmp_path, now())
    w.append({"t": "b", "seq": 0}, "batch")
    os.close(w._fd)
    # The same write path against a device that is always full (ENOSPC).
    w._fd = os.open("/dev/full", os.O_WRONLY)
    w.append({"t": "b", "seq": 1}, "batch")  # returns: counted, logged, delivery goes on
    assert w.failures == 1
    # The next record cannot cut /dev/full back: a new segment begins (that record, built for
    # the old segment's stream ids, counts as lost too); the one after says how many are
    # missing and since when.
    w.append({"t": "b", "seq": 2}, "batch")
    w.append({"t": "b", "seq": 3}, "batch")
    records = all_records(tmp_path)
    lost = [r for r in records if r["t"] == "x"]
    assert len(lost) == 1 and lost[0]["n"] == 2
    assert [r["seq"] for r in records if r["t"] == "b"] == [0, 3]
    assert len(fmt.segments(tmp_path)) == 2


def test_an_unusable_directory_turns_the_ledger_off_not_the_agent(tmp_path: Path) -> None:
    blocker = tmp_path / "ledger"
    blocker.write_text("a file where the directory should be")
    w = LedgerWriter(blocker, max_bytes=1 << 20, max_age=60.0, run="r", clock=now())
    assert not w.open()
    w.append({"t": "b"}, "batch")  # a no-op, never an exception
    assert not w.enabled
