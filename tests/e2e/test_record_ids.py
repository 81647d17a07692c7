"""Stable record ids through the real agent: kill -9 while tailing a rotating file, restart.

What the reference ingestor decrypted is the evidence. Every re-sent line has the
``meta.record_id`` of its first delivery. Distinct lines, in the live file or in a rotated
one, never share an id. Each id is also what docs/record-ids.md says it is, recomputed here
from the files on disk.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
from tests.support.writer import LineWriter

INPUT_ID = "app"


def documented_ids(directory: Path, prefix: str) -> dict[str, str]:
    """record_id → line text for every complete line of every file named ``prefix*``."""
    out: dict[str, str] = {}
    for path in sorted(directory.glob(prefix + "*")):
        data = path.read_bytes()
        st = os.stat(path)
        head = data[:1024]
        if b"\n" in head:
            head = head[: head.index(b"\n") + 1]
        seed = f"{INPUT_ID}\n{st.st_dev}\n{st.st_ino}\n".encode() + head
        ident = hashlib.sha256(seed).hexdigest()[:16]
        pos = 0
        while (nl := data.find(b"\n", pos)) >= 0:
            out[f"f:{ident}:{pos}"] = data[pos:nl].decode()
            pos = nl + 1
    return out


def test_kill9_storm_with_rotation_resent_lines_keep_their_first_id(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    # Slow answers keep many lines in flight, so every kill leaves some to send again.
    ref_ingestor.faults(delay=0.05, count=1_000_000)
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[
            {
                "type": "file",
                "id": INPUT_ID,
                "paths": [str(logs / "app.log*")],
                "start_at": "beginning",
                "record_ids": True,
                "read_chunk_bytes": 16384,
            }
        ],
        extra={
            "sender": {"max_in_flight": 2, "batch_max_entries": 200},
            "checkpoint_interval": 0.5,
        },
        metrics=False,
    )
    writer = LineWriter(log, rate=3000.0, total=24_000, rotate_every=6_000, pad=40)
    writer.start()
    kills = 6
    try:
        for kill in range(1, kills + 1):
            agent.start()
            ref_ingestor.wait_for_entries(kill * 2_500, timeout=120, distinct=True)
            agent.kill9()
        written = writer.stop()
        agent.start()
        ref_ingestor.wait_for_entries(len(written), timeout=180, distinct=True)
        assert agent.terminate() == 0
    finally:
        writer.stop()
        agent.stop()
    assert writer.rotations >= 3

    entries: list[dict[str, Any]] = [e["payload"] for e in ref_ingestor.entries()]
    first_id: dict[str, str] = {}
    resent = 0
    for entry in entries:
        text, rid = entry["message"], entry["meta"]["record_id"]
        if text in first_id:
            resent += 1
            assert rid == first_id[text], f"{text!r} re-sent as {rid}, first as {first_id[text]}"
        else:
            first_id[text] = rid
    assert resent > 0, "no line was sent twice: the kills tested nothing"
    assert sorted(first_id) == sorted(written)  # every line arrived, nothing else did
    # Distinct lines (live file and rotated generations alike) have distinct ids ...
    assert len(set(first_id.values())) == len(first_id)
    # ... and each is the documented identity + line start of the file it was read from.
    on_disk = documented_ids(logs, "app.log")
    assert {rid: text for text, rid in first_id.items()} == {
        rid: text for rid, text in on_disk.items() if text in first_id
    }
