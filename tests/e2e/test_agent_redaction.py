"""Redaction, filters and search tokens through the real agent and the reference ingestor:
every built-in secret kind arrives replaced (mask and hash), tokens arrive in the part header
exactly as configured, filtered lines never arrive — not even after a kill -9 and restart, as
their positions were committed — and no planted secret is in any agent output."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

SECRETS = {
    "logflux_key": "eu-lf_PLANTEDkey0123456789abcdef",
    "authorization": "Authorization: Bearer PLANTEDbearer.tok-123",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJQTEFOVEVEIjoiand0In0.UExBTlRFRHNpZw",
    "aws_access_key": "AKIAPLANTED000000KEY",
    "aws_secret_key": "aws_secret_access_key=PLANTEDsecretPLANTEDsecretPLANTEDsecret0",
    "private_key": "-----BEGIN EC PRIVATE KEY-----\nPLANTEDpemBODY\n-----END EC PRIVATE KEY-----",
    "card": "4000 0566 5566 5556",
    "email": "planted.person@example.net",
    "ipv4": "203.0.113.77",
    "ipv6": "2001:db8:beef::77",
}
# What must not appear anywhere (the scheme word "Bearer" and key names may stay).
NEEDLES = [
    "PLANTEDkey0123456789abcdef",
    "PLANTEDbearer",
    "eyJQTEFOVEVEIjoiand0In0",
    "AKIAPLANTED000000KEY",
    "PLANTEDsecretPLANTEDsecret",
    "PLANTEDpemBODY",
    "4000 0566 5566 5556",
    "planted.person@example.net",
    "203.0.113.77",
    "2001:db8:beef::77",
]


def agent_with(
    tmp_path: Path, ingestor: RefIngestor, path: Path, processors: list[Any]
) -> AgentProcess:
    inputs = [
        {
            "type": "file",
            "id": "app",
            "paths": [str(path)],
            "start_at": "beginning",
            "processors": processors,
        }
    ]
    return AgentProcess(
        tmp_path / "agent", endpoint=ingestor.url, api_key=ingestor.api_key, inputs=inputs
    )


def lines() -> str:
    out = []
    for i, (kind, secret) in enumerate(SECRETS.items()):
        out.append(json.dumps({"msg": f"{kind} seen: {secret} end", "service": "web", "n": i}))
        out.append(json.dumps({"msg": f"DROPME {secret}", "service": "web", "n": i}))
    return "\n".join(out) + "\n"  # the last line is a dropped one: its position must commit


def every_output(agent: AgentProcess) -> bytes:
    blobs = [agent.log_path.read_bytes()]
    url = f"http://127.0.0.1:{agent.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        blobs.append(resp.read())
    blobs += [p.read_bytes() for p in agent.state_dir.rglob("*") if p.is_file()]
    return b"\n".join(blobs)


def test_every_secret_kind_arrives_masked_tokens_in_the_header_and_nothing_leaks(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    log.write_text(lines(), encoding="utf-8")
    processors = [
        {"json": {"message_key": "msg"}},
        {"exclude": {"patterns": ["^DROPME"]}},
        {"redact": {}},
        {"search_tokens": {"fields": ["service"], "patterns": [r"^(?P<kind>\w+) seen"]}},
    ]
    agent = agent_with(tmp_path, ref_ingestor, log, processors)
    agent.start()
    try:
        wait_until(lambda: len(ref_ingestor.entries()) >= len(SECRETS), timeout=60)
        size = log.stat().st_size
        wait_until(
            lambda: any(v.get("offset") == size for v in agent.checkpoints().values()),
            timeout=30,
        )
        got = ref_ingestor.entries()
        assert len(got) == len(SECRETS)
        for entry, kind in zip(got, SECRETS, strict=True):
            message = entry["payload"]["message"]
            assert f"[REDACTED:{kind}]" in message and message.startswith(f"{kind} seen: ")
            assert entry["search_tokens"] == ["level:info", "service:web", f"kind:{kind}"]
        seen = json.dumps(got)
        assert "DROPME" not in seen
        assert not [n for n in NEEDLES if n in seen]
        outputs = every_output(agent)
        assert not [n for n in NEEDLES if n.encode() in outputs]
        assert b'logflux_agent_redactions_total{input="app",rule="card"} 1.0' in outputs
        assert b'reason="excluded"} 10.0' in outputs

        # kill -9 and restart: the committed position covers the dropped last line, so
        # nothing is read again; a new line arrives once, the filtered ones never.
        agent.kill9()
        agent.start()
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"msg": "after restart", "service": "web"}) + "\n")
            fh.write(json.dumps({"msg": "DROPME again", "service": "web"}) + "\n")
        wait_until(
            lambda: any(e["payload"]["message"] == "after restart" for e in ref_ingestor.entries()),
            timeout=60,
        )
        size = log.stat().st_size
        wait_until(
            lambda: any(v.get("offset") == size for v in agent.checkpoints().values()),
            timeout=30,
        )
        messages = [e["payload"]["message"] for e in ref_ingestor.entries()]
        assert len(messages) == len(SECRETS) + 1 and len(set(messages)) == len(messages)
        assert not [m for m in messages if "DROPME" in m]
    finally:
        agent.stop()


def test_hash_replacement_is_a_stable_pseudonym_and_the_key_stays_local(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "app.log"
    # One secret per line; the PEM block spans three lines, as a program would print it.
    text = "".join(f"{kind}: {secret} #\n" for kind, secret in SECRETS.items())
    kinds = [k for k, s in SECRETS.items() for _ in s.split("\n")]
    log.write_text(text + f"again {SECRETS['ipv4']}\n", encoding="utf-8")
    agent = agent_with(tmp_path, ref_ingestor, log, [{"redact": {"replace": "hash"}}])
    agent.start()
    try:
        wait_until(lambda: len(ref_ingestor.entries()) >= len(kinds) + 1, timeout=60)
        messages = [e["payload"]["message"] for e in ref_ingestor.entries()]
        for message, kind in zip(messages, kinds, strict=False):
            assert f"[HASH:{kind}:" in message, message
        first_ip = messages[kinds.index("ipv4")].split(" ")[1]
        assert messages[-1] == f"again {first_ip}"
        key_file = agent.state_dir / "redact.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_bytes()
        outputs = every_output(agent).replace(key, b"")  # the key file itself is allowed
        assert key.hex().encode() not in outputs and key not in outputs
        assert not [n for n in NEEDLES if n.encode() in outputs]
        assert not [n for n in NEEDLES if n in json.dumps(ref_ingestor.entries())]
    finally:
        agent.stop()


def test_tap_explain_shows_drops_rules_and_tokens_but_never_the_secret(tmp_path: Path) -> None:

    log = tmp_path / "app.log"
    log.write_text(
        f"GET /health 200\nlogin from {SECRETS['ipv4']} with {SECRETS['logflux_key']}\n",
        encoding="utf-8",
    )
    doc = {
        "api_key": "eu-lf_" + "T4pS3cr3tK3y" * 3,
        "endpoint": "http://127.0.0.1:9",  # nobody listens: tap sends nothing
        "state_dir": str(tmp_path / "state"),
        "inputs": [
            {
                "type": "file",
                "id": "app",
                "paths": [str(log)],
                "processors": [
                    {"exclude": {"patterns": ["^GET /health"]}},
                    {"redact": {}},
                    {"search_tokens": {"patterns": [r"^(\w+)"]}},
                ],
            }
        ],
    }
    proc = _tap_explain(tmp_path, doc, limit=1)
    assert proc.returncode == 0, proc.stderr
    [entry] = [json.loads(line) for line in proc.stdout.splitlines()]
    assert entry["message"] == "login from [REDACTED:ipv4] with [REDACTED:logflux_key]"
    assert "# app: exclude: dropped 1 (excluded)" in proc.stderr
    assert "# app: redact: replaced 1 x ipv4" in proc.stderr
    assert "# search tokens (sent UNENCRYPTED): level:info,login" in proc.stderr
    assert "sends search tokens UNENCRYPTED" in proc.stderr
    assert not [n for n in NEEDLES if n in proc.stdout + proc.stderr]
    assert not (tmp_path / "state").exists()  # tap writes nothing into state_dir


def test_tap_explain_counts_what_each_entry_lost_not_the_whole_read(tmp_path: Path) -> None:

    log = tmp_path / "app.log"
    log.write_text(
        "two 10.0.0.1 and 10.0.0.2\nGET /health 200\nGET /health 200\none 10.0.0.3\n",
        encoding="utf-8",
    )
    doc = {
        "api_key": "eu-lf_" + "T4pS3cr3tK3y" * 3,
        "endpoint": "http://127.0.0.1:9",
        "state_dir": str(tmp_path / "state"),
        "inputs": [
            {
                "type": "file",
                "id": "app",
                "paths": [str(log)],
                "processors": [{"exclude": {"patterns": ["^GET /health"]}}, {"redact": {}}],
            }
        ],
    }
    proc = _tap_explain(tmp_path, doc, limit=2)
    assert proc.returncode == 0, proc.stderr
    messages = [json.loads(line)["message"] for line in proc.stdout.splitlines()]
    assert messages == ["two [REDACTED:ipv4] and [REDACTED:ipv4]", "one [REDACTED:ipv4]"]
    explained = [line for line in proc.stderr.splitlines() if line.startswith("# app: ")]
    assert explained == [
        "# app: redact: replaced 2 x ipv4",
        "# app: exclude: dropped 1 (excluded)",
        "# app: exclude: dropped 1 (excluded)",
        "# app: redact: replaced 1 x ipv4",
    ]


def _tap_explain(tmp_path: Path, doc: dict[str, Any], *, limit: int) -> Any:
    """``tap --explain`` on ``doc`` written as a 0600 config, without the caller's LOGFLUX_*."""
    import os
    import subprocess
    import sys

    import yaml

    cfg = tmp_path / "agent.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    cfg.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGFLUX_")}
    args = [sys.executable, "-m", "logflux_agent", "tap", "--config", str(cfg)]
    return subprocess.run(
        [*args, "--from-beginning", "--limit", str(limit), "--explain", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
