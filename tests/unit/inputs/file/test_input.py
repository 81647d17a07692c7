"""The file input against real files: discovery, start positions, checkpoints, limits."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import structlog

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import FakeClock
from logflux_agent.config.model import MultilineConfig
from logflux_agent.errors import ConfigError
from logflux_agent.inputs.file import FileInput
from logflux_agent.inputs.file.identity import marker_key
from logflux_agent.observe import metrics
from logflux_agent.packed import Lines
from logflux_agent.record import Record
from tests.support.collector import Collector
from tests.support.fileinput import (
    append_bytes,
    checkpointer_for,
    counter,
    gauge,
    make_config,
    make_store,
    open_fds_under,
    running,
    started,
    truncate,
    write_lines,
)
from tests.support.wait import async_wait_until


def offsets(store: CheckpointStore) -> dict[str, int]:
    return {v["path"]: v["offset"] for _k, v in store.items("file:") if "offset" in v}


# ---- reading and following ------------------------------------------------------------------


async def test_reads_a_file_and_follows_appends(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, ["one", "two"])
    store = make_store(tmp_path)
    config = make_config(tmp_path, labels={"service": "api"})
    async with running(config, store) as (_inp, got):
        await got.wait_count(2)
        write_lines(log, ["three", "four\r"])
        await got.wait_count(4)
    assert got.messages() == ["one", "two", "three", "four"]
    first = got.records[0]
    assert first.source == str(log)
    assert first.level == 7
    assert first.attributes is config.labels
    assert offsets(store) == {str(log): log.stat().st_size}


async def test_every_emitted_list_ends_with_a_token_at_the_offset_after_its_last_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    lines = [f"line {i:05d}" for i in range(3000)]
    write_lines(log, lines)
    lists: list[list[Record]] = []
    collector = Collector(commit=True, on_emit=lambda records: lists.append(list(records)))
    async with running(
        make_config(tmp_path, read_chunk_bytes=4096), make_store(tmp_path), collector=collector
    ) as (_inp, got):
        await got.wait_count(3000)
    assert got.messages() == lines
    assert len(lists) > 5
    data = log.read_bytes()
    seen = 0
    for records in lists:
        seen += len(records)
        token = records[-1].ack
        assert token is not None
        assert token.position == len(b"".join(f"{line}\n".encode() for line in lines[:seen]))
        assert data[token.position - 1 : token.position] == b"\n"


async def test_without_processors_a_read_is_emitted_packed_and_with_level_detection_as_records(
    tmp_path: Path,
) -> None:
    # The hot path's shape (packed.py): one Lines per read, its token on the last line.
    write_lines(tmp_path / "app.log", ["a", "ERROR b", "c"])
    for detect, kind in ((False, Lines), (True, list)):
        emitted: list[object] = []
        collector = Collector(commit=True, on_emit=emitted.append)
        config = make_config(tmp_path, detect_level=detect)
        async with running(config, make_store(tmp_path / kind.__name__), collector=collector) as (
            _inp,
            got,
        ):
            await got.wait_count(3)
        assert {type(e) for e in emitted} == {kind}
        assert [r.message for r in got.records] == ["a", "ERROR b", "c"]
        assert [r.ack is not None for r in got.records] == [False, False, True]


async def test_detect_level_guesses_levels(tmp_path: Path) -> None:
    write_lines(tmp_path / "app.log", ["2026-11-28 ERROR boom", "INFO fine", "[warn] hmm", "x"])
    async with running(make_config(tmp_path, detect_level=True), make_store(tmp_path)) as (
        _inp,
        got,
    ):
        await got.wait_count(4)
    assert [r.level for r in got.records] == [4, 7, 5, 7]


async def test_glob_excludes_and_double_star(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_lines(tmp_path / "top.log", ["top"])
    write_lines(tmp_path / "a" / "mid.log", ["mid"])
    write_lines(tmp_path / "a" / "b" / "deep.log", ["deep"])
    write_lines(tmp_path / "a" / "b" / "old.log.gz", ["gz"])
    write_lines(tmp_path / "a" / "b" / "skip.log", ["skip"])
    write_lines(tmp_path / "a" / ".hidden.log", ["hidden"])
    config = make_config(tmp_path, "**/*.log*", exclude=("*.gz", str(tmp_path / "**/skip.*")))
    async with running(config, make_store(tmp_path)) as (inp, got):
        await got.wait_count(3)
        await started(inp)
        (tmp_path / "a" / "new").mkdir()
        write_lines(tmp_path / "a" / "new" / "later.log", ["later"])
        await got.wait_count(4)
    assert sorted(got.messages()) == ["deep", "later", "mid", "top"]


# ---- start positions ------------------------------------------------------------------------


async def test_default_start_first_run_end_for_existing_beginning_for_new(tmp_path: Path) -> None:
    existing = tmp_path / "existing.log"
    write_lines(existing, ["history 1", "history 2"])
    append_bytes(existing, b"partial at the end")
    store = make_store(tmp_path)
    config = make_config(tmp_path, start_at=None)
    async with running(config, store) as (inp, got):
        await started(inp)
        await async_wait_until(
            lambda: str(existing) in offsets(store),
            10,
            message="the start position of the existing file",
        )
        append_bytes(existing, b" completed\nfresh line\n")
        write_lines(tmp_path / "created.log", ["created 1", "created 2"])
        await got.wait_count(4)
    assert got.messages(existing) == ["partial at the end completed", "fresh line"]
    assert got.messages(tmp_path / "created.log") == ["created 1", "created 2"]
    assert store.get(marker_key(config.id)) is not None

    # A later start: the marker says this input ran before, so a file it never saw is new.
    write_lines(tmp_path / "while-down.log", ["written while stopped"])
    write_lines(existing, ["appended while stopped"])
    async with running(config, store) as (_inp, got2):
        await got2.wait_count(2)
    assert sorted(got2.messages()) == ["appended while stopped", "written while stopped"]


async def test_a_file_started_at_its_end_is_not_reread_after_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "quiet.log"
    write_lines(log, ["old"] * 50)
    store = make_store(tmp_path)
    config = make_config(tmp_path, start_at=None)
    async with running(config, store) as (inp, _got):
        await started(inp)
        await async_wait_until(
            lambda: offsets(store).get(str(log)) == log.stat().st_size,
            10,
            message="the end position recorded",
        )
    async with running(config, store) as (_inp, got):
        write_lines(log, ["new"])
        await got.wait_count(1)
    assert got.messages() == ["new"]


async def test_explicit_end_applies_at_every_start_but_not_to_files_created_while_running(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path)
    config = make_config(tmp_path, start_at="end")
    write_lines(tmp_path / "a.log", ["a-old"])
    async with running(config, store) as (inp, got):
        await started(inp)
        write_lines(tmp_path / "b.log", ["b-new"])
        await got.wait_count(1)
    assert got.messages() == ["b-new"]
    write_lines(tmp_path / "c.log", ["c-old"])
    async with running(config, store) as (inp, got):
        await started(inp)
        write_lines(tmp_path / "c.log", ["c-new"])
        await got.wait_count(1)
    assert got.messages() == ["c-new"]


async def test_explicit_beginning_reads_everything(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.log", ["a1", "a2"])
    async with running(make_config(tmp_path, start_at="beginning"), make_store(tmp_path)) as (
        _inp,
        got,
    ):
        await got.wait_count(2)
    assert got.messages() == ["a1", "a2"]


# ---- checkpoints ----------------------------------------------------------------------------


async def test_restart_continues_exactly_after_the_committed_offset(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    lines = [f"line-{i:03d}" for i in range(100)]
    write_lines(log, lines)
    state_dir = tmp_path / "state"
    store = CheckpointStore(state_dir)
    store.load()
    config = make_config(tmp_path)
    async with running(config, store, collector=Collector(commit=False)) as (_inp, got):
        await got.wait_count(100)
        token = got.records[-1].ack
        assert token is not None
        # The pipeline acknowledged the first 60 lines only.
        checkpointer_for(store).commit(token.stream, sum(len(line) + 1 for line in lines[:60]))
    assert store.flush()

    reloaded = CheckpointStore(state_dir)
    reloaded.load()
    async with running(config, reloaded) as (_inp, again):
        await again.wait_count(40)
        write_lines(log, ["after restart"])
        await again.wait_count(41)
    assert again.messages() == [*lines[60:], "after restart"]
    assert offsets(reloaded) == {str(log): log.stat().st_size}


async def test_checkpoint_state_has_everything_needed_to_resume(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, ["short"])
    store = make_store(tmp_path)
    config = make_config(tmp_path, fingerprint_bytes=16)
    async with running(config, store) as (_inp, got):
        await got.wait_count(1)
        write_lines(log, ["a longer second line"])
        await got.wait_count(2)
    st = log.stat()
    [state] = [v for _k, v in store.items("file:") if "offset" in v]
    assert isinstance(state.pop("saved_at"), float)  # when it was known (wall time)
    assert state == {
        "input": config.id,
        "path": str(log),
        "dev": st.st_dev,
        "ino": st.st_ino,
        "fingerprint_sha256": hashlib.sha256(log.read_bytes()[:16]).hexdigest(),
        "fingerprint_len": 16,
        "offset": st.st_size,
    }


async def test_a_new_file_reusing_the_inode_is_read_from_its_beginning(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    old = [f"old-{i}" for i in range(50)]
    write_lines(log, old)
    store = make_store(tmp_path)
    config = make_config(tmp_path)
    async with running(config, store) as (_inp, got):
        await got.wait_count(50)
    old_ino = log.stat().st_ino
    log.unlink()
    new = [f"new-{i} {'x' * 30}" for i in range(80)]
    write_lines(log, new)
    new_ino = log.stat().st_ino
    if new_ino != old_ino:
        # This filesystem did not hand the inode out again: make the checkpoint say it did, so
        # only the fingerprint can tell the two files apart.
        [(key, state)] = [(k, v) for k, v in store.items("file:") if "offset" in v]
        store.remove(key)
        state["ino"] = new_ino
        store.put(key.rsplit(":", 1)[0] + f":{new_ino}", state)
    async with running(config, store) as (_inp, got2):
        await got2.wait_count(80)
    assert got2.messages() == new


async def test_a_file_truncated_while_stopped_is_read_from_zero(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, [f"first-{i}" for i in range(20)])
    store = make_store(tmp_path)
    config = make_config(tmp_path)
    async with running(config, store) as (_inp, got):
        await got.wait_count(20)
    truncate(log)
    write_lines(log, ["first-0 again"])
    async with running(config, store) as (_inp, got2):
        await got2.wait_count(1)
    assert got2.messages() == ["first-0 again"]


async def test_entries_of_files_gone_for_good_are_garbage_collected(tmp_path: Path) -> None:
    keep = tmp_path / "keep.log"
    gone = tmp_path / "gone.log"
    write_lines(keep, ["k"])
    write_lines(gone, ["g"])
    store = make_store(tmp_path)
    config = make_config(tmp_path, rescan_interval=1.0)
    async with running(config, store) as (_inp, got):
        await got.wait_count(2)
    assert set(offsets(store)) == {str(keep), str(gone)}
    gone.unlink()
    clock = FakeClock()
    async with running(config, store, clock=clock, watch=False) as (_inp, _got):
        await async_wait_until(
            lambda: str(gone) not in offsets(store),
            10,
            message="the entry of the deleted file to be dropped",
        )
        assert clock.monotonic() >= 30.0
    assert set(offsets(store)) == {str(keep)}
    assert store.get(marker_key(config.id)) is not None


# ---- discovery ------------------------------------------------------------------------------


async def test_new_files_are_picked_up_by_inotify(tmp_path: Path) -> None:
    config = make_config(tmp_path, rescan_interval=3600.0)
    async with running(config, make_store(tmp_path)) as (inp, got):
        await started(inp)
        assert inp.snapshot()["watching"] == [str(tmp_path)]
        write_lines(tmp_path / "new.log", ["hello"])
        await got.wait_count(1)
        write_lines(tmp_path / "new.log", ["again"])
        await got.wait_count(2)
    assert got.messages() == ["hello", "again"]


async def test_new_files_are_picked_up_by_the_rescan_when_events_are_missed(tmp_path: Path) -> None:
    config = make_config(tmp_path, rescan_interval=0.05)
    async with running(config, make_store(tmp_path), watch=False) as (inp, got):
        await started(inp)
        assert inp.snapshot()["watching"] == []
        write_lines(tmp_path / "new.log", ["found by rescan"])
        await got.wait_count(1)
        write_lines(tmp_path / "new.log", ["growth found by rescan"])
        await got.wait_count(2)
    assert got.messages() == ["found by rescan", "growth found by rescan"]


async def test_a_thousand_files_in_one_glob(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(1000):
        write_lines(logs / f"f{i:04d}.log", [f"file {i} line 0"])
    config = make_config(logs)
    async with running(config, make_store(tmp_path)) as (inp, got):
        await got.wait_count(1000, timeout=60)
        assert gauge(metrics.FILES_WATCHED, input=inp.name) == 1000
        for i in (7, 500, 999):
            write_lines(logs / f"f{i:04d}.log", [f"file {i} line 1"])
        await got.wait_count(1003)
    assert len(set(got.messages())) == 1003
    assert sorted(m for m in got.messages() if m.endswith("line 1")) == [
        "file 500 line 1",
        "file 7 line 1",
        "file 999 line 1",
    ]


async def test_symlinks_are_followed_once_and_loops_reported(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    elsewhere = tmp_path / "elsewhere"
    logs.mkdir()
    elsewhere.mkdir()
    target = elsewhere / "real.txt"
    write_lines(target, ["via link"])
    (logs / "a.log").symlink_to(target)
    (logs / "b.log").symlink_to(target)
    (logs / "loop1.log").symlink_to(logs / "loop2.log")
    (logs / "loop2.log").symlink_to(logs / "loop1.log")
    config = make_config(logs)
    async with running(config, make_store(tmp_path)) as (inp, got):
        await got.wait_count(1)
        await started(inp)
        # The target's directory is watched too: growth is seen without a rescan.
        assert str(elsewhere) in inp.snapshot()["watching"]
        write_lines(target, ["appended to the target"])
        await got.wait_count(2)
        assert counter(metrics.INPUT_ERRORS, input=inp.name, reason="symlink_loop") >= 2
    assert got.messages() == ["via link", "appended to the target"]
    assert got.records[0].source == str(logs / "a.log")


async def test_a_vanished_directory_is_reported_and_found_again(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    write_lines(sub / "a.log", ["before"])
    config = make_config(sub, rescan_interval=0.05, close_inactive=0.2)
    with structlog.testing.capture_logs() as logs:
        async with running(config, make_store(tmp_path)) as (inp, got):
            await got.wait_count(1)
            shutil.rmtree(sub)
            await async_wait_until(
                lambda: counter(metrics.INPUT_ERRORS, input=inp.name, reason="vanished") >= 3,
                10,
                message="the vanished directory to be counted on several rescans",
            )
            sub.mkdir()
            write_lines(sub / "b.log", ["after"])
            await got.wait_count(2)
            await async_wait_until(
                lambda: inp.snapshot()["watching"] == [str(sub)],
                10,
                message="the watch on the new directory",
            )
            write_lines(sub / "b.log", ["more"])
            await got.wait_count(3)
    assert got.messages() == ["before", "after", "more"]
    vanished = [e for e in logs if e.get("reason") == "vanished" and e["event"] == "file.problem"]
    assert len(vanished) == 1
    assert vanished[0]["path"] == str(sub)


# ---- content handling -----------------------------------------------------------------------


async def test_long_lines_are_split(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.log", ["short", "x" * 40, "end"])
    config = make_config(tmp_path, max_line_bytes=16)
    async with running(config, make_store(tmp_path)) as (inp, got):
        await got.wait_count(5)
        assert counter(metrics.LONG_LINES, input=inp.name, action="split") == 1
    assert got.messages() == ["short", "x" * 16, "x" * 16, "x" * 8, "end"]


async def test_long_lines_are_truncated(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    write_lines(log, ["short", "y" * 40, "end"])
    store = make_store(tmp_path)
    config = make_config(tmp_path, max_line_bytes=16, long_lines="truncate")
    async with running(config, store) as (inp, got):
        await got.wait_count(3)
        assert counter(metrics.LONG_LINES, input=inp.name, action="truncate") == 1
    assert got.messages() == ["short", "y" * 16, "end"]
    assert offsets(store) == {str(log): log.stat().st_size}


async def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"good\nbad \xff\xfe\nutf8 \xc3\xa9\n")
    async with running(make_config(tmp_path), make_store(tmp_path)) as (inp, got):
        await got.wait_count(3)
        assert counter(metrics.INVALID_UTF8, input=inp.name) == 1
        assert counter(metrics.INPUT_ENTRIES, input=inp.name) == 3
        assert counter(metrics.INPUT_BYTES, input=inp.name) == (tmp_path / "a.log").stat().st_size
    assert got.messages() == ["good", "bad \ufffd\ufffd", "utf8 \u00e9"]


async def test_a_binary_file_is_skipped_with_one_warning(tmp_path: Path) -> None:
    (tmp_path / "core.log").write_bytes(b"\x7fELF\x00\x00\x01" + bytes(range(256)) * 4)
    write_lines(tmp_path / "text.log", ["text"])
    with structlog.testing.capture_logs() as logs:
        async with running(make_config(tmp_path, rescan_interval=0.05), make_store(tmp_path)) as (
            inp,
            got,
        ):
            await got.wait_count(1)
            append_bytes(tmp_path / "core.log", b"more\n")
            write_lines(tmp_path / "text.log", ["text 2"])
            await got.wait_count(2)
            assert counter(metrics.INPUT_ERRORS, input=inp.name, reason="binary") == 1
    assert got.messages() == ["text", "text 2"]
    warnings = [e for e in logs if e.get("reason") == "binary"]
    assert len(warnings) == 1
    assert warnings[0]["path"] == str(tmp_path / "core.log")


async def test_partial_line_is_emitted_after_the_timeout_and_not_again(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"complete\npartial")
    store = make_store(tmp_path)
    clock = FakeClock()
    config = make_config(tmp_path, partial_line_timeout=5.0)
    async with running(config, store, clock=clock) as (_inp, got):
        await got.wait_count(2)
        append_bytes(log, b" rest\nnext\n")
        await got.wait_count(4)
    assert got.messages() == ["complete", "partial", " rest", "next"]
    waited = got.records[1].timestamp - got.records[0].timestamp
    assert waited >= 5.0
    assert offsets(store) == {str(log): log.stat().st_size}


async def test_a_partial_line_completed_in_time_is_one_line(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"begin")
    config = make_config(tmp_path, partial_line_timeout=3600.0)
    async with running(config, make_store(tmp_path)) as (inp, got):
        await async_wait_until(
            lambda: inp.snapshot()["holding"] == 1, 10, message="the partial line to be held"
        )
        append_bytes(log, b"-end\n")
        await got.wait_count(1)
    assert got.messages() == ["begin-end"]


JAVA = [
    "2026-11-28 10:00:00 ERROR request failed",
    "java.lang.IllegalStateException: boom",
    "\tat com.example.Foo.bar(Foo.java:10)",
    "\tat com.example.Main.main(Main.java:5)",
    "2026-11-28 10:00:01 INFO next",
    "2026-11-28 10:00:02 WARN last",
    "\tat x",
]


async def test_multiline_java_stack_traces_with_timeout_flush(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, JAVA)
    store = make_store(tmp_path)
    clock = FakeClock()
    config = make_config(
        tmp_path,
        detect_level=True,
        multiline=MultilineConfig(start_pattern=r"^\d{4}-\d\d-\d\d ", timeout=2.0),
    )
    async with running(config, store, clock=clock) as (_inp, got):
        await got.wait_count(3)
    assert got.messages() == ["\n".join(JAVA[:4]), JAVA[4], "\n".join(JAVA[5:])]
    assert [r.level for r in got.records] == [4, 7, 5]
    assert got.records[2].timestamp - got.records[1].timestamp >= 2.0
    assert offsets(store) == {str(log): log.stat().st_size}


async def test_multiline_held_entry_is_reread_after_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, JAVA[:5])
    store = make_store(tmp_path)
    config = make_config(
        tmp_path, multiline=MultilineConfig(continue_pattern=r"^\s|^java\.", timeout=3600.0)
    )
    async with running(config, store) as (_inp, got):
        await got.wait_count(1)
    assert got.messages() == ["\n".join(JAVA[:4])]
    write_lines(log, ["\tat continued.after.restart"])
    async with running(config, store) as (inp, got2):
        await async_wait_until(
            lambda: inp.snapshot()["holding"] == 1, 10, message="the entry to be held again"
        )
        write_lines(log, ["2026-11-28 10:00:03 INFO closing"])
        await got2.wait_count(1)
    assert got2.messages() == [JAVA[4] + "\n\tat continued.after.restart"]


# ---- resources ------------------------------------------------------------------------------


async def test_max_open_files_is_respected(tmp_path: Path) -> None:
    for i in range(30):
        write_lines(tmp_path / f"f{i:02d}.log", [f"{i}-a", f"{i}-b"])
    seen_open: list[int] = []
    config = make_config(tmp_path, max_open_files=4)

    def watch(_records: list[Record]) -> None:
        seen_open.append(len(open_fds_under(tmp_path)))

    async with running(
        config, make_store(tmp_path), collector=Collector(commit=True, on_emit=watch)
    ) as (
        inp,
        got,
    ):
        await got.wait_count(60)
        for i in range(30):
            write_lines(tmp_path / f"f{i:02d}.log", [f"{i}-c"])
        await got.wait_count(90)
        assert inp.snapshot()["open"] <= 4
    assert max(seen_open) <= 4
    for i in range(30):
        assert got.messages(tmp_path / f"f{i:02d}.log") == [f"{i}-a", f"{i}-b", f"{i}-c"]


async def test_idle_files_are_closed_and_reopened_on_change(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    write_lines(log, ["one"])
    config = make_config(tmp_path, close_inactive=0.1, rescan_interval=0.05)
    async with running(config, make_store(tmp_path)) as (inp, got):
        await got.wait_count(1)
        await async_wait_until(
            lambda: inp.snapshot()["open"] == 0, 10, message="the idle file to be closed"
        )
        assert open_fds_under(tmp_path) == []
        write_lines(log, ["two"])
        await got.wait_count(2)
    assert got.messages() == ["one", "two"]


async def test_busy_and_quiet_files_take_turns(tmp_path: Path) -> None:
    busy = tmp_path / "busy.log"
    quiet = tmp_path / "quiet.log"
    write_lines(busy, [f"busy {i:06d} {'.' * 50}" for i in range(50_000)])
    write_lines(quiet, ["quiet"])
    config = make_config(tmp_path, read_chunk_bytes=16384)
    async with running(config, make_store(tmp_path)) as (_inp, got):
        await got.wait_count(50_001, timeout=60)
    position = got.messages().index("quiet")
    # One bounded chunk per turn: the quiet file did not wait for the whole busy one.
    assert position < 1000


def test_unusable_settings_are_config_errors_listing_every_problem(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        paths=(),
        max_line_bytes=2,
        read_chunk_bytes=0,
        rescan_interval=0.0,
        multiline=MultilineConfig(start_pattern="(unclosed"),
    )
    with pytest.raises(ConfigError) as caught:
        FileInput(config, checkpointer_for(make_store(tmp_path)))
    text = str(caught.value)
    for word in (
        "paths",
        "max_line_bytes",
        "read_chunk_bytes",
        "rescan_interval",
        "regular expression",
    ):
        assert word in text
    assert len(caught.value.problems) == 5
