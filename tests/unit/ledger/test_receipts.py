"""What the ack path hands the ledger: chunk ranges per batch, cut between batches, in order,
written before the checkpoint moves."""

from __future__ import annotations

import time
from pathlib import Path

from logflux_agent.clock import FakeClock
from logflux_agent.inputs.file.identity import FileStream
from logflux_agent.ledger import index
from logflux_agent.ledger.receipts import Receipts
from logflux_agent.ledger.writer import LedgerWriter
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.record import AckToken, Record, records_for


def chunk(stream: FileStream, lines: int, end: int) -> list[Record]:
    records = records_for([f"l{i}" for i in range(lines)], 0.0, 6, "app.log", {})
    records[-1] = records[-1].with_ack(AckToken(stream, end))
    return records


def setup(tmp_path: Path) -> tuple[AckTracker, Receipts, list[tuple[FileStream, object]]]:
    clock = FakeClock(start_wall=time.time())
    writer = LedgerWriter(tmp_path, max_bytes=1 << 20, max_age=86_400.0, run="r", clock=clock)
    assert writer.open()
    receipts = Receipts(writer, clock)
    commits: list[tuple[FileStream, object]] = []
    tracker = AckTracker(clock, lambda s, p: commits.append((s, p)), receipts)  # type: ignore[arg-type,misc]
    return tracker, receipts, commits


class Report:
    request_ids = ("req-1",)
    key_id = "key-9"
    dead_lettered = 0


def test_a_chunk_cut_between_batches_is_claimed_part_by_part(tmp_path: Path) -> None:
    tracker, _, _ = setup(tmp_path)
    stream = FileStream("app", "/var/log/app.log", 1, 2, b"head", committed=0)
    first = chunk(stream, 10, 100)  # bytes [0, 100), 10 lines
    second = chunk(stream, 5, 150)
    for part in (first, second):
        tracker.emitted("app", len(part))
        tracker.queued("app", part)
    records = first + second
    b1 = tracker.open(records[:4], {"app": 4})
    b2 = tracker.open(records[4:12], {"app": 8})
    b3 = tracker.open(records[12:], {"app": 3})
    for batch in (b1, b2, b3):
        tracker.complete(batch, Report())
    found = index.load(tmp_path)
    got = [(c.start, c.end, c.n, c.lo, c.hi, c.delivery.seq) for c in found.claims]
    assert got == [
        (0, 100, 10, 0, 4, 0),
        (0, 100, 10, 4, 10, 1),
        (100, 150, 5, 0, 2, 1),
        (100, 150, 5, 2, 5, 2),
    ]
    assert found.claims[0].delivery.request_ids == ("req-1",)
    assert found.claims[0].delivery.key == "key-9"
    assert found.claims[0].stream.ino == 2 and found.claims[0].stream.path == "/var/log/app.log"


def test_whole_chunks_of_one_stream_in_a_batch_are_one_claim(tmp_path: Path) -> None:
    tracker, _, _ = setup(tmp_path)
    stream = FileStream("app", "/var/log/app.log", 1, 2, b"head", committed=40)
    parts = [chunk(stream, 3, 70), chunk(stream, 2, 90), chunk(stream, 4, 130)]
    for part in parts:
        tracker.emitted("app", len(part))
        tracker.queued("app", part)
    records = [r for p in parts for r in p]
    tracker.complete(tracker.open(records, {"app": len(records)}), Report())
    (claim,) = index.load(tmp_path).claims
    # It starts where the stream's committed position was (a resumed file), not at 0.
    assert (claim.start, claim.end, claim.n, claim.lo, claim.hi) == (40, 130, 9, 0, 9)


def test_the_ledger_is_written_before_positions_are_committed(tmp_path: Path) -> None:
    tracker, _, commits = setup(tmp_path)
    stream = FileStream("app", "/var/log/app.log", 1, 2, b"head", committed=0)
    seen_at_commit: list[int] = []
    commit = tracker._commit

    def checking(s: object, p: object) -> None:
        seen_at_commit.append(len(index.load(tmp_path).claims))
        commit(s, p)  # type: ignore[arg-type]

    tracker._commit = checking
    part = chunk(stream, 3, 30)
    tracker.emitted("app", 3)
    tracker.queued("app", part)
    tracker.complete(tracker.open(part, {"app": 3}), Report())
    assert seen_at_commit == [1] and commits == [(stream, 30)]


