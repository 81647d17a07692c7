"""A file input whose only processors rewrite messages (``redact``, ``set``) keeps its reads
packed to the encode worker: through the real agent and the reference ingestor, every line of
a file large enough for many reads arrives once, redacted, with its labels redacted too; a line
the redaction cannot finish is dropped and counted while the rest of its read still arrives;
and no planted secret is in any agent output."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

N = 20_000
TOO_LONG = 7_777  # this line is over max_chars for the custom rule: dropped and counted


def line(i: int) -> str:
    if i == TOO_LONG:
        return f"n={i} user=PLANTEDuser " + "x" * 1100
    return f"n={i} from 198.51.{i % 250}.{i % 7} GET /x mail p{i}@example.net user=PLANTEDuser"


def redacted(i: int) -> str:
    return f"n={i} from [REDACTED:ipv4] GET /x mail [REDACTED:email] [REDACTED:user]"


def test_a_redacting_file_input_delivers_every_line_redacted(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(line(i) + "\n" for i in range(N)), encoding="utf-8")
    inputs = [
        {
            "type": "file",
            "id": "app",
            "paths": [str(log)],
            "start_at": "beginning",
            "labels": {"owner": "owner.PLANTED@example.net"},
            "processors": [
                {"redact": {"custom": {"user": r"user=\w+"}, "max_chars": 1024}},
                {"set": {"team": "core"}},
            ],
        }
    ]
    agent = AgentProcess(
        tmp_path / "agent", endpoint=ref_ingestor.url, api_key=ref_ingestor.api_key, inputs=inputs
    )
    agent.start()
    try:
        ref_ingestor.wait_for_entries(N - 1, timeout=120)
        size = log.stat().st_size
        wait_until(
            lambda: any(v.get("offset") == size for v in agent.checkpoints().values()),
            timeout=30,
        )
        url = f"http://127.0.0.1:{agent.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            metrics = resp.read()
        outputs = [agent.log_path.read_bytes(), metrics]
        outputs += [p.read_bytes() for p in agent.state_dir.rglob("*") if p.is_file()]
    finally:
        agent.stop()
    got = [e["payload"] for e in ref_ingestor.entries()]
    messages = sorted((p["message"] for p in got), key=lambda m: int(m.split()[0][2:]))
    assert messages == [redacted(i) for i in range(N) if i != TOO_LONG]  # each once
    assert {p["attributes"]["owner"] for p in got} == {"[REDACTED:email]"}
    assert {p["attributes"]["team"] for p in got} == {"core"}
    assert b'logflux_agent_redactions_total{input="app",rule="ipv4"} 19999.0' in metrics
    assert b'logflux_agent_redactions_total{input="app",rule="user"} 19999.0' in metrics
    assert b'reason="redact_failed"} 1.0' in metrics
    for needle in (b"PLANTED", b"198.51.", b"@example.net"):
        assert not [o for o in outputs if needle in o], needle
