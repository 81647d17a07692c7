"""The file input's stable record ids, recomputed here from docs/record-ids.md and the bytes on
disk: the same line gets the same id however it is read (chunk sizes, a restart, a rename),
and other lines or another file generation never share it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from logflux_agent.config.model import FileInputConfig, MultilineConfig
from logflux_agent.record import Record
from tests.support.collector import Collector
from tests.support.fileinput import (
    append_bytes,
    checkpointer_for,
    make_store,
    running,
    write_lines,
)
from tests.support.fileinput import (
    make_config as base_config,
)
from tests.support.wait import async_wait_until


def ident(config: FileInputConfig, path: Path) -> str:
    """The documented identity: SHA-256 of input, dev, ino and the first line (≤ 1024 bytes)."""
    st = path.stat()
    head = path.read_bytes()[:1024]
    if b"\n" in head:
        head = head[: head.index(b"\n") + 1]
    seed = f"{config.id}\n{st.st_dev}\n{st.st_ino}\n".encode() + head
    return hashlib.sha256(seed).hexdigest()[:16]


def line_starts(data: bytes) -> list[int]:
    """The byte offset of every complete line of ``data``."""
    starts, pos = [], 0
    while (nl := data.find(b"\n", pos)) >= 0:
        starts.append(pos)
        pos = nl + 1
    return starts


def expected(config: FileInputConfig, path: Path) -> list[str]:
    prefix = f"f:{ident(config, path)}:"
    return [f"{prefix}{s}" for s in line_starts(path.read_bytes())]


def make_config(tmp_path: Path, **overrides: Any) -> FileInputConfig:
    """The helpers' config with ids on (the default; explicit so the tests say it)."""
    return base_config(tmp_path, **{"record_ids": True, **overrides})


async def read_all(config: FileInputConfig, tmp_path: Path, n: int, **kw: Any) -> list[Record]:
    async with running(config, make_store(tmp_path / kw.pop("state", "s")), **kw) as (_i, got):
        await got.wait_count(n)
    return got.records


LINES = ["first line", "", "ünïcødé ✓ line", "crlf line\r", "x" * 300, "last"]


async def test_ids_are_identity_and_line_start_offset_as_documented(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, LINES)
    config = make_config(tmp_path)
    records = await read_all(config, tmp_path, len(LINES))
    assert [r.rid for r in records] == expected(config, log)
    assert len({r.rid for r in records}) == len(LINES)


async def test_the_same_ids_whatever_the_read_chunk_size(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, LINES * 20)
    config = make_config(tmp_path)
    big = await read_all(config, tmp_path, 120, state="a")
    small = await read_all(
        make_config(tmp_path, id=config.id, read_chunk_bytes=7), tmp_path, 120, state="b"
    )
    assert [r.rid for r in small] == [r.rid for r in big] == expected(config, log)


