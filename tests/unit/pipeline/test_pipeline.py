"""Queue bounds and backpressure, batch cutting, and in-order commits of acknowledgements."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import FakeClock
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.pipeline.batcher import Batcher, estimate_entry_bytes
from logflux_agent.pipeline.checkpointer import Checkpointer
from logflux_agent.pipeline.queue import RecordQueue, records_size
from logflux_agent.pipeline.sender import SenderStage
from logflux_agent.record import AckToken, Record, Resumable
from tests.support.wait import async_wait_until


class Stream:
    """An AckStream that remembers what was committed."""

    def __init__(self, key: str) -> None:
        self._key = key
        self.commits: list[int | str] = []

    @property
    def key(self) -> str:
        return self._key

    def commit(self, position: int | str) -> None:
        self.commits.append(position)


def recs(n: int, stream: Stream | None = None, start: int = 0, size: int = 10) -> list[Record]:
    out = []
    for i in range(start, start + n):
        token = AckToken(stream, i + 1) if stream is not None else None
        out.append(Record("x" * size, 0.0, 7, "src", {}, token))
    return out


async def test_put_blocks_when_entries_bound_reached_and_resumes_after_get() -> None:
    q = RecordQueue(max_entries=10, max_bytes=10**9)
    await q.put("a", recs(8))
    blocked = asyncio.create_task(q.put("a", recs(5)))
    await asyncio.sleep(0)
    assert not blocked.done()
    assert q.entries == 8
    got = await q.get()
    assert got is not None and len(got[1]) == 8
    await asyncio.wait_for(blocked, 5)
    assert q.entries == 5


async def test_byte_bound_applies_before_entry_bound() -> None:
    q = RecordQueue(max_entries=10**6, max_bytes=records_size(recs(3, size=100)))
    await q.put("a", recs(3, size=100))
    assert not q.offer("a", recs(1, size=100))
    blocked = asyncio.create_task(q.put("a", recs(1, size=100)))
    await asyncio.sleep(0)
    assert not blocked.done()
    await q.get()
    await asyncio.wait_for(blocked, 5)


async def test_oversized_list_is_admitted_into_an_empty_queue() -> None:
    q = RecordQueue(max_entries=2, max_bytes=10)
    await asyncio.wait_for(q.put("a", recs(50)), 5)
    assert q.entries == 50


async def test_closed_queue_drains_then_reports_end_and_refuses_puts() -> None:
    q = RecordQueue(max_entries=100, max_bytes=10**9)
    await q.put("a", recs(2))
    q.close()
    assert (await q.get()) is not None
    assert (await q.get()) is None
    with pytest.raises(RuntimeError):
        await q.put("a", recs(1))


async def test_batcher_cuts_at_max_entries_and_carries_the_rest() -> None:
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    await q.put("a", recs(25))
    b = Batcher(q, 60, max_entries=10, max_bytes=10**9)
    sizes = []
    for _ in range(2):
        got = await b.next_batch()
        assert got is not None
        sizes.append(len(got[0]))
        assert got[1] == {"a": 10}
    assert sizes == [10, 10]
    q.close()
    last = await b.next_batch()
    assert last is not None and len(last[0]) == 5
    assert await b.next_batch() is None


async def test_batcher_cuts_at_max_bytes() -> None:
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    rs = recs(10, size=1000)
    await q.put("a", rs)
    q.close()
    limit = estimate_entry_bytes(rs[0]) * 3
    b = Batcher(q, 60, max_entries=1000, max_bytes=limit)
    got = await b.next_batch()
    assert got is not None and len(got[0]) == 3


async def test_batcher_flushes_a_partial_batch_after_the_interval() -> None:
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    await q.put("a", recs(3))
    b = Batcher(q, 0.05, max_entries=1000, max_bytes=10**9)
    got = await asyncio.wait_for(b.next_batch(), 10)
    assert got is not None and len(got[0]) == 3


async def test_batcher_merges_lists_from_several_inputs_in_queue_order() -> None:
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    await q.put("a", recs(2))
    await q.put("b", recs(3))
    q.close()
    b = Batcher(q, 60, max_entries=1000, max_bytes=10**9)
    got = await b.next_batch()
    assert got is not None
    assert got[1] == {"a": 2, "b": 3}


async def test_batcher_flush_interval_runs_on_the_injected_clock() -> None:
    clock = FakeClock()
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    await q.put("a", recs(3))
    b = Batcher(q, 3600, max_entries=1000, max_bytes=10**9, clock=clock)
    got = await asyncio.wait_for(b.next_batch(), 10)  # an hour of virtual time, no real wait
    assert got is not None and len(got[0]) == 3
    assert clock.monotonic() == pytest.approx(3600)


class _ServerLimits:
    def __init__(self, entries: int, request_bytes: int) -> None:
        self.max_batch_entries = entries
        self.max_request_bytes = request_bytes


class _Client:
    def __init__(self) -> None:
        self.limits = _ServerLimits(10**6, 10**9)


async def test_batcher_reads_the_server_limits_for_every_batch() -> None:
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    await q.put("a", recs(20))
    q.close()
    client = _Client()
    b = Batcher(q, 60, max_entries=8, max_bytes=10**9, server=client)
    assert b.limits() == (8, 10**9)  # the configuration's cap is lower than the server's
    first = await b.next_batch()
    client.limits = _ServerLimits(5, 10**9)  # a re-handshake brought lower limits
    second = await b.next_batch()
    assert first is not None and second is not None
    assert (len(first[0]), len(second[0])) == (8, 5)


def test_acks_commit_only_the_completed_prefix_in_order() -> None:
    s = Stream("f")
    t = AckTracker()
    t.emitted("a", 9)
    b1 = t.open(recs(3, s, 0), {"a": 3})
    b2 = t.open(recs(3, s, 3), {"a": 3})
    b3 = t.open(recs(3, s, 6), {"a": 3})
    t.complete(b3)
    t.complete(b2)
    assert s.commits == []
    assert t.unresolved("a") == 3
    t.complete(b1)
    assert s.commits == [3, 6, 9]
    assert t.unresolved("a") == 0
    assert t.pending_batches == 0


def test_acks_use_the_last_token_of_a_stream_within_a_batch() -> None:
    s1, s2 = Stream("1"), Stream("2")
    t = AckTracker()
    records = recs(2, s1, 0) + recs(1, None) + recs(2, s2, 10) + recs(1, s1, 2)
    t.complete(t.open(records, {"a": 6}))
    assert s1.commits == [3]
    assert s2.commits == [12]


class Prepared:
    """A fake client's prepared batch: ``send`` runs the client's send for its records."""

    def __init__(
        self, records: Sequence[Record], send: Callable[[Sequence[Record]], Awaitable[None]]
    ) -> None:
        self._records = records
        self._send = send

    async def send(self) -> object:
        await self._send(self._records)
        return None


def batcher(q: RecordQueue, max_entries: int) -> Batcher:
    return Batcher(q, 60, max_entries=max_entries, max_bytes=10**9)


class ControlledClient:
    """Completes each delivery only when the test releases it, to force out-of-order replies."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}

    async def prepare(self, records: Sequence[Record]) -> Prepared:
        return Prepared(records, self._send)

    async def _send(self, records: Sequence[Record]) -> None:
        first = records[0].ack
        assert first is not None
        key = int(first.position)
        self.gates[key] = asyncio.Event()
        self.started.append(key)
        await self.gates[key].wait()


