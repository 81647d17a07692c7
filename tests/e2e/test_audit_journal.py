"""`logflux-agent audit --journal --cursor C` against what the reference ingestor recorded.

A real journal file (written by systemd-journal-remote from export format, read by the real
journalctl through the journald input) is shipped by the real agent; every cursor the ingestor
recorded (``meta.record_id`` is the entry's ``__CURSOR``) is then audited as accepted, with a
request id the ingestor has; a cursor of another journal, and entries appended while the agent
was stopped, are not; ``--json`` and the text form say the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.agentproc import AgentProcess
from tests.support.journal import JournalWriter, journal_cursors, require_journal_tools
from tests.support.refingestor import RefIngestor

ENTRIES = 240
BATCH = 40


def audit(agent: AgentProcess, cursor: str, *, as_json: bool = True) -> tuple[int, Any]:
    argv = [sys.executable, "-m", "logflux_agent", "audit", "--config", str(agent.config_path)]
    argv += ["--journal", "--cursor", cursor] + (["--json"] if as_json else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout) if as_json else done.stdout


def other_journal_cursor(cursor: str) -> str:
    """The same cursor with another seqnum id: an entry of a journal the agent never read."""
    fields = [p for p in cursor.split(";") if not p.startswith("s=")]
    return ";".join([f"s={'0' * 32}", *fields])


def test_audit_journal_cursor_accepted_exactly_for_what_the_ingestor_recorded(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    require_journal_tools()
    (tmp_path / "j").mkdir()
    journal = JournalWriter(tmp_path / "j" / "system.journal")
    journal.messages(*(f"jd-{n:04d}" for n in range(ENTRIES)), SYSLOG_IDENTIFIER="audit-e2e")
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[
            {
                "type": "journald",
                "id": "jd",
                "files": [str(journal.path)],
                "start_at": "beginning",
                "record_ids": True,
            }
        ],
        extra={"sender": {"batch_max_entries": BATCH}},
        metrics=False,
    )
    try:
        agent.start()
        ref_ingestor.wait_for_entries(ENTRIES, timeout=60, distinct=True)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    # Written while the agent is stopped: in the journal, never read, so never accepted.
    journal.messages("jd-late-1", "jd-late-2", SYSLOG_IDENTIFIER="audit-e2e")

    cursors = journal_cursors(journal.path)
    assert len(cursors) == ENTRIES + 2
    request_of: dict[str, set[str]] = {}
    for e in ref_ingestor.entries():
        rid = e["payload"]["meta"]["record_id"]
        request_of.setdefault(rid, set()).add(str(e["request_id"]))
    assert set(request_of) == set(cursors[:ENTRIES]), "the ingestor's cursors are the journal's"

    # Shipped cursors: the first, one at each batch edge, one inside a batch, the last.
    for i in sorted({0, BATCH - 1, BATCH, ENTRIES // 2 + 3, ENTRIES - 1}):
        code, doc = audit(agent, cursors[i])
        assert code == 0, doc
        assert doc["accepted"] is True and doc["times"] == 1, doc
        ids = {r for d in doc["deliveries"] for r in d["request_ids"]}
        assert ids and ids <= request_of[cursors[i]], (ids, request_of[cursors[i]])
        assert doc["deliveries"][0]["status"] == "accepted"

    # Appended after the agent stopped: after its committed cursor.
    code, late = audit(agent, cursors[ENTRIES])
    assert code == 1 and late["accepted"] is False
    assert "after the agent's committed journal cursor" in late["reason"]
    # Another journal's cursor (other seqnum id): nothing known.
    code, unknown = audit(agent, other_journal_cursor(cursors[3]))
    assert code == 1 and unknown["accepted"] is False
    assert unknown["reason"].startswith("no receipt"), unknown
    code, junk = audit(agent, "not-a-cursor")
    assert code == 1 and "not a journal cursor" in junk["reason"]

    # The text form says the same as --json.
    code, text = audit(agent, cursors[BATCH], as_json=False)
    assert code == 0 and ": accepted" in text and "request " in text, text
    code, text = audit(agent, other_journal_cursor(cursors[3]), as_json=False)
    assert code == 1 and "NOT accepted — no receipt" in text, text
