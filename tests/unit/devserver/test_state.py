"""The reference ingestor's bounded state: nonce memory, sessions, recorded entries."""

from __future__ import annotations

import json
import os
from pathlib import Path

from logflux_agent.devserver.recording import Recorder
from logflux_agent.devserver.sessions import NonceMemory, SessionStore, body_digest, nonce_slot


def test_nonce_memory_is_bounded_and_keeps_replayed_pairs() -> None:
    memory = NonceMemory(capacity=8)  # 4 generations of 2
    slots = [i.to_bytes(16, "big") for i in range(20)]
    for i, slot in enumerate(slots[:8]):
        memory.remember(slot, i)
    assert len(memory) == 8 and memory.lookup(slots[0]) == 0
    # slot 0 was just looked up: copied forward, it outlives its generation
    for i, slot in enumerate(slots[8:14], start=8):
        memory.remember(slot, i)
    assert len(memory) <= 8 and memory.evicted > 0
    assert memory.lookup(slots[0]) == 0
    assert memory.lookup(slots[1]) is None  # the oldest pairs are forgotten
    assert memory.lookup(slots[13]) == 13
    memory.clear()
    assert len(memory) == 0


def test_sessions_are_bound_to_their_api_key_bounded_and_expirable() -> None:
    store = SessionStore(max_sessions=2)
    a = store.create(os.urandom(32), "key-a", "fp")
    assert store.get(a.key_id, "key-a") is a
    assert store.get(a.key_id, "key-b") is None
    b = store.create(os.urandom(32), "key-a", "fp")
    store.create(os.urandom(32), "key-a", "fp")
    assert store.get(a.key_id, "key-a") is None and len(store) == 2  # oldest forgotten
    assert nonce_slot(b, bytes(12)) != nonce_slot(a, bytes(12))
    assert store.expire_all() == 2 and store.get(b.key_id, "key-a") is None
    assert body_digest(b"x") == body_digest(b"x") != body_digest(b"y")


def test_recorder_writes_every_line_keeps_the_last_few_and_truncates_on_reset(
    tmp_path: Path,
) -> None:
    out = tmp_path / "entries.jsonl"
    rec = Recorder(str(out), keep=3)
    rec.record([json.dumps({"n": i}) for i in range(5)])
    assert [json.loads(x)["n"] for x in out.read_text().splitlines()] == [0, 1, 2, 3, 4]
    assert rec.total == 5 and rec.first_in_memory == 2
    assert rec.page(0, 10) == (2, ['{"n": 2}', '{"n": 3}', '{"n": 4}'])
    assert rec.page(3, 1) == (3, ['{"n": 3}'])
    assert rec.page(9, 10) == (9, [])
    rec.reset()
    assert out.read_text() == "" and rec.total == 0
    rec.record(['{"n": 9}'])
    assert out.read_text() == '{"n": 9}\n'
    rec.close()
