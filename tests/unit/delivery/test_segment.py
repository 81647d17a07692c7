"""Spool segments on real files: round trip, torn and corrupt tails cut, foreign files kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from logflux_agent.delivery import segment as sg
from logflux_agent.delivery.segment import SpoolItem
from logflux_agent.delivery.spool import Spool, SpoolFull


def _item(n: int, size: int = 100) -> SpoolItem:
    body = bytes([n % 251]) * size
    return SpoolItem("kid-1", "d3JhcHBlZA==", "b" * 32, body, [0], [size], {"in": 1}, 1000.0 + n)


def _spool(d: Path, max_bytes: int = 10_000_000, segment_bytes: int = 64 * 1024) -> Spool:
    s = Spool(d, max_bytes=max_bytes, segment_bytes=segment_bytes)
    s.open()
    return s


async def _fill(s: Spool, n: int, size: int = 100) -> None:
    for i in range(n):
        await s.append([_item(i, size)])


async def _drain(s: Spool) -> list[SpoolItem]:
    out = []
    while (p := s.peek()) is not None:
        out.append(p.item)
        await s.accepted(p)
    return out


def test_records_round_trip_in_order_across_segments_and_restart(tmp_path: Path) -> None:
    s = _spool(tmp_path)
    asyncio.run(_fill(s, 50, 4000))
    assert s.segments > 1
    s.close()
    again = _spool(tmp_path)
    items = asyncio.run(_drain(again))
    assert [i.created for i in items] == [1000.0 + n for n in range(50)]
    assert items[3].body == bytes([3]) * 4000 and items[3].key_id == "kid-1"
    assert list(tmp_path.glob("*.seg")) == [] and again.bytes == 0


def test_accepted_records_are_not_replayed_after_restart(tmp_path: Path) -> None:
    s = _spool(tmp_path)

    async def go() -> None:
        await _fill(s, 5)
        for _ in range(3):
            p = s.peek()
            assert p is not None
            await s.accepted(p)

    asyncio.run(go())
    s.close()
    items = asyncio.run(_drain(_spool(tmp_path)))
    assert [i.created for i in items] == [1003.0, 1004.0]


def test_torn_tail_is_cut_and_the_intact_records_kept(tmp_path: Path) -> None:
    s = _spool(tmp_path)
    asyncio.run(_fill(s, 4))
    s.close()
    (path,) = tmp_path.glob("*.seg")
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size - 30)  # mid-record
    again = _spool(tmp_path)
    assert again.cut_records == 1
    assert [i.created for i in asyncio.run(_drain(again))] == [1000.0, 1001.0, 1002.0]


def test_flipped_byte_cuts_from_the_corrupt_record(tmp_path: Path) -> None:
    s = _spool(tmp_path)
    asyncio.run(_fill(s, 4))
    s.close()
    (path,) = tmp_path.glob("*.seg")
    found = sg.scan(path)
    offset = found.records[1][0] + 8 + 50
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    again = _spool(tmp_path)
    assert again.cut_records == 1
    assert [i.created for i in asyncio.run(_drain(again))] == [1000.0]


def test_unknown_version_and_garbage_are_kept_aside_not_deleted(tmp_path: Path) -> None:
    (tmp_path / "0000000000000007.seg").write_bytes(sg.MAGIC + bytes([9]) + b"future")
    (tmp_path / "0000000000000008.seg").write_bytes(b"not a spool at all")
    s = _spool(tmp_path)
    assert s.aside == 2 and s.segments == 0
    assert sorted(p.name for p in (tmp_path / "aside").iterdir()) == [
        "0000000000000007.seg",
        "0000000000000008.seg",
    ]
    asyncio.run(_fill(s, 1))  # new segments number after the ones set aside
    assert [p.name for p in tmp_path.glob("*.seg")] == ["0000000000000009.seg"]


def test_torn_header_only_segment_does_not_stop_start(tmp_path: Path) -> None:
    (tmp_path / "0000000000000001.seg").write_bytes(sg.MAGIC[:3])
    s = _spool(tmp_path)
    assert s.peek() is None
    asyncio.run(_fill(s, 2))
    assert len(asyncio.run(_drain(s))) == 2


def test_max_bytes_refuses_and_leaves_the_spool_intact(tmp_path: Path) -> None:
    s = _spool(tmp_path, max_bytes=2000)
    asyncio.run(_fill(s, 5, 200))
    with pytest.raises(SpoolFull) as exc:
        asyncio.run(_fill(s, 20, 200))
    assert exc.value.reason == "max_bytes"
    assert s.bytes <= 2000
    s.close()
    assert len(asyncio.run(_drain(_spool(tmp_path, max_bytes=2000)))) == s.pending_requests


def test_filesystem_full_raises_spool_full(tmp_path: Path) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("/dev/full is missing: no device that answers ENOSPC")
    s = _spool(tmp_path)
    asyncio.run(_fill(s, 1))
    assert s._active is not None and s._fd is not None
    import os

    os.close(s._fd)
    s._fd = os.open(full, os.O_WRONLY)
    with pytest.raises(SpoolFull) as exc:
        asyncio.run(s.append([_item(9)]))
    assert exc.value.reason == "disk"


def test_pieces_frame_the_same_bytes_as_one_joined_record() -> None:
    item = _item(7, 3000)
    assert b"".join(sg.frame_pieces(item.head(), item.body)) == sg.frame(item.encode())


def test_one_append_writes_a_batch_in_order_and_continues_in_the_next_segment(
    tmp_path: Path,
) -> None:
    s = _spool(tmp_path, segment_bytes=64 * 1024)
    items = [_item(i, 10_000) for i in range(12)]

    async def go() -> list[int]:
        written = []
        rest = items
        while rest:
            done = await s.append(rest)
            written.append(done)
            rest = rest[done:]
        return written

    written = asyncio.run(go())
    assert sum(written) == 12 and len(written) == s.segments > 1
    s.close()
    again = _spool(tmp_path, segment_bytes=64 * 1024)
    assert [i.created for i in asyncio.run(_drain(again))] == [1000.0 + n for n in range(12)]


def test_append_takes_only_what_fits_under_max_bytes(tmp_path: Path) -> None:
    s = _spool(tmp_path, max_bytes=3000)
    done = asyncio.run(s.append([_item(i, 500) for i in range(10)]))
    assert 0 < done < 10 and s.bytes <= 3000 and s.pending_requests == done


def test_interval_mode_syncs_written_data_while_no_batch_arrives(tmp_path: Path) -> None:
    s = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=64 * 1024, fsync="interval")
    s.open()
    assert s.fsync_interval == 1.0

    async def go() -> None:
        await s.append([_item(1)])
        await s.append([_item(2)])  # within the interval: written, not yet synced
        assert s._dirty
        syncer = asyncio.create_task(s.sync_every(0.05))
        try:
            for _ in range(200):
                if not s._dirty:
                    break
                await asyncio.sleep(0.01)
        finally:
            syncer.cancel()
        assert not s._dirty

    asyncio.run(go())


def test_an_accepted_count_on_a_full_disk_waits_and_is_written_later(tmp_path: Path) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("/dev/full is missing: no device that answers ENOSPC")
    seg = tmp_path / "0000000000000001.seg"
    seg.write_bytes(sg.HEADER)
    sg.acked_path(seg).symlink_to(full)  # every write there answers ENOSPC
    assert sg.grow_acked(seg, 2) is False
    sg.acked_path(seg).unlink()
    assert sg.grow_acked(seg, 3) is True and sg.acked_count(seg) == 3
