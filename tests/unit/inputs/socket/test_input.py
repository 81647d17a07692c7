"""SocketInput / SyslogInput in-process over real sockets: backpressure, drops, limits, stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.config.model import SocketInputConfig, SyslogInputConfig
from logflux_agent.inputs.socket.input import SocketInput
from logflux_agent.inputs.syslog.input import SyslogInput
from logflux_agent.observe import metrics
from logflux_agent.record import Record
from tests.support.wait import async_wait_until

STORE = CheckpointStore("/nonexistent/never-created")


class Gate:
    """An emit that blocks while closed, like a full queue."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.open = asyncio.Event()
        self.open.set()

    async def emit(self, records: list[Record]) -> None:
        await self.open.wait()
        self.records.extend(records)
        for rec in records:
            if rec.ack is not None:
                rec.ack.stream.commit(rec.ack.position)


def line(i: int) -> bytes:
    return b'{"message":"entry %06d","level":6,"timestamp":1796000000}\n' % i


async def start(inp: SocketInput | SyslogInput, gate: Gate) -> asyncio.Task[None]:
    task = asyncio.create_task(inp.run(gate.emit))
    await asyncio.wait_for(inp.ready.wait(), 10)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_full_queue_stops_reading_so_the_client_blocks_then_nothing_is_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.sock"
    inp = SocketInput(SocketInputConfig(id="bp", unix=str(path)), STORE)
    gate = Gate()
    gate.open.clear()
    task = await start(inp, gate)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(path))
    client.setblocking(False)
    sent = 0
    blocked = False
    for _ in range(200_000):
        try:
            client.send(line(sent))
        except BlockingIOError:
            blocked = True
            break
        sent += 1
        if sent % 200 == 0:
            await asyncio.sleep(0)
    assert blocked, "the client's writes never blocked"
    held = inp.counter.emitted
    gate.open.set()
    client.close()
    await async_wait_until(lambda: len(gate.records) == sent, 30, message="all entries")
    assert [r.message for r in gate.records] == [f"entry {i:06d}" for i in range(sent)]
    assert held < sent
    assert inp.counter.unacked() == 0
    await stop(task)


async def test_stopping_queues_what_was_already_read(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    inp = SocketInput(SocketInputConfig(id="st", unix=str(path)), STORE)
    gate = Gate()
    task = await start(inp, gate)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(path))
    client.sendall(b"".join(line(i) for i in range(100)) + b'{"message":"half')
    await async_wait_until(lambda: len(gate.records) >= 100, 10, message="100 entries")
    await stop(task)
    assert len(gate.records) == 101
    assert gate.records[-1].attributes["parse_error"] == "invalid_json"
    assert not path.exists()
    client.close()


async def test_connections_over_max_connections_are_closed_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "m.sock"
    inp = SocketInput(SocketInputConfig(id="mx", unix=str(path), max_connections=2), STORE)
    gate = Gate()
    task = await start(inp, gate)
    over = metrics.SOCKET_CONNECTIONS_TOTAL.labels(
        input="mx", transport="unix", result="over_limit"
    )
    before = over._value.get()
    clients = []
    for _ in range(3):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(str(path))
        clients.append(c)
    await async_wait_until(lambda: over._value.get() == before + 1, 10, message="one refused")
    assert inp.connections == 2
    for c in clients:
        c.close()
    await stop(task)


async def test_udp_datagrams_that_do_not_fit_the_buffer_are_dropped_and_counted() -> None:
    cfg = SyslogInputConfig(id="udp", udp="127.0.0.1:0", datagram_buffer_bytes=65_536)
    inp = SyslogInput(cfg, STORE)
    gate = Gate()
    gate.open.clear()
    task = await start(inp, gate)
    assert inp.udp_address is not None
    dropped = metrics.SYSLOG_DROPPED_DATAGRAMS.labels(input="udp")
    before = dropped._value.get()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"<13>1 - h app - - - " + b"z" * 1000
    for _ in range(200):
        sender.sendto(payload, inp.udp_address)
        await asyncio.sleep(0.001)  # let the loop receive it: kernel drops are not ours to count
    await async_wait_until(lambda: dropped._value.get() > before, 10, message="drops counted")
    gate.open.set()
    await async_wait_until(
        lambda: len(gate.records) + (dropped._value.get() - before) == 200,
        10,
        message="every datagram delivered or counted as dropped",
    )
    assert 0 < len(gate.records) < 200
    assert gate.records[0].attributes["app_name"] == "app"
    sender.close()
    await stop(task)


async def test_a_flooding_client_without_newlines_is_bounded_and_its_line_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.sock"
    cfg = SocketInputConfig(id="fl", unix=str(path), max_line_bytes=4096, long_lines="drop")
    inp = SocketInput(cfg, STORE)
    gate = Gate()
    task = await start(inp, gate)
    refused = metrics.SOCKET_REFUSED_ENTRIES.labels(input="fl", reason="long_line")
    before = refused._value.get()
    _, writer = await asyncio.open_unix_connection(str(path))
    for _ in range(80):  # 5 MiB of one line, never more than a few buffers held by the agent
        writer.write(b"x" * 65_536)
        await writer.drain()
    writer.write(b"\n" + line(1))
    await writer.drain()
    await async_wait_until(lambda: gate.records, 10, message="the line after the flood")
    assert [r.message for r in gate.records] == ["entry 000001"]
    assert refused._value.get() == before + 1
    writer.close()
    await stop(task)
