"""`logflux-agent dev-ingestor` as a real child process: the ready file, a masked banner, a
clean SIGTERM, user keys, TLS with a self-signed certificate, counting mode, recording to
stdout, restart on the same port, and clear errors for bad flags."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.refingestor import DEV_API_KEY, RefIngestor
from tests.support.wire import (
    BOUNDARY,
    Entry,
    Session,
    build_part,
    multipart,
    wrap_key,
)

pytestmark = pytest.mark.timeout(120)


def call(
    url: str,
    path: str,
    *,
    key: str | None,
    body: bytes | None = None,
    ctype: str = "application/json",
    ctx: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": ctype}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(
        url + path, data=body, headers=headers, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def handshake(url: str, key: str, ctx: ssl.SSLContext | None = None) -> Session:
    status, init = call(
        url, "/v1/handshake/init", key=key, body=json.dumps({"api_key": key}).encode(), ctx=ctx
    )
    assert status == 200, init
    aes = os.urandom(32)
    status, done = call(
        url,
        "/v1/handshake/complete",
        key=key,
        ctx=ctx,
        body=json.dumps(
            {"api_key": key, "encrypted_secret": wrap_key(init["public_key"], aes)}
        ).encode(),
    )
    assert status == 200, done
    return Session(done["key_id"], aes, init["public_key"])


def ingest(url: str, key: str, body: bytes, ctx: ssl.SSLContext | None = None) -> tuple[int, Any]:
    return call(
        url,
        "/v1/ingest",
        key=key,
        body=body,
        ctx=ctx,
        ctype=f"multipart/mixed; boundary={BOUNDARY}",
    )


def fingerprint_of(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def test_ready_file_banner_masking_and_sigterm(tmp_path: Path) -> None:
    with RefIngestor(workdir=tmp_path, same_key=False) as ing:
        assert ing.proc is not None
        assert ing.ready["pid"] == ing.proc.pid and ing.ready["api_keys"] == [DEV_API_KEY]
        assert ing.url == f"http://127.0.0.1:{ing.port}" and ing.port > 0
        assert ing.fingerprint.startswith("SHA256:") and len(ing.fingerprint) == 71
        assert oct(ing.ready_file.stat().st_mode & 0o777) == "0o600"
        session = handshake(ing.url, ing.api_key)
        assert session.public_pem and call(ing.url, "/health", key=None)[0] == 200
        assert ing.stop() == 0  # SIGTERM: clean exit
    log = (tmp_path / "ingestor.log").read_text()
    assert ing.fingerprint in log and "eu-lf_****0001" in log
    assert DEV_API_KEY not in log  # the key is only ever shown masked
    assert "devserver.stopping" in log


def test_user_keys_and_an_openssl_private_key(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "server.pem"  # PKCS#1 "BEGIN RSA PRIVATE KEY", as `openssl genrsa` writes
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    args = [
        "--private-key",
        str(pem),
        "--api-key",
        "eu-lf_first00001",
        "--api-key",
        "lf_legacy0002",
        "--max-batch-size",
        "2",
        "--init-wrapped",
    ]
    with RefIngestor(args, workdir=tmp_path / "ing") as ing:
        assert ing.fingerprint == fingerprint_of(key)
        assert ing.api_keys == ["eu-lf_first00001", "lf_legacy0002"]
        status, init = call(ing.url, "/v1/handshake/init", key="lf_legacy0002", body=b"{}")
        assert status == 200 and init["data"]["limits"]["max_batch_size"] == 2
        status, _ = call(ing.url, "/v1/handshake/init", key=DEV_API_KEY, body=b"{}")
        assert status == 401
        log = ing.log_path.read_text()
        assert "eu-lf_first00001" not in log and "lf_legacy0002" not in log


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with RefIngestor(
        ["--tls-cert", str(cert), "--tls-key", str(key)], workdir=tmp_path / "ing"
    ) as ing:
        assert ing.url.startswith("https://127.0.0.1:") and ing.ready["tls"] is True
        trusting = ssl.create_default_context(cafile=str(cert))
        session = handshake(ing.url, ing.api_key, trusting)
        body = multipart([build_part(session, Entry("over TLS"))])
        status, reply = ingest(ing.url, ing.api_key, body, trusting)
        assert status == 202 and reply["data"]["succeeded"] == 1
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            call(ing.url, "/health", key=None, ctx=ssl.create_default_context())
        status, doc = call(ing.url, "/", key=None, ctx=trusting)
        assert doc["endpoints"]["ingestor_url"] == ing.url
        ing.verify({"src": ["over TLS"]})


def test_counting_mode_counts_without_decrypting(tmp_path: Path) -> None:
    with RefIngestor(["--no-decrypt", "--max-batch-size", "50"], workdir=tmp_path) as ing:
        session = Session("any-key-id", os.urandom(32), "")
        body = multipart([build_part(session, Entry(f"m{i}")) for i in range(40)])
        status, reply = ingest(ing.url, ing.api_key, body)
        assert status == 202 and reply["data"]["succeeded"] == 40
        ing.faults(fail_indexes=[3])
        assert ingest(ing.url, ing.api_key, body)[1]["data"]["failed"] == 1
        stats = ing.stats()
        assert stats["mode"] == "count" and stats["parts"] == 80
        assert stats["entries_accepted"] == 79 and stats["bytes_in"] == 2 * len(body)
        assert stats["entries_recorded"] == 0 and ing.entries() == []
        ing.wait_for_entries(79, timeout=10)
        assert ingest(ing.url, ing.api_key, body[:-10])[0] == 400  # framing is still checked
        too_many = multipart([build_part(session, Entry("x"))] * 51)
        assert ingest(ing.url, ing.api_key, too_many)[0] == 413
        assert ingest(ing.url, "eu-lf_wrongwrong", body)[0] == 401


def test_output_to_stdout(tmp_path: Path) -> None:
    with RefIngestor(["--output", "-"], workdir=tmp_path) as ing:
        session = handshake(ing.url, ing.api_key)
        assert (
            ingest(ing.url, ing.api_key, multipart([build_part(session, Entry("to stdout"))]))[0]
            == 202
        )
        assert ing.entries()[0]["payload"]["message"] == "to stdout"  # via /_ref/entries
        ing.stop()
    lines = [
        json.loads(x)
        for x in ing.log_path.read_text().splitlines()
        if x.startswith('{"key_id"') and '"payload":' in x
    ]
    assert [x["payload"]["message"] for x in lines] == ["to stdout"]


def test_restart_keeps_port_key_and_entries_but_not_sessions(tmp_path: Path) -> None:
    with RefIngestor(workdir=tmp_path) as ing:
        port, fingerprint = ing.port, ing.fingerprint
        session = handshake(ing.url, ing.api_key)
        assert (
            ingest(ing.url, ing.api_key, multipart([build_part(session, Entry("before"))]))[0]
            == 202
        )
        ing.kill()
        ing.restart()
        assert (ing.port, ing.fingerprint) == (port, fingerprint)
        status, reply = ingest(
            ing.url, ing.api_key, multipart([build_part(session, Entry("stale key"))])
        )
        assert status == 401 and reply["error"]["code"] == "invalid_key_id"
        session = handshake(ing.url, ing.api_key)
        assert (
            ingest(ing.url, ing.api_key, multipart([build_part(session, Entry("after"))]))[0] == 202
        )
        ing.wait_for_entries(2)
        ing.verify({"src": ["before", "after"]})
        ing.reset()
        assert ing.entries() == [] and ing.stats()["entries_accepted"] == 0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logflux_agent", "dev-ingestor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_flags_give_clear_errors(tmp_path: Path) -> None:
    done = run_cli("--tls-cert", str(tmp_path / "c.pem"))
    assert done.returncode == 2 and "--tls-cert and --tls-key go together" in done.stderr
    done = run_cli("--private-key", str(tmp_path / "missing.pem"))
    assert done.returncode == 2 and "cannot read --private-key" in done.stderr
    (tmp_path / "bad.pem").write_text("not a key")
    done = run_cli("--private-key", str(tmp_path / "bad.pem"))
    assert done.returncode == 2 and "not a PEM private key" in done.stderr
    assert "Traceback" not in done.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        done = run_cli("--port", str(busy.getsockname()[1]))
    assert done.returncode == 1 and "cannot listen on 127.0.0.1" in done.stderr


def test_every_flag_reaches_the_server_options(tmp_path: Path) -> None:
    from logflux_agent.cli import build_parser
    from logflux_agent.commands.dev_ingestor import build_options

    args = build_parser().parse_args(
        [
            "dev-ingestor",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--region",
            "us",
            "--api-key",
            "a1",
            "--api-key",
            "a2",
            "--no-decrypt",
            "--lenient-js-framing",
            "--max-batch-size",
            "5",
            "--max-payload-size",
            "6",
            "--max-request-size",
            "7",
            "--entry-limit",
            "part",
            "--success-status",
            "200",
            "--key-id-field",
            "key_uuid",
            "--init-wrapped",
            "--complete-wrapped",
            "--legacy-discovery",
            "--store-duplicates",
            "--rate-limit",
            "9",
            "--output",
            "-",
            "--keep-entries",
            "10",
            "--nonce-memory",
            "11",
            "--max-sessions",
            "12",
            "--public-url",
            "https://ingest.example",
        ]
    )
    opts = build_options(args)
    sw = opts.switches
    assert (opts.host, opts.port, opts.region, opts.api_keys) == ("0.0.0.0", 0, "us", ("a1", "a2"))
    assert opts.no_decrypt and opts.lenient_js_framing and opts.output == "-"
    assert (sw.limits.max_batch_size, sw.limits.max_payload_size, sw.limits.max_request_size) == (
        5,
        6,
        7,
    )
    assert (sw.entry_limit, sw.success_status, sw.key_id_field) == ("part", 200, "key_uuid")
    assert sw.init_wrapped and sw.complete_wrapped and sw.legacy_discovery
    assert sw.store_duplicates and opts.rate_limit == 9
    assert (opts.keep_entries, opts.nonce_memory, opts.max_sessions) == (10, 11, 12)
    assert opts.public_url == "https://ingest.example"
    defaults = build_options(build_parser().parse_args(["dev-ingestor"]))
    assert defaults.api_keys == (DEV_API_KEY,) and defaults.port == 8080
    assert defaults.switches.limits.max_request_size == 10_485_760
    assert defaults.keep_entries == 1_000_000 and defaults.switches.success_status == 202