async def test_sender_stage_runs_requests_concurrently_and_commits_in_order() -> None:
    s = Stream("f")
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    tracker = AckTracker()
    client = ControlledClient()
    ready = asyncio.Event()
    ready.set()
    stage = SenderStage(batcher(q, 2), tracker, client, 3, ready)
    for i in range(3):
        # one input per batch: batches of one input are never in flight together
        await q.put(f"in{i}", recs(2, s, 2 * i))
    q.close()
    task = asyncio.create_task(stage.run())
    await async_wait_until(lambda: len(client.started) == 3, 5, message="3 requests in flight")
    client.gates[5].set()
    client.gates[3].set()
    await async_wait_until(
        lambda: tracker.pending_batches == 3 and stage.in_flight == 1, 5, message="two completions"
    )
    assert s.commits == []
    client.gates[1].set()
    await asyncio.wait_for(task, 5)
    assert s.commits == [2, 4, 6]


async def test_sender_stage_never_exceeds_max_in_flight() -> None:
    s = Stream("f")
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    client = ControlledClient()
    ready = asyncio.Event()
    ready.set()
    stage = SenderStage(batcher(q, 1), AckTracker(), client, 2, ready)
    for i in range(5):  # one input per batch, as above
        await q.put(f"in{i}", recs(1, s, i))
    q.close()
    task = asyncio.create_task(stage.run())
    await async_wait_until(lambda: len(client.started) == 2, 5, message="2 in flight")
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(client.started) == 2
    for key in (1, 2, 3, 4, 5):
        await async_wait_until(lambda k=key: k in client.gates, 5, message=f"request {key}")
        client.gates[key].set()
    await asyncio.wait_for(task, 5)
    assert s.commits[-1] == 5