async def test_a_restart_from_a_committed_offset_gives_the_re_read_lines_their_ids(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    lines = [f"line-{i:03d}" for i in range(100)]
    write_lines(log, lines)
    config = make_config(tmp_path)
    store = make_store(tmp_path)
    async with running(config, store, collector=Collector(commit=False)) as (_inp, got):
        await got.wait_count(100)
        token = got.records[-1].ack
        assert token is not None
        checkpointer_for(store).commit(token.stream, sum(len(x) + 1 for x in lines[:60]))
    first = {r.message: r.rid for r in got.records}
    assert store.flush()
    reloaded = make_store(tmp_path)
    async with running(config, reloaded) as (_inp, again):
        await again.wait_count(40)
    assert [r.message for r in again.records] == lines[60:]
    assert all(r.rid == first[r.message] for r in again.records)


async def test_split_parts_are_named_by_the_offset_of_their_first_byte(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, ["short", "a" * 25, "end"])
    config = make_config(tmp_path, max_line_bytes=10)
    records = await read_all(config, tmp_path, 5)
    prefix = f"f:{ident(config, log)}:"
    assert [r.message for r in records] == ["short", "a" * 10, "a" * 10, "a" * 5, "end"]
    assert [r.rid for r in records] == [f"{prefix}{n}" for n in (0, 6, 16, 26, 32)]


async def test_split_parts_of_a_line_written_in_pieces_get_the_same_ids(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    config = make_config(tmp_path, max_line_bytes=10, partial_line_timeout=3600.0)
    async with running(config, make_store(tmp_path)) as (_inp, got):
        # Each piece read on its own: the split happens while the line is still incomplete.
        for piece, count in ((b"short\naaaaaaa", 1), (b"aaaaaaaaaaaa", 2), (b"aaaaaa\nend\n", 5)):
            append_bytes(log, piece)
            await got.wait_count(count)
    prefix = f"f:{ident(config, log)}:"
    assert [r.rid for r in got.records] == [f"{prefix}{n}" for n in (0, 6, 16, 26, 32)]


async def test_multiline_entries_are_named_by_their_first_lines_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    lines = ["ERROR one", "  at a", "  at b", "INFO two", "ERROR three", "  at c", "INFO four"]
    write_lines(log, lines * 10)
    starts = line_starts(log.read_bytes())
    begins = [starts[i] for i, line in enumerate(lines * 10) if not line.startswith(" ")]
    multiline = MultilineConfig(start_pattern=r"^\S", timeout=0.2)
    config = make_config(tmp_path, multiline=multiline)
    prefix = f"f:{ident(config, log)}:"
    big = await read_all(config, tmp_path, 40, state="a")
    assert [r.rid for r in big] == [f"{prefix}{b}" for b in begins]
    small = await read_all(
        make_config(tmp_path, id=config.id, multiline=multiline, read_chunk_bytes=5),
        tmp_path,
        40,
        state="b",
    )
    assert [(r.message, r.rid) for r in small] == [(r.message, r.rid) for r in big]


async def test_a_partial_line_flushed_at_its_timeout_names_its_end_and_the_rest_its_start(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"one\nhalf a li")
    config = make_config(tmp_path, partial_line_timeout=0.2)
    async with running(config, make_store(tmp_path)) as (_inp, got):
        await got.wait_count(2)
        append_bytes(log, b"ne\ntwo\n")
        await got.wait_count(4)
    prefix = f"f:{ident(config, log)}:"
    assert [r.message for r in got.records] == ["one", "half a li", "ne", "two"]
    assert [r.rid for r in got.records] == [
        f"{prefix}0",
        f"{prefix}4-13",
        f"{prefix}13",
        f"{prefix}16",
    ]


async def test_an_empty_completion_after_a_flush_does_not_shift_the_next_lines_id(
    tmp_path: Path,
) -> None:
    """The newline completing a flushed line ships nothing; the next line starts after it,
    whether it arrives in the same read or a later one."""
    prefix_ids = []
    for together in (True, False):
        sub = tmp_path / ("together" if together else "apart")
        sub.mkdir()
        log = sub / "app.log"
        log.write_bytes(b"head")
        config = make_config(sub, id="same-id", partial_line_timeout=0.2)
        async with running(config, make_store(sub)) as (_inp, got):
            await got.wait_count(1)
            if together:
                append_bytes(log, b"\nnext\n")
            else:
                append_bytes(log, b"\n")
                await async_wait_until(
                    lambda log=log: os.path.getsize(log) == 5, 5, message="written"
                )
                append_bytes(log, b"next\n")
            await got.wait_count(2)
        assert [r.message for r in got.records] == ["head", "next"]
        prefix_ids.append(got.records[1].rid.rsplit(":", 1)[1] if got.records[1].rid else None)
    assert prefix_ids == ["5", "5"]


async def test_a_renamed_file_keeps_its_ids_and_the_new_file_has_other_ones(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, [f"old {i}" for i in range(20)])
    config = make_config(tmp_path, paths=(str(tmp_path / "app.log*"),))
    before = expected(config, log)
    async with running(config, make_store(tmp_path)) as (_inp, got):
        await got.wait_count(20)
        os.rename(log, tmp_path / "app.log.1")
        write_lines(tmp_path / "app.log.1", [f"old {i}" for i in range(20, 25)])
        write_lines(log, [f"old {i}" for i in range(20)])  # the same text, a new file
        await got.wait_count(45)
    by_text: dict[str, list[str | None]] = {}
    for r in got.records:
        by_text.setdefault(r.message, []).append(r.rid)
    now = expected(config, log)  # the new file at the old name
    rotated = expected(config, tmp_path / "app.log.1")
    assert rotated[:20] == before  # renamed: the same identity, the same ids
    # Each of the first 20 texts twice: once from the old file, once from the new one.
    assert [sorted(by_text[f"old {i}"]) for i in range(20)] == [
        sorted([a, b]) for a, b in zip(before, now, strict=True)
    ]
    assert [by_text[f"old {i}"] for i in range(20, 25)] == [[x] for x in rotated[20:]]
    assert len({r.rid for r in got.records}) == 45


async def test_record_ids_are_on_by_default(tmp_path: Path) -> None:
    write_lines(tmp_path / "app.log", ["a", "b"])
    assert FileInputConfig(id="app", paths=("/var/log/*.log",)).record_ids is True
    config = base_config(tmp_path)  # no record_ids given
    records = await read_all(config, tmp_path, 2)
    assert [r.rid for r in records] == expected(config, tmp_path / "app.log")


async def test_record_ids_false_leaves_every_rid_none(tmp_path: Path) -> None:
    write_lines(tmp_path / "app.log", ["a", "b"])
    records = await read_all(base_config(tmp_path, record_ids=False), tmp_path, 2)
    assert [r.rid for r in records] == [None, None]
