"""Freshness bookkeeping: oldest unacknowledged age, read→accepted latency per input, file lag
against real files, and the banner's view of inputs (no key ever unmasked). Virtual clock."""

from __future__ import annotations

import os
from pathlib import Path

from logflux_agent.clock import FakeClock
from logflux_agent.config.load import load_config_text
from logflux_agent.observe import metrics
from logflux_agent.observe.banner import started_fields
from logflux_agent.observe.freshness import file_lag
from logflux_agent.observe.logging import configure_logging
from logflux_agent.pipeline.acks import AckTracker
from logflux_agent.record import Record

KEY = "eu-lf_" + "T3stK3y" * 4


def recs(n: int) -> list[Record]:
    return [Record(f"m{i}", 0.0, 7, "s", {}) for i in range(n)]


def histogram_count(input_id: str) -> float:
    for family in metrics.READ_TO_ACCEPTED.collect():
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels.get("input") == input_id:
                return sample.value
    return 0.0


def histogram_sum(input_id: str) -> float:
    for family in metrics.READ_TO_ACCEPTED.collect():
        for sample in family.samples:
            if sample.name.endswith("_sum") and sample.labels.get("input") == input_id:
                return sample.value
    return 0.0


def test_oldest_unacked_age_follows_the_front_chunk() -> None:
    clock = FakeClock()
    t = AckTracker(clock)
    assert t.oldest_unresolved_age("in-a") == 0.0
    t.emitted("in-a", 3)
    clock.advance(2.0)
    t.emitted("in-a", 2)
    clock.advance(1.0)
    assert t.oldest_unresolved_age("in-a") == 3.0
    t.complete(t.open(recs(3), {"in-a": 3}))
    assert t.oldest_unresolved_age("in-a") == 1.0
    t.complete(t.open(recs(2), {"in-a": 2}))
    assert t.oldest_unresolved_age("in-a") == 0.0
    assert t.emitted_total["in-a"] == 5 and t.resolved["in-a"] == 5


def test_read_to_accepted_is_observed_once_per_chunk_with_its_latency() -> None:
    clock = FakeClock()
    t = AckTracker(clock)
    before_count, before_sum = histogram_count("in-lat"), histogram_sum("in-lat")
    t.emitted("in-lat", 4)
    clock.advance(0.5)
    t.emitted("in-lat", 4)
    clock.advance(1.5)
    # One batch spanning the first chunk and half of the second.
    t.complete(t.open(recs(6), {"in-lat": 6}))
    assert histogram_count("in-lat") - before_count == 1
    assert abs(histogram_sum("in-lat") - before_sum - 2.0) < 1e-9
    t.complete(t.open(recs(2), {"in-lat": 2}))
    assert histogram_count("in-lat") - before_count == 2
    assert abs(histogram_sum("in-lat") - before_sum - 3.5) < 1e-9
    assert t.last_accepted_wall == clock.wall()


def test_discarded_records_are_taken_back_from_the_newest_chunk() -> None:
    clock = FakeClock()
    t = AckTracker(clock)
    t.emitted("in-d", 2)
    clock.advance(5.0)
    t.emitted("in-d", 3)
    t.discarded("in-d", 3)  # drop_newest: the queue refused the last chunk
    t.complete(t.open(recs(2), {"in-d": 2}))
    assert t.oldest_unresolved_age("in-d") == 0.0
    assert t.emitted_total["in-d"] == 2 and t.unresolved("in-d") == 0


class Followed:
    def __init__(self, rows: list[tuple[str, int, int, int]]) -> None:
        self.rows = rows

    def committed_offsets(self) -> list[tuple[str, int, int, int]]:
        return self.rows


def test_file_lag_is_size_minus_committed_largest_first_and_skips_replaced_files(
    tmp_path: Path,
) -> None:
    a, b, c = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"y" * 50)
    c.write_bytes(b"z" * 10)
    sa, sb, sc = os.stat(a), os.stat(b), os.stat(c)
    rows = [
        (str(a), sa.st_dev, sa.st_ino, 90),
        (str(b), sb.st_dev, sb.st_ino, 0),
        (str(c), sc.st_dev, sc.st_ino + 1, 0),  # the name now holds another file
        (str(tmp_path / "gone.log"), 1, 1, 0),
    ]
    total, files = file_lag(Followed(rows))
    assert total == 60
    assert [(Path(f["path"]).name, f["lag_bytes"]) for f in files] == [("b.log", 50), ("a.log", 10)]


def test_banner_shows_inputs_and_the_masked_key_only(tmp_path: Path) -> None:
    (tmp_path / "one.log").write_text("x\n")
    cfg = load_config_text(
        f"api_key: {KEY}\nendpoint: http://127.0.0.1:1\n"
        "encryption: {public_key_fingerprint: " + "ab" * 32 + "}\n"
        "inputs:\n"
        f"  - {{type: file, id: f, paths: ['{tmp_path}/*.log'], detect_level: true}}\n"
        "  - {type: journald, id: j, units: [nginx.service]}\n",
        "agent.yaml",
        {},
    )
    configure_logging("info", "json")
    fields = started_fields(cfg, "agent.yaml", None)
    assert KEY not in repr(fields)
    assert fields["api_key"] == cfg.api_key.masked
    assert fields["server_key"] == "pinned SHA256:" + "ab" * 32
    assert fields["metrics"] == "disabled" and fields["ingestor"] == "http://127.0.0.1:1"
    f, j = fields["inputs"]
    assert f["files_matching"] == "1" and "detect_level" in f["processing"]
    assert j["units"] == ["nginx.service"]
    configure_logging("info", "console")
    try:
        console = started_fields(cfg, "agent.yaml", None)
    finally:
        configure_logging("info", "json")
    assert console["inputs"] == [
        f"file f: {tmp_path}/*.log (1 files now) [detect_level on_full=block]",
        "journald j: units nginx.service [on_full=block]",
    ]