class OrderedClient:
    """Records the order requests are sent in; the stage alone keeps them in order."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.prepared: list[int] = []
        self.release_first = asyncio.Event()

    async def prepare(self, records: Sequence[Record]) -> Prepared:
        first = records[0].ack
        assert first is not None
        self.prepared.append(int(first.position))
        return Prepared(records, self._send)

    async def _send(self, records: Sequence[Record]) -> None:
        first = records[0].ack
        assert first is not None
        if first.position == 1:
            await self.release_first.wait()
        self.sent.append(int(first.position))


async def test_batches_of_one_input_are_sent_in_order_even_when_the_first_is_slow() -> None:
    s = Stream("f")
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    client = OrderedClient()
    ready = asyncio.Event()
    ready.set()
    stage = SenderStage(batcher(q, 2), AckTracker(), client, 4, ready)
    for i in range(3):
        await q.put("a", recs(2, s, 2 * i))
    q.close()
    task = asyncio.create_task(stage.run())
    await async_wait_until(lambda: stage.in_flight == 3, 5, message="3 batches started")
    for _ in range(20):
        await asyncio.sleep(0)
    assert client.sent == []
    client.release_first.set()
    await asyncio.wait_for(task, 5)
    assert client.sent == [1, 3, 5]


async def test_later_batches_of_one_input_are_prepared_while_the_first_is_held() -> None:
    s = Stream("f")
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    client = OrderedClient()
    ready = asyncio.Event()
    ready.set()
    stage = SenderStage(batcher(q, 2), AckTracker(), client, 4, ready)
    for i in range(3):
        await q.put("a", recs(2, s, 2 * i))
    q.close()
    task = asyncio.create_task(stage.run())
    await async_wait_until(lambda: client.prepared == [1, 3, 5], 5, message="all 3 encoded")
    assert client.sent == []
    client.release_first.set()
    await asyncio.wait_for(task, 5)
    assert client.sent == [1, 3, 5] and s.commits == [2, 4, 6]


async def test_batches_of_different_inputs_do_not_wait_for_each_other() -> None:
    s1, s2 = Stream("1"), Stream("2")
    q = RecordQueue(max_entries=10**6, max_bytes=10**9)
    client = OrderedClient()
    ready = asyncio.Event()
    ready.set()
    stage = SenderStage(batcher(q, 2), AckTracker(), client, 4, ready)
    await q.put("a", recs(2, s1, 0))
    await q.put("b", recs(2, s2, 10))
    q.close()
    task = asyncio.create_task(stage.run())
    await async_wait_until(lambda: client.sent == [11], 5, message="input b sent while a waits")
    client.release_first.set()
    await asyncio.wait_for(task, 5)
    assert client.sent == [11, 1]


def test_the_checkpointer_drops_only_entries_absent_for_the_grace_period(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.load()
    for name in ("gone", "seen", "live"):
        store.put(f"file:in:{name}", {"input": "in", "offset": 1})
    store.put("file:other:gone", {"input": "other", "offset": 1})
    checkpointer = Checkpointer(store)
    live = Resumable("file:in:live")
    checkpointer.track(live)
    checkpointer.present("file:in:", {"file:in:seen"}, grace=30.0, now=100.0)
    checkpointer.present("file:in:", {"file:in:seen"}, grace=30.0, now=129.0)
    assert store.get("file:in:gone") is not None  # absent, but not for 30 s yet
    checkpointer.present("file:in:", {"file:in:seen"}, grace=30.0, now=130.0)
    assert store.get("file:in:gone") is None
    assert [k for k, _ in store.items()] == ["file:in:seen", "file:in:live", "file:other:gone"]


def test_the_checkpointer_persists_resumable_streams_and_only_tells_counting_ones(
    tmp_path: Path,
) -> None:
    store = CheckpointStore(tmp_path)
    store.load()
    checkpointer = Checkpointer(store)
    tracker = AckTracker(commit=checkpointer.commit)
    durable, counting = Resumable("journald:j"), Stream("socket:s")
    batch = tracker.open(
        [*recs(1, counting), Record("m", 0.0, 7, "s", {}, AckToken(durable, 3))], {}
    )
    tracker.complete(batch)
    assert store.get("journald:j") == {"position": 3} and durable.committed == 3
    assert counting.commits == [1] and store.get("socket:s") is None
