"""The encoder's ``meta.record_id`` and its top-level label merge, checked on decrypted output.

Real encode, real AES-GCM decrypt and gunzip (as test_encode.py), and through the reference
ingestor for the label limit: what it recorded is what the agent sent.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.clock import FakeClock
from logflux_agent.config.model import MAX_LABELS, AgentConfig, SenderConfig
from logflux_agent.credentials import parse_api_key
from logflux_agent.ingest.client import IngestClient
from logflux_agent.ingest.encode import (
    EncodeJob,
    EntryTuple,
    PayloadStatics,
    build_payload,
    encode_with_aead,
    new_boundary,
)
from logflux_agent.ingest.plaintext import merge_labels
from logflux_agent.observe import metrics
from logflux_agent.record import ENTRY_FIELDS, RID, Record, records_for
from tests.unit.ingest.test_encode import TS, open_part, parse

KEY = os.urandom(32)
STATICS = PayloadStatics.build(
    node="web-01", environment="production", agent="logflux-agent/9.9", labels={"team": "pay"}
)


def _job(records: list[Record], statics: PayloadStatics = STATICS) -> EncodeJob:
    rids = list(map(RID, records)) if any(map(RID, records)) else None
    return EncodeJob(
        entries=list(map(ENTRY_FIELDS, records)),
        key_id="key-1",
        nonce_prefix=b"\x00\x00\x00\x07",
        counter_start=0,
        statics=statics,
        boundary=new_boundary(),
        max_payload=1 << 20,
        max_request=1 << 26,
        rids=rids,
    )


def _decrypted(records: list[Record], statics: PayloadStatics = STATICS) -> list[dict[str, Any]]:
    enc = encode_with_aead(_job(records, statics), AESGCM(KEY))
    return [open_part(part, KEY)[0] for part in parse(enc)]


def _records(n: int, rids: list[str | None] | None) -> list[Record]:
    return records_for(
        [f'line {i} "q" ü' for i in range(n)], TS, 6, "/var/log/a.log", {"svc": "x"}, rids
    )


def test_every_entry_carries_its_record_id_in_meta_beside_the_agent_keys() -> None:
    rids: list[str | None] = [f"f1:abc:{i * 17}" for i in range(50)]
    got = _decrypted(_records(50, rids))
    assert [e["meta"]["record_id"] for e in got] == rids
    for entry in got:
        assert entry["meta"] == {
            "node": "web-01",
            "environment": "production",
            "agent": "logflux-agent/9.9",
            "record_id": entry["meta"]["record_id"],
        }
        assert entry["attributes"] == {"team": "pay", "svc": "x"}


def test_without_ids_the_plaintext_is_byte_identical_and_has_no_record_id() -> None:
    records = _records(3, None)
    assert _job(records).rids is None
    got = _decrypted(records)
    assert all("record_id" not in e["meta"] for e in got)
    entry: EntryTuple = ENTRY_FIELDS(records[0])
    plain = build_payload(entry, STATICS)
    with_id = build_payload(entry, STATICS, "s:in:1:7")
    assert json.loads(with_id)["meta"] == {**json.loads(plain)["meta"], "record_id": "s:in:1:7"}
    assert with_id.replace(b',"record_id":"s:in:1:7"', b"") == plain


def test_a_mixed_batch_gives_ids_only_to_the_entries_that_have_one() -> None:
    rids: list[str | None] = ["a:1", None, "a:3", None]
    got = _decrypted(_records(4, rids))
    assert [e["meta"].get("record_id") for e in got] == rids
    assert all(e["meta"]["node"] == "web-01" for e in got)


def test_an_id_needing_json_escapes_and_no_agent_meta_still_parses() -> None:
    odd = 'sdk "id" \\ \n\u2028 ü'
    got = _decrypted(_records(2, [odd, "plain"]), PayloadStatics())
    assert got[0]["meta"] == {"record_id": odd}
    assert got[1]["meta"] == {"record_id": "plain"}
    assert "attributes" in got[0] and got[0]["attributes"] == {"svc": "x"}


def test_labels_merge_own_attributes_win_and_the_excess_is_cut_in_configured_order() -> None:
    labels = {f"l{i:02d}": "L" for i in range(8)}
    own = {f"a{i:02d}": "A" for i in range(15)} | {"l03": "mine"}
    merged, dropped = merge_labels(labels, own)
    assert len(merged) == MAX_LABELS
    assert merged["l03"] == "mine"  # the entry's own value on a shared name
    assert all(merged[k] == v for k, v in own.items())
    assert [k for k in merged if k.startswith("l") and k != "l03"] == ["l00", "l01", "l02", "l04"]
    assert dropped == 3  # l05, l06, l07
    assert merge_labels(labels, {"x": "1"}) == ({**labels, "x": "1"}, 0)
    assert merge_labels({}, own) == (own, 0)


def test_the_encoder_counts_the_cut_labels_per_entry_and_keeps_twenty() -> None:
    statics = PayloadStatics.build(
        node="n", environment=None, agent="a", labels={f"l{i}": "v" for i in range(6)}
    )
    full = {f"a{i}": "v" for i in range(18)}
    records = records_for(["x"] * 5, TS, 6, "s", full) + records_for(["y"] * 2, TS, 6, "s", {})
    enc = encode_with_aead(_job(records, statics), AESGCM(KEY))
    got = [open_part(part, KEY)[0] for part in parse(enc)]
    assert [len(e["attributes"]) for e in got] == [20] * 5 + [6] * 2
    assert enc.labels_cut == 5 * 4  # 4 of the 6 labels left out of each of 5 entries


def _client(ing: Any, tmp_path: Path, labels: dict[str, str]) -> IngestClient:
    cfg = AgentConfig(
        api_key=parse_api_key(ing.api_key),
        endpoint=ing.url,
        state_dir=str(tmp_path / "s"),
        labels=labels,
        sender=SenderConfig(encode_workers=1),
    )
    return IngestClient(cfg, clock=FakeClock())


async def test_reference_ingestor_records_twenty_attributes_and_the_ids(
    tmp_path: Path, ref_ingestor: Any
) -> None:
    """Through a real encode worker process: the ids and the label cap survive the pipe."""
    labels = {f"team{i}": "payments" for i in range(10)}
    own = {f"field{i}": str(i) for i in range(15)}
    records = records_for(
        [f"m{i}" for i in range(30)], TS, 6, "/l", own, [f"f1:id:{i}" for i in range(30)]
    )
    counter = metrics.ATTRIBUTES_TRUNCATED.labels(input="labels", reason="labels_dropped")
    before = counter._value.get()
    client = _client(ref_ingestor, tmp_path, labels)
    try:
        report = await client.deliver(records)
    finally:
        await client.close()
    assert report.accepted == 30
    got = [e["payload"] for e in await asyncio.to_thread(ref_ingestor.wait_for_entries, 30)]
    assert sorted(e["meta"]["record_id"] for e in got) == sorted(f"f1:id:{i}" for i in range(30))
    for entry in got:
        attrs = entry["attributes"]
        assert len(attrs) == MAX_LABELS
        assert all(attrs[k] == v for k, v in own.items())
        assert [k for k in attrs if k.startswith("team")] == [f"team{i}" for i in range(5)]
    assert counter._value.get() - before == 30 * 5
