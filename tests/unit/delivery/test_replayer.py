"""Spooled requests: relabelling a refused key id keeps the ciphertext valid and cuttable; the
writer waits (backpressure) while the spool is full and writes once there is room."""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.clock import SYSTEM_CLOCK
from logflux_agent.delivery.replayer import relabel, slice_item, sub_body
from logflux_agent.delivery.segment import SpoolItem
from logflux_agent.delivery.spool import Spool
from logflux_agent.delivery.writer import SpoolSink
from logflux_agent.ingest.encode import EncodeJob, PayloadStatics, encode_with_aead, new_boundary


def _encoded_item(n: int = 3) -> tuple[SpoolItem, AESGCM]:
    aead = AESGCM(os.urandom(32))
    job = EncodeJob(
        entries=[(f"line {i} plaintext", 1_796_000_000.0, 6, "src", {}) for i in range(n)],
        key_id="old-key-id",
        nonce_prefix=os.urandom(4),
        counter_start=0,
        statics=PayloadStatics.build(node="n", environment=None, agent="a"),
        boundary=new_boundary(),
        max_payload=1 << 20,
        max_request=1 << 24,
    )
    enc = encode_with_aead(job, aead)
    item = SpoolItem(
        "old-key-id", "d3JhcHBlZA==", enc.boundary, enc.body, enc.offsets, enc.part_sizes, {}, 0.0
    )
    return item, aead


def _parts(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    out = []
    for chunk in body.split(f"--{boundary}".encode())[1:-1]:
        # Exactly the CRLFs around the part: a strip() would eat ciphertext bytes 0x0d / 0x0a.
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")
        head, _, payload = chunk[2:-2].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        out.append((headers, payload))
    return out


def test_relabel_sets_every_key_id_and_the_ciphertext_still_decrypts() -> None:
    item, aead = _encoded_item()
    new = relabel(item, "a-much-longer-new-key-id-0123456789")
    assert new is not None and new.key_id.startswith("a-much")
    for lo in range(3):
        parts = _parts(sub_body(new, lo, lo + 1), new.boundary)
        assert len(parts) == 1
        headers, payload = parts[0]
        assert headers["X-LF-Key-ID"] == new.key_id
        plain = gzip.decompress(
            aead.decrypt(base64.b64decode(headers["X-LF-Nonce"]), payload, None)
        )
        assert f"line {lo} plaintext".encode() in plain
    assert b"old-key-id" not in new.body


def test_relabel_refuses_bytes_it_did_not_write() -> None:
    item, _ = _encoded_item()
    broken = replace(item, body=item.body.replace(b"X-LF-Key-ID", b"X-Other", 1))
    assert relabel(broken, "new") is None


def test_slice_keeps_only_the_range() -> None:
    item, _ = _encoded_item(4)
    part = slice_item(item, 1, 3)
    assert part.parts == 2 and part.offsets[0] == 0
    assert len(_parts(part.body, part.boundary)) == 2
    assert sub_body(part, 0, 2) == part.body


class _Encoder:
    """Stands in for the ingest client's encoder only: the spool and files are real."""

    config = None  # the replayer's; not used by the writer

    def __init__(self, size: int) -> None:
        self.size = size

    async def encode_for_spool(self, records: Any, owners: dict[str, int]) -> Any:
        body = os.urandom(self.size)
        return [SpoolItem("k", "s", "b", body, [0], [len(body)], owners, 0.0)], 0


def test_writer_waits_while_full_and_writes_once_there_is_room(tmp_path: Path) -> None:
    async def go() -> None:
        spool = Spool(tmp_path, max_bytes=1024 * 1024, segment_bytes=256 * 1024)
        spool.open()
        sink = SpoolSink(spool, frozenset({"in"}), _Encoder(200_000), SYSTEM_CLOCK)  # type: ignore[arg-type]
        for _ in range(5):
            await sink.write([], {"in": 1})
        blocked = asyncio.create_task(sink.write([], {"in": 1}))
        await asyncio.sleep(0.3)
        assert not blocked.done() and sink.full_since is not None
        assert spool.bytes <= spool.max_bytes
        for _ in range(2):
            pending = spool.peek()
            assert pending is not None
            await spool.accepted(pending)
        await asyncio.wait_for(blocked, timeout=10)
        assert sink.full_since is None and spool.pending_requests == 4
        assert re.search(r"spooling: 4 request", sink.readiness_note())

    asyncio.run(go())


def test_status_view_shows_the_spool() -> None:
    from logflux_agent.commands.status import render

    doc = {
        "ready": True,
        "ready_reason": "ready; spooling: 3 request(s)",
        "inputs": [],
        "sender": {},
        "queue": {},
        "spool": {
            "pending_requests": 3,
            "bytes": 2 * 1024 * 1024,
            "max_bytes": 1024**3,
            "segments": 1,
            "oldest_age_seconds": 42,
            "full": True,
        },
    }
    text = render(doc)
    assert "spool: 3 request(s) waiting" in text and "oldest 42 s" in text and "FULL" in text
