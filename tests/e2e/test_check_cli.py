"""`logflux-agent check` as a real subprocess against the reference ingestor.

The ingestor runs in the test's event loop, the CLI as a child process, so each case sees the
exact output and exit code an operator would.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.scripted import API_KEY, ScriptedIngestor
from tests.support.tls import server_ssl

pytestmark = pytest.mark.timeout(120)


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def write_config(tmp_path: Path, **doc: Any) -> Path:
    base: dict[str, Any] = {
        "api_key": API_KEY,
        "state_dir": str(tmp_path / "state"),
        "inputs": [{"type": "stdin", "id": "pipe"}],
    }
    base.update(doc)
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(base), encoding="utf-8")
    os.chmod(path, 0o600)
    return path


async def run_check(config: Path, *extra: str) -> tuple[int, str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOGFLUX_") and k.lower() not in ("https_proxy", "http_proxy")
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "logflux_agent",
        "check",
        "--config",
        str(config),
        "--timeout",
        "30",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_check_success_prints_the_session_and_masks_the_key(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        cfg = write_config(
            tmp_path,
            endpoint=ing.url + "/",
            encryption={"public_key_fingerprint": ing.fingerprint},
        )
        code, out, err = await run_check(cfg)
    assert code == 0, err
    assert ing.url in out and "endpoint" in out
    assert ing.fingerprint in out
    assert "matches encryption.public_key_fingerprint" in out
    [key_id] = list(ing.keys)
    assert key_id in out
    assert "eu-lf_****" in out and "eu (from the key)" in out
    assert API_KEY not in out + err
    assert "check: OK" in out


async def test_check_without_pin_says_so(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        code, out, err = await run_check(write_config(tmp_path, endpoint=ing.url))
    assert code == 0, err
    assert "not configured" in out


async def test_check_pin_mismatch_fails_with_both_fingerprints(tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with ScriptedIngestor() as ing:
        cfg = write_config(
            tmp_path, endpoint=ing.url, encryption={"public_key_fingerprint": fingerprint(other)}
        )
        code, out, err = await run_check(cfg)
    assert code == 1
    assert "PinMismatchError" in err
    assert fingerprint(other) in err and ing.fingerprint in err
    assert "check: OK" not in out
    assert [r.path for r in ing.requests] == ["/v1/handshake/init"]


async def test_check_connection_refused(tmp_path: Path) -> None:
    code, _, err = await run_check(write_config(tmp_path, endpoint="http://127.0.0.1:1"))
    assert code == 1
    assert "connection refused by http://127.0.0.1:1" in err


async def test_check_key_refused(tmp_path: Path) -> None:
    async with ScriptedIngestor(api_key="eu-lf_adifferentkey0000") as ing:
        code, _, err = await run_check(write_config(tmp_path, endpoint=ing.url))
    assert code == 1
    assert "refused the API key eu-lf_****" in err and "HTTP 401" in err
    assert API_KEY not in err


async def test_check_non_pem_server_key(tmp_path: Path) -> None:
    async with ScriptedIngestor() as ing:
        ing.rewrite["/v1/handshake/init"] = lambda doc: {"public_key": "ssh-rsa AAAAB3Nza"}
        code, _, err = await run_check(write_config(tmp_path, endpoint=ing.url))
    assert code == 1
    assert "not a PEM public key" in err


async def test_check_tls_untrusted_then_trusted_with_ca_file(
    tmp_path: Path,
    pki: dict[str, Path],
) -> None:
    async with ScriptedIngestor(ssl_context=server_ssl(pki)) as ing:
        code, _, err = await run_check(write_config(tmp_path, endpoint=ing.url))
        assert code == 1
        assert "TLS certificate verification failed" in err
        code, out, err = await run_check(
            write_config(tmp_path, endpoint=ing.url, ca_file=str(pki["ca"]))
        )
    assert code == 0, err
    assert ing.url in out


async def test_check_config_error_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("api_key: [not, a, key]\nstate_dir: 5\n", encoding="utf-8")
    code, out, err = await run_check(path)
    assert code == 2
    assert "configuration error" in err and "check: OK" not in out