def test_out_of_order_completion_claims_each_batch_at_once(tmp_path: Path) -> None:
    # Two inputs: b2 (input b) completes before b1 (input a); the ledger has b2's range at
    # once, while the checkpoint of b waits for the prefix.
    tracker, _, commits = setup(tmp_path)
    sa = FileStream("a", "/a.log", 1, 1, b"a", committed=0)
    sb = FileStream("b", "/b.log", 1, 2, b"b", committed=0)
    pa, pb = chunk(sa, 2, 20), chunk(sb, 3, 30)
    for owner, part in (("a", pa), ("b", pb)):
        tracker.emitted(owner, len(part))
        tracker.queued(owner, part)
    b1 = tracker.open(pa, {"a": 2})
    b2 = tracker.open(pb, {"b": 3})
    tracker.complete(b2, Report())
    assert [c.stream.path for c in index.load(tmp_path).claims] == ["/b.log"]
    assert commits == []
    tracker.complete(b1, Report())
    assert len(commits) == 2


def test_a_spooled_batch_is_recorded_as_spooled_not_accepted(tmp_path: Path) -> None:
    tracker, _, _ = setup(tmp_path)
    stream = FileStream("app", "/x.log", 1, 2, b"h", committed=0)
    part = chunk(stream, 1, 10)
    tracker.emitted("app", 1)
    tracker.queued("app", part)
    tracker.complete(tracker.open(part, {"app": 1}), status="spooled")
    (claim,) = index.load(tmp_path).claims
    assert claim.delivery.status == "spooled" and claim.delivery.request_ids == ()


async def test_spooled_batches_name_their_requests_and_the_replay_resolves_them(
    tmp_path: Path,
) -> None:
    """Two batches of two inputs spooled concurrently (each in its own task) keep their own
    spool ids; a batch is accepted via the spool once every one of its requests was replayed."""
    import asyncio

    tracker, receipts, _ = setup(tmp_path)
    app = FileStream("app", "/x/app.log", 1, 2, b"head", committed=0)
    web = FileStream("web", "/x/web.log", 1, 3, b"head", committed=40)
    tracker.queued("app", chunk(app, 4, 40))
    tracker.queued("web", chunk(web, 4, 80))
    first, second = tracker.open([], {"app": 4}), tracker.open([], {"web": 4})
    both = asyncio.Event()

    async def spool(batch: object, ids: list[str]) -> None:
        receipts.spooling(ids[:1])
        both.set() if batch is second else await both.wait()  # interleaved with the other
        receipts.spooling(ids[1:])
        await asyncio.sleep(0)
        tracker.complete(batch, status="spooled")  # type: ignore[arg-type]

    async with asyncio.TaskGroup() as tg:
        tg.create_task(spool(first, ["a1", "a2"]))
        tg.create_task(spool(second, ["b1"]))

    def delivery(start: int) -> index.Delivery:
        found = index.load(tmp_path)
        return next(c.delivery for c in found.claims if c.start == start)

    assert delivery(0).spool_ids == ("a1", "a2") and delivery(40).spool_ids == ("b1",)
    assert delivery(0).in_spool and delivery(40).in_spool
    receipts.replayed("a1", accepted=2, parts=2, request_ids=["rq-a1"], key_id="k")
    receipts.replayed("b1", accepted=1, parts=1, request_ids=["rq-b1"], key_id="k")
    assert delivery(0).in_spool  # a2 is still in the spool
    b = delivery(40)
    assert not b.in_spool and b.replayed_at is not None and b.replay_request_ids == ("rq-b1",)
    receipts.replayed("a2", accepted=2, parts=2, request_ids=["rq-a2"], key_id="k")
    assert delivery(0).replay_request_ids == ("rq-a1", "rq-a2")


async def test_a_spooled_request_the_replayer_kept_dead_is_not_accepted(tmp_path: Path) -> None:
    from logflux_agent.ledger import answers

    tracker, receipts, _ = setup(tmp_path / "ledger")
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(4)))
    st = log.stat()
    stream = FileStream("app", str(log), st.st_dev, st.st_ino, log.read_bytes(), committed=0)
    tracker.queued("app", chunk(stream, 4, st.st_size))
    receipts.spooling(["s1"])
    tracker.complete(tracker.open([], {"app": 4}), status="spooled")
    receipts.replayed("s1", accepted=0, parts=4, request_ids=[], key_id="k")
    found = index.load(tmp_path / "ledger")
    (ident,) = answers.identities(str(log), [], found, tmp_path)
    doc = answers.point(ident, 0, found)
    assert doc["accepted"] is False
    assert doc["reason"].startswith("dead-lettered by the spool's replayer at"), doc
