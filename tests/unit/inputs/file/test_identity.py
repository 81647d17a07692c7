"""File identity: fingerprint prefixes, and the checkpoint stream's commit/release/retire."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from logflux_agent.checkpoints import CheckpointStore
from logflux_agent.inputs.file.identity import (
    FileStream,
    Fingerprint,
    Match,
    Saved,
    compare,
    marker_key,
    position,
    split_position,
    stream_key,
)
from logflux_agent.pipeline.checkpointer import Checkpointer


def test_fingerprint_prefix_rules() -> None:
    assert compare(b"abc", b"abc") is Match.SAME
    # A file shorter than the window keeps its identity while it grows.
    assert compare(b"ab", b"abcdef") is Match.SAME
    assert compare(b"", b"anything") is Match.SAME
    # Shorter than what was recorded, and a prefix of it: truncated.
    assert compare(b"abcdef", b"ab") is Match.SHORTER
    assert compare(b"abcdef", b"") is Match.SHORTER
    # Other first bytes: another file on the same inode, or rewritten.
    assert compare(b"abc", b"xbc") is Match.DIFFERENT
    assert compare(b"abc", b"abx") is Match.DIFFERENT


def store_at(tmp_path: Path) -> CheckpointStore:
    store = CheckpointStore(tmp_path)
    store.load()
    return store


def test_commit_writes_a_resumable_state(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    checkpointer = Checkpointer(store)
    stream = FileStream("in", "/var/log/a.log", 7, 42, b"head")
    assert stream.key == stream_key("in", 7, 42) == "file:in:7:42"
    checkpointer.commit(stream, 100)
    state = store.get(stream.key)
    assert state is not None
    assert abs(state.pop("saved_at") - time.time()) < 60  # when it was known, wall time
    assert state == {
        "input": "in",
        "path": "/var/log/a.log",
        "dev": 7,
        "ino": 42,
        "fingerprint_sha256": hashlib.sha256(b"head").hexdigest(),
        "fingerprint_len": 4,
        "offset": 100,
    }
    saved = Saved.decode("in", stream.key, state)
    assert saved == Saved(stream.key, "/var/log/a.log", 7, 42, Fingerprint.of(b"head"), 100)
    assert Saved.decode("other-input", stream.key, state) is None
    assert Saved.decode("in", marker_key("in"), {"input": "in", "started": 1.0}) is None
    assert Saved.decode("in", "k", {"input": "in", "ino": "x", "dev": 1, "offset": 0}) is None


def test_a_released_stream_drops_its_entry_once_everything_is_committed(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    checkpointer = Checkpointer(store)
    stream = FileStream("in", "/a", 1, 2, b"", committed=0)
    checkpointer.commit(stream, 50)
    checkpointer.release(stream, 120)
    assert store.get(stream.key) is not None
    checkpointer.commit(stream, 80)
    assert store.get(stream.key)["offset"] == 80  # type: ignore[index]
    checkpointer.commit(stream, 120)
    assert store.get(stream.key) is None
    assert stream.retired
    checkpointer.commit(stream, 130)  # late commits of a retired stream are ignored
    assert store.get(stream.key) is None


def test_releasing_a_fully_committed_stream_drops_it_at_once(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    checkpointer = Checkpointer(store)
    stream = FileStream("in", "/a", 1, 2, b"")
    checkpointer.commit(stream, 10)
    checkpointer.release(stream, 10)
    assert stream.retired
    assert store.get(stream.key) is None
    never_opened = FileStream("in", "/b", 1, 3, b"")
    checkpointer.release(never_opened, 0)
    assert never_opened.retired


def test_a_retired_stream_never_overwrites_its_successor(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    checkpointer = Checkpointer(store)
    old = FileStream("in", "/a", 1, 2, b"old")
    new = FileStream("in", "/a", 1, 2, b"new")
    checkpointer.track(old)
    checkpointer.track(new)  # the newer generation of the key retires the older
    checkpointer.commit(new, 5)
    checkpointer.commit(old, 5000)
    assert store.get(new.key)["offset"] == 5  # type: ignore[index]


def test_a_mid_line_position_is_stored_and_read_back(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    checkpointer = Checkpointer(store)
    stream = FileStream("in", "/var/log/a.log", 7, 42, b"head")
    checkpointer.commit(stream, position(3000, "skip"))
    state = store.get(stream.key)
    assert state is not None and state["offset"] == 3000 and state["mid_line"] == "skip"
    saved = Saved.decode("in", stream.key, state)
    assert saved is not None and (saved.offset, saved.mid_line) == (3000, "skip")
    # The next line boundary clears it.
    checkpointer.commit(stream, position(4100, None))
    state = store.get(stream.key)
    assert state is not None and "mid_line" not in state
    assert position(10, None) == 10
    assert split_position("10:rest") == (10, "rest")
    assert split_position("10:bogus") == (10, None)


def test_the_checkpoint_holds_no_log_content_and_old_raw_fingerprints_still_load(
    tmp_path: Path,
) -> None:
    store = store_at(tmp_path)
    checkpointer = Checkpointer(store)
    secret = b"user=alice password=hunter2 logged in\n"
    stream = FileStream("in", "/var/log/a.log", 7, 42, secret)
    checkpointer.commit(stream, 10)
    assert store.flush()
    text = store.path.read_text()
    assert "hunter2" not in text and secret.hex() not in text
    # A checkpoint written by an earlier version: the first bytes, hex-encoded.
    old = {"input": "in", "path": "/a", "dev": 7, "ino": 42, "offset": 5}
    old |= {"fingerprint": secret.hex(), "fingerprint_len": len(secret)}
    saved = Saved.decode("in", "k", old)
    assert saved is not None and saved.fingerprint == Fingerprint.of(secret)


def test_a_hashed_fingerprint_keeps_the_prefix_rule() -> None:
    fp = Fingerprint.of(b"abc")
    assert fp.compare(b"abc") is Match.SAME
    assert fp.compare(b"abcdef") is Match.SAME  # the file grew
    assert fp.compare(b"ab") is Match.SHORTER  # truncated (or shorter and other: read from 0)
    assert fp.compare(b"xbcdef") is Match.DIFFERENT
    assert Fingerprint.of(b"").compare(b"anything") is Match.SAME
