"""`logflux-agent tap` as a real subprocess: the entries the agent would encrypt, as v2 JSON,
through the configured processors — nothing sent, no checkpoint written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
KEY = "eu-lf_" + "T4pS3cr3tK3y" * 3
CRI = "2026-12-01T06:00:0{}.5Z stdout {} {}\n"


def config(tmp_path: Path, log: Path, processors: list[Any]) -> Path:
    doc = {
        "api_key": KEY,
        # An endpoint nobody listens on: tap must never connect anywhere.
        "endpoint": "http://127.0.0.1:9",
        "state_dir": str(tmp_path / "state"),
        "inputs": [
            {"type": "file", "id": "pods", "paths": [str(log)], "processors": processors},
            {"type": "file", "id": "other", "paths": [str(tmp_path / "other.log")]},
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def tap(cfg: Path, *args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    return subprocess.Popen(
        [sys.executable, "-m", "logflux_agent", "tap", "--config", str(cfg), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        **kw,
    )


def test_tap_from_the_beginning_prints_processed_v2_json_and_commits_nothing(
    tmp_path: Path,
) -> None:
    log = tmp_path / "0.log"
    app = json.dumps({"msg": "payment failed", "level": "error", "order": "A-1"})
    log.write_text(
        CRI.format(0, "F", app) + CRI.format(1, "P", "joined ") + CRI.format(1, "F", "line")
    )
    cfg = config(tmp_path, log, ["cri", {"json": {"message_key": "msg"}}, "level"])
    proc = tap(cfg, "--input", "pods", "--from-beginning", "--limit", "2")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["v"] == "2.0" and first["type"] == "log" and first["source"] == str(log)
    assert first["message"] == "payment failed" and first["level"] == 4
    assert first["ts"] == "2026-12-01T06:00:00.500000Z"
    assert first["attributes"] == {"stream": "stdout", "order": "A-1"}
    assert second["message"] == "joined line" and second["level"] == 7
    assert KEY not in out + err
    assert not (tmp_path / "state" / "checkpoints.json").exists()


def test_tap_prints_the_record_id_each_entry_would_carry(tmp_path: Path) -> None:
    # File inputs ship record ids by default (docs/record-ids.md): tap shows the same ids,
    # one per line, each naming the line's start offset after the file's identity.
    other = tmp_path / "other.log"
    other.write_text("first line\nsecond line\n")
    cfg = config(tmp_path, tmp_path / "0.log", ["cri"])
    proc = tap(cfg, "--input", "other", "--from-beginning", "--limit", "2")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    first, second = (json.loads(line)["meta"]["record_id"] for line in out.splitlines())
    prefix = first.rsplit(":", 1)[0]
    assert first == f"{prefix}:0" and second == f"{prefix}:11"
    assert prefix.startswith("f:")


def test_tap_follows_new_lines_until_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_text(CRI.format(0, "F", "old line, before tap started"))
    cfg = config(tmp_path, log, ["cri"])
    proc = tap(cfg, "--input", "pods")
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        # Files present at start are followed from their end: append until tap sees a line.
        def appended_and_seen() -> bool:
            with open(log, "a") as fh:
                fh.write(CRI.format(2, "F", "new line"))
            return bool(lines)

        wait_until(appended_and_seen, 30, interval=0.3, message="tap to print a new line")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    messages = [json.loads(line)["message"] for line in lines]
    assert messages and set(messages) == {"new line"}


def test_tap_of_an_unknown_input_is_a_usage_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, tmp_path / "0.log", ["cri"])
    proc = tap(cfg, "--input", "nope")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "no input with id 'nope' (inputs: pods, other)" in err and out == ""


def test_tap_shows_what_the_spool_holds_and_changes_nothing_there(tmp_path: Path) -> None:
    import asyncio

    from logflux_agent.delivery.segment import SpoolItem
    from logflux_agent.delivery.spool import Spool

    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, max_bytes=2**20, segment_bytes=2**16)
    spool.open()
    items = [
        SpoolItem("kid", "c2VjcmV0", "b" * 32, os.urandom(300), [0, 100], [100, 200], {}, 1e9)
        for _ in range(3)
    ]
    asyncio.run(spool.append(items))
    pending = spool.peek()
    assert pending is not None
    asyncio.run(spool.accepted(pending))  # one of three accepted: two wait
    spool.close()
    (seg,) = spool_dir.glob("*.seg")
    with seg.open("ab") as fh:
        fh.write(b"\x00\x00\x01")  # a torn tail: the agent would cut it, tap must not
    before = {p.name: p.read_bytes() for p in spool_dir.iterdir() if p.is_file()}
    doc = {
        "api_key": KEY,
        "endpoint": "http://127.0.0.1:9",
        "state_dir": str(tmp_path / "state"),
        "inputs": [{"type": "stdin", "spool": {"directory": str(spool_dir)}}],
    }
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    cfg.chmod(0o600)
    proc = tap(cfg, stdin=subprocess.DEVNULL)  # stdin ends at once: tap ends with it
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"input(s) stdin spool to {spool_dir}" in err
    assert "2 request(s) waiting (4 entries)" in err and "1 segment(s)" in err
    assert "1 segment(s) with a damaged tail" in err
    after = {p.name: p.read_bytes() for p in spool_dir.iterdir() if p.is_file()}
    assert after == before and out == ""
