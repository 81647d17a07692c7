"""journald field mapping and journalctl command lines, without a journal (pure functions)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logflux_agent.clock import FakeClock
from logflux_agent.config.model import JournaldInputConfig
from logflux_agent.inputs.journald.command import (
    JournalSelection,
    cursor_probe_command,
    follow_command,
)
from logflux_agent.inputs.journald.mapping import BadEntry, EntryMapper, field_text


def mapper(labels: dict[str, str] | None = None, include: tuple[str, ...] = ()) -> EntryMapper:
    return EntryMapper(
        labels=labels or {}, include_fields=include, clock=FakeClock(start_wall=1234.5)
    )


@pytest.mark.parametrize(
    ("priority", "level"),
    [
        ("0", 1),
        ("3", 4),
        ("6", 7),
        ("7", 8),
        (None, 7),
        ("9", 7),
        ("x", 7),
        ("", 7),
    ],
)
def test_priority_maps_to_level(priority: str | None, level: int) -> None:
    entry = {"MESSAGE": "m", "__REALTIME_TIMESTAMP": "1000000"}
    if priority is not None:
        entry["PRIORITY"] = priority
    assert mapper().record(entry).level == level


def test_all_mapped_fields() -> None:
    m = mapper(labels={"team": "ops", "_PID": "label-wins"}, include=("_UID", "NODE", "MESSAGE"))
    record = m.record(
        {
            "MESSAGE": "hello",
            "PRIORITY": "4",
            "__REALTIME_TIMESTAMP": "1767225600123456",
            "_SYSTEMD_UNIT": "ssh.service",
            "SYSLOG_IDENTIFIER": "sshd",
            "_HOSTNAME": "web-01",
            "_PID": "42",
            "_COMM": "sshd",
            "_UID": "0",
            "NODE": "forbidden-key",
            "OTHER": "x",
        }
    )
    assert record.message == "hello"
    assert record.level == 5
    assert record.timestamp == pytest.approx(1767225600.123456)
    assert record.source == "ssh.service"
    assert record.attributes == {
        "_SYSTEMD_UNIT": "ssh.service",
        "SYSLOG_IDENTIFIER": "sshd",
        "_HOSTNAME": "web-01",
        "_PID": "label-wins",
        "_COMM": "sshd",
        "_UID": "0",
        "team": "ops",
    }


def test_source_falls_back_to_identifier_then_journald() -> None:
    assert mapper().record({"MESSAGE": "a", "SYSLOG_IDENTIFIER": "cron"}).source == "cron"
    assert mapper().record({"MESSAGE": "a"}).source == "journald"


def test_missing_timestamp_uses_the_clock_and_missing_message_is_empty() -> None:
    record = mapper().record({"PRIORITY": "6"})
    assert record.timestamp == 1234.5
    assert record.message == ""


def test_binary_message_is_decoded_with_replacement_and_counted() -> None:
    m = mapper()
    raw = list(b"multi\nline \xff end")
    record = m.record({"MESSAGE": raw})
    assert record.message == "multi\nline \ufffd end"
    assert m.invalid_utf8 == 1
    # Valid UTF-8 with a control character also arrives as bytes; it is not "invalid".
    assert m.record({"MESSAGE": list("tab\there é".encode())}).message == "tab\there é"
    assert m.invalid_utf8 == 1


def test_repeated_field_values_are_joined() -> None:
    assert field_text(["a", list(b"b\xff"), "c"]) == ("a\nb\ufffd\nc", True)
    assert field_text(None) is None
    assert field_text([300]) is None
    record = mapper().record({"MESSAGE": "m", "_COMM": ["x", "y"]})
    assert record.attributes["_COMM"] == "x\ny"


def test_long_attribute_values_are_cut() -> None:
    record = mapper(include=("LONG",)).record({"MESSAGE": "m", "LONG": "v" * 1000})
    assert record.attributes["LONG"] == "v" * 256


def test_parse_rejects_non_objects() -> None:
    m = mapper()
    with pytest.raises(BadEntry):
        m.parse("not json")
    with pytest.raises(BadEntry):
        m.parse("[1,2]")
    with pytest.raises(BadEntry):
        m.parse('{"MESSAGE":"a"} {"MESSAGE":"b"}')
    record, cursor = m.parse('{"MESSAGE":"x","__CURSOR":"s=1;i=2"}')
    assert (record.message, cursor) == ("x", "s=1;i=2")


@given(st.binary(max_size=200))
def test_any_bytes_message_round_trips_through_json_arrays(raw: bytes) -> None:
    line = json.dumps({"MESSAGE": list(raw)})
    record, _ = mapper().parse(line)
    assert record.message == raw.decode("utf-8", "replace")


def test_command_lines() -> None:
    cfg = JournaldInputConfig(
        id="j",
        units=("ssh.service",),
        identifiers=("-t",),
        priority=3,
        files=("rel/a.journal",),
        include_fields=("_UID", "MESSAGE"),
    )
    sel = JournalSelection.from_config(cfg)
    argv = follow_command(sel, "s=1;i=2")
    assert argv[0] == "journalctl"
    assert f"--file={sel.files[0]}" in argv and sel.files[0].startswith("/")
    assert "--merge" in argv and "--follow" in argv and "--all" in argv
    assert "--unit=ssh.service" in argv and "--identifier=-t" in argv
    assert "--priority=0..3" in argv
    assert argv[-1] == "--after-cursor=s=1;i=2"
    fields = next(a for a in argv if a.startswith("--output-fields="))
    assert fields.split("=", 1)[1].split(",").count("MESSAGE") == 1
    assert "_UID" in fields
    probe = cursor_probe_command(sel, "c")
    assert not any(a.startswith(("--unit", "--identifier", "--priority")) for a in probe)
    assert "--cursor=c" in probe and "--lines=1" in probe
