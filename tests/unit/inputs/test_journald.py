"""The journald input against real journal files (written by systemd-journal-remote) and the
real journalctl: mapping, filters, follow, cursor resume, restarts, fallbacks, backpressure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.clock import FakeClock
from logflux_agent.config.model import JournaldInputConfig
from logflux_agent.inputs.journald import input as journald
from logflux_agent.inputs.journald.input import JournaldInput, checkpoint_key
from logflux_agent.observe.metrics import REGISTRY
from logflux_agent.pipeline.checkpointer import Checkpointer
from tests.support.collector import Collector
from tests.support.journal import BASE_REALTIME_US, JournalWriter, journal_cursors
from tests.support.wait import async_wait_until

pytestmark = pytest.mark.timeout(60)


def errors(input_id: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "logflux_agent_input_errors_total", {"input": input_id, "reason": reason}
    )
    return value or 0.0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(tmp_path: Path) -> CheckpointStore:
    s = CheckpointStore(tmp_path / "state")
    s.load()
    return s


@pytest.fixture
def journal(tmp_path: Path) -> JournalWriter:
    (tmp_path / "j").mkdir()
    return JournalWriter(tmp_path / "j" / "system.journal")


def cfg(journal: JournalWriter, **kw: Any) -> JournaldInputConfig:
    kw.setdefault("id", uid("jd"))
    kw.setdefault("start_at", "beginning")
    if "directory" not in kw:
        kw.setdefault("files", (str(journal.path),))
    return JournaldInputConfig(**kw)


@contextlib.asynccontextmanager
async def running(inp: JournaldInput, emit: Collector) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(inp.run(emit))
    try:
        yield task
    finally:
        pid = inp.process.pid if inp.process is not None else None
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError), results
        if pid is not None:
            assert not alive(pid), "journalctl survived the cancelled input"


async def write(journal: JournalWriter, *messages: str, **fields: Any) -> None:
    await asyncio.to_thread(journal.messages, *messages, **fields)


async def test_field_mapping_and_ack_token(journal: JournalWriter, store: CheckpointStore) -> None:
    journal.append(
        [
            {
                "MESSAGE": "full",
                "PRIORITY": "3",
                "_SYSTEMD_UNIT": "nginx.service",
                "SYSLOG_IDENTIFIER": "nginx",
                "_HOSTNAME": "web-01",
                "_PID": "812",
                "_COMM": "nginx",
                "_UID": "33",
                "NOT_WANTED": "x",
            },
            {"MESSAGE": "ident only", "SYSLOG_IDENTIFIER": "cron"},
            {"MESSAGE": b"bin\nary \xff\xfe", "PRIORITY": "7"},
            {"MESSAGE": "l" * 6000},
        ]
    )
    c = cfg(journal, labels={"env": "test"}, include_fields=("_UID",))
    inp = JournaldInput(c, Checkpointer(store))
    got = Collector()
    async with running(inp, got):
        await async_wait_until(lambda: len(got.records) >= 4, 20, message="4 entries")
    r0, r1, r2, r3 = got.records
    assert (r0.message, r0.level, r0.source) == ("full", 4, "nginx.service")
    assert r0.timestamp == pytest.approx(BASE_REALTIME_US / 1e6)
    assert r0.attributes == {
        "_SYSTEMD_UNIT": "nginx.service",
        "SYSLOG_IDENTIFIER": "nginx",
        "_HOSTNAME": "web-01",
        "_PID": "812",
        "_COMM": "nginx",
        "_UID": "33",
        "env": "test",
    }
    assert (r1.message, r1.level, r1.source) == ("ident only", 7, "cron")
    assert r1.timestamp == pytest.approx(BASE_REALTIME_US / 1e6 + 0.001)
    assert (r2.message, r2.level, r2.source) == ("bin\nary \ufffd\ufffd", 8, "journald")
    assert r2.attributes == {"env": "test"}
    assert r3.message == "l" * 6000  # longer than journalctl's 4096-byte JSON default
    assert REGISTRY.get_sample_value("logflux_agent_invalid_utf8_total", {"input": c.id}) == 1
    assert REGISTRY.get_sample_value("logflux_agent_input_entries_total", {"input": c.id}) == 4
    # One token per chunk, on its last record, carrying the journal's own cursor.
    tokens = [r.ack for r in got.records if r.ack is not None]
    assert tokens and got.records[-1].ack is not None
    assert got.records[-1].ack.position == journal_cursors(journal.path)[-1]
    assert tokens[0].stream.key == checkpoint_key(c.id)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"units": ("a.service",)}, ["a-err", "a-info"]),
        ({"units": ("a.service", "b.service")}, ["a-err", "a-info", "b-debug"]),
        ({"identifiers": ("tool",)}, ["tool-warn"]),
        ({"priority": 4}, ["a-err", "tool-warn"]),
        ({"units": ("a.service",), "priority": 3}, ["a-err"]),
    ],
)
async def test_filters(
    journal: JournalWriter, store: CheckpointStore, options: dict[str, Any], expected: list[str]
) -> None:
    journal.append(
        [
            {"MESSAGE": "a-err", "PRIORITY": "3", "_SYSTEMD_UNIT": "a.service"},
            {"MESSAGE": "a-info", "PRIORITY": "6", "_SYSTEMD_UNIT": "a.service"},
            {"MESSAGE": "b-debug", "PRIORITY": "7", "_SYSTEMD_UNIT": "b.service"},
            {"MESSAGE": "tool-warn", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "tool"},
            {
                "MESSAGE": "marker-end",
                "PRIORITY": "0",
                "_SYSTEMD_UNIT": "a.service",
                "SYSLOG_IDENTIFIER": "tool",
            },
        ]
    )
    got = Collector()
    async with running(JournaldInput(cfg(journal, **options), Checkpointer(store)), got):
        # Every filter above lets the last entry through, so its arrival means "all read".
        await async_wait_until(lambda: "marker-end" in got.messages, 20, message="marker")
    assert got.messages == [*expected, "marker-end"]


async def test_follow_start_at_end_and_appends(
    journal: JournalWriter, store: CheckpointStore
) -> None:
    journal.messages("old-1", "old-2")
    inp = JournaldInput(cfg(journal, start_at="end"), Checkpointer(store))
    got = Collector()
    async with running(inp, got):
        await async_wait_until(lambda: inp.starts == 1, 20, message="journalctl started")
        await write(journal, "new-1", "new-2")
        await async_wait_until(lambda: len(got.records) >= 2, 20, message="appended entries")
        await write(journal, "new-3")
        await async_wait_until(lambda: len(got.records) >= 3, 20, message="third entry")
    assert got.messages == ["new-1", "new-2", "new-3"]


async def test_entries_of_earlier_boots_are_not_skipped(
    journal: JournalWriter, store: CheckpointStore
) -> None:
    # journalctl --follow alone shows the current (last) boot only.
    journal.messages("boot-1 a", "boot-1 b")
    next_boot = JournalWriter(journal.path, start_realtime_us=BASE_REALTIME_US + 60_000_000)
    next_boot.messages("boot-2 a")
    got = Collector()
    async with running(JournaldInput(cfg(journal), Checkpointer(store)), got):
        await async_wait_until(lambda: len(got.records) >= 3, 20, message="3 entries")
    assert got.messages == ["boot-1 a", "boot-1 b", "boot-2 a"]


async def test_directory_follow_picks_up_a_new_journal_file(
    tmp_path: Path, store: CheckpointStore
) -> None:
    directory = tmp_path / "remote"
    directory.mkdir()
    first = JournalWriter(directory / "one.journal")
    first.messages("from-one")
    inp = JournaldInput(cfg(first, directory=str(directory)), Checkpointer(store))
    got = Collector()
    async with running(inp, got):
        await async_wait_until(lambda: got.messages == ["from-one"], 20, message="first file")
        second = JournalWriter(
            directory / "two.journal", start_realtime_us=BASE_REALTIME_US + 10_000_000
        )
        await write(second, "from-two")
        await async_wait_until(lambda: "from-two" in got.messages, 20, message="second file")
    assert got.messages == ["from-one", "from-two"]


async def test_restart_resumes_after_the_committed_cursor(
    journal: JournalWriter, tmp_path: Path
) -> None:
    journal.messages(*(f"m{i}" for i in range(5)))
    cursors = journal_cursors(journal.path)
    c = cfg(journal)
    store = CheckpointStore(tmp_path / "state")
    store.load()
    checkpointer = Checkpointer(store)
    first = JournaldInput(c, checkpointer)
    got = Collector()
    async with running(first, got):
        await async_wait_until(lambda: len(got.records) == 5, 20, message="5 entries")
    # The pipeline accepted up to m2: it commits that cursor through the input's stream.
    token = next(r.ack for r in got.records if r.ack is not None)
    checkpointer.commit(token.stream, cursors[2])
    assert store.flush()

    reloaded = CheckpointStore(tmp_path / "state")
    reloaded.load()
    assert reloaded.get(checkpoint_key(c.id)) == {"cursor": cursors[2]}
    second = JournaldInput(c, Checkpointer(reloaded))
    again = Collector()
    async with running(second, again):
        await async_wait_until(lambda: len(again.records) >= 2, 20, message="resumed entries")
        await write(journal, "m5")
        await async_wait_until(lambda: len(again.records) >= 3, 20, message="new entry")
    assert again.messages == ["m3", "m4", "m5"]


async def test_killed_journalctl_is_restarted_without_loss_or_repeat(
    journal: JournalWriter, store: CheckpointStore
) -> None:
    journal.messages("a", "b", "c")
    c = cfg(journal)
    clock = FakeClock()
    inp = JournaldInput(c, Checkpointer(store), clock=clock)
    got = Collector()
    async with running(inp, got):
        await async_wait_until(lambda: len(got.records) == 3, 20, message="first entries")
        assert inp.process is not None and inp.process.pid is not None
        victim = inp.process.pid
        os.kill(victim, signal.SIGKILL)
        await async_wait_until(lambda: inp.starts == 2, 20, message="journalctl restarted")
        assert inp.process.pid != victim
        await write(journal, "d", "e")
        await async_wait_until(lambda: len(got.records) == 5, 20, message="later entries")
    assert got.messages == ["a", "b", "c", "d", "e"]
    assert errors(c.id, "journalctl_exited") >= 1
    assert clock.sleeps and clock.sleeps[0] == journald.BACKOFF_MIN


def other_journal_cursor(tmp_path: Path, realtime_us: int) -> str:
    other = JournalWriter(tmp_path / "other.journal", start_realtime_us=realtime_us)
    other.messages("elsewhere")
    return journal_cursors(other.path)[0]


@pytest.mark.parametrize("kind", ["later", "earlier", "garbage"])
async def test_unknown_cursor_falls_back_to_the_oldest_entry_with_a_warning(
    journal: JournalWriter, tmp_path: Path, kind: str
) -> None:
    journal.messages("first", "second", "third")
    if kind == "garbage":
        cursor = "not-a-cursor"
    else:
        # "later": journalctl alone would seek past every entry and print nothing;
        # "earlier": it would start somewhere by time. Both must fall back to the oldest.
        offset = 3_600_000_000 if kind == "later" else -3_600_000_000
        cursor = other_journal_cursor(tmp_path, BASE_REALTIME_US + offset)
    c = cfg(journal)
    store = CheckpointStore(tmp_path / "state")
    store.load()
    store.put(checkpoint_key(c.id), {"cursor": cursor})
    got = Collector()
    with capture_logs() as logs:
        async with running(JournaldInput(c, Checkpointer(store)), got):
            await async_wait_until(lambda: len(got.records) == 3, 20, message="all entries")
    assert got.messages == ["first", "second", "third"]
    warnings = [e for e in logs if e["event"] == "journald.cursor_unknown"]
    assert warnings and warnings[0]["cursor"] == cursor
    assert warnings[0]["log_level"] == "warning"
    assert errors(c.id, "cursor_unknown") == 1


async def test_a_replaced_journal_file_falls_back_too(
    journal: JournalWriter, tmp_path: Path
) -> None:
    journal.messages("old-a", "old-b")
    c = cfg(journal)
    store = CheckpointStore(tmp_path / "state")
    store.load()
    store.put(checkpoint_key(c.id), {"cursor": journal_cursors(journal.path)[-1]})
    journal.path.unlink()  # vacuumed/replaced: same path, new file, new cursors
    fresh = JournalWriter(journal.path, boot_id=journal.boot_id)
    fresh.messages("new-a", "new-b")
    got = Collector()
    async with running(JournaldInput(c, Checkpointer(store)), got):
        await async_wait_until(lambda: len(got.records) == 2, 20, message="entries")
    assert got.messages == ["new-a", "new-b"]
    assert errors(c.id, "cursor_unknown") == 1


async def test_missing_journalctl_is_logged_counted_and_retried(
    journal: JournalWriter, store: CheckpointStore, tmp_path: Path
) -> None:
    journal.messages("never read")
    c = cfg(journal, journalctl=str(tmp_path / "no" / "journalctl"))
    clock = FakeClock()
    inp = JournaldInput(c, Checkpointer(store), clock=clock)
    got = Collector()
    with capture_logs() as logs:
        async with running(inp, got) as task:
            await async_wait_until(
                lambda: errors(c.id, "journalctl_missing") >= 3, 20, message="three failed attempts"
            )
            assert not task.done()
    assert got.records == []
    events = [e for e in logs if e["event"] == "journald.journalctl_missing"]
    assert events[0]["log_level"] == "error"
    assert events[0]["journalctl"] == c.journalctl
    # Backoff grows, capped.
    assert clock.sleeps[:3] == [1.0, 2.0, 4.0]
    assert max(clock.sleeps) <= journald.BACKOFF_MAX


async def test_missing_directory_is_counted_then_followed_once_it_appears(
    tmp_path: Path, store: CheckpointStore
) -> None:
    directory = tmp_path / "later"
    c = JournaldInputConfig(id=uid("dir"), directory=str(directory), start_at="beginning")
    inp = JournaldInput(c, Checkpointer(store), clock=FakeClock())
    got = Collector()
    async with running(inp, got):
        await async_wait_until(
            lambda: errors(c.id, "directory_missing") >= 2, 20, message="directory_missing counted"
        )
        directory.mkdir()
        await asyncio.to_thread(JournalWriter(directory / "x.journal").messages, "arrived")
        await async_wait_until(lambda: got.messages == ["arrived"], 20, message="entry")


async def test_missing_file_is_counted_and_the_others_followed(
    journal: JournalWriter, store: CheckpointStore, tmp_path: Path
) -> None:
    journal.messages("present")
    c = cfg(journal, files=(str(journal.path), str(tmp_path / "absent.journal")))
    got = Collector()
    async with running(JournaldInput(c, Checkpointer(store)), got):
        await async_wait_until(lambda: got.messages == ["present"], 20, message="entry")
    assert errors(c.id, "file_missing") >= 1


async def test_an_entry_over_the_size_bound_is_skipped_and_counted(
    journal: JournalWriter, store: CheckpointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journald, "MAX_ENTRY_BYTES", 4096)
    monkeypatch.setattr(journald, "READ_CHUNK_BYTES", 1024)
    journal.messages("small-1", "x" * 20_000, "small-2")
    c = cfg(journal)
    got = Collector()
    async with running(JournaldInput(c, Checkpointer(store)), got):
        await async_wait_until(lambda: "small-2" in got.messages, 20, message="entries")
    assert got.messages == ["small-1", "small-2"]
    assert errors(c.id, "entry_too_large") == 1


def wchan(pid: int) -> str:
    with open(f"/proc/{pid}/wchan") as f:
        return f.read()


async def test_blocked_emit_stops_reading_and_journalctl_blocks_on_the_pipe(
    journal: JournalWriter, store: CheckpointStore
) -> None:
    n = 3000
    body = "p" * 400
    journal.append({"MESSAGE": f"{i:05d} {body}"} for i in range(n))
    c = cfg(journal)
    inp = JournaldInput(c, Checkpointer(store))
    got = Collector()
    gate = got.gate = asyncio.Event()
    async with running(inp, got):
        await async_wait_until(lambda: got.waiting, 20, message="emit blocked")
        assert inp.process is not None and inp.process.pid is not None
        pid = inp.process.pid
        # ~1.3 MB of JSON cannot fit the pipe plus the bounded reader buffer: journalctl must
        # end up sleeping in a pipe write while nobody reads.
        await async_wait_until(
            lambda: "pipe_write" in wchan(pid), 20, message="journalctl blocked writing to its pipe"
        )
        assert got.calls == 1
        got.gate = None
        gate.set()
        await async_wait_until(lambda: len(got.records) == n, 30, message="all entries")
        assert inp.starts == 1
    assert [m[:5] for m in got.messages] == [f"{i:05d}" for i in range(n)]


async def test_cancel_while_emit_is_blocked_kills_journalctl(
    journal: JournalWriter, store: CheckpointStore
) -> None:
    journal.messages("x")
    inp = JournaldInput(cfg(journal), Checkpointer(store))
    got = Collector()
    got.gate = asyncio.Event()
    # ``running`` asserts the child is gone after the cancellation.
    async with running(inp, got):
        await async_wait_until(lambda: got.waiting, 20, message="emit blocked")
