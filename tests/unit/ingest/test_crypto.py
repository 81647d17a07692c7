"""Protocol §9 vectors through the agent's own crypto and encoder, plus key parsing and pinning."""

from __future__ import annotations

import base64
import calendar
import gzip
import hashlib
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.config.model import AgentConfig, EncryptionConfig
from logflux_agent.credentials import parse_api_key
from logflux_agent.errors import ConfigError, HandshakeError
from logflux_agent.ingest import crypto
from logflux_agent.ingest.encode import (
    EncodeJob,
    PayloadStatics,
    build_payload,
    encode_with_nonces,
)
from logflux_agent.ingest.handshake import load_pin

KEY = bytes(range(32))
V1_NONCE = bytes(range(12))
V1_PLAINTEXT = (
    b'{"v":"2.0","type":"log","source":"/var/log/app.log","level":7,'
    b'"ts":"2026-11-28T10:00:00.123456Z","message":"GET /health 200 1ms",'
    b'"attributes":{"host":"web-01"}}'
)
V1_GZIP = base64.b64decode(
    "H4sIAAAAAAAAAyWMTQrDIBCFryKzrjraNi3uQy+QVXemDLFgMKhJKSF370jhbb73t8MGDqxCOEH9LsQQ08RQ0ppfDfXm"
    "s2ZP+2VR/yzSRhHcjSelrdF20hhp74NBh03K2PPl2j25PFMpfmpPj34QOpCPNQiLKMxcOPe15ve4VuKrHUIqlasfGiUa"
    "OI4fMOulS6AAAAA="
)
V1_BODY = base64.b64decode(
    "WIneG8XlwhuNQrIH/OO7TZNTKBZD1WWmDkoLxjL5VcWnHB+cn2lbsVXTkKVp6pbPWZpmg/aUm5vCue4JyyelPGpjy481"
    "YkAu5zH7kcNdSPnkB+7H27IluuWUcU85d/RHEwu8PJn49Em3YlT9xwsxRSroV6No7enGdQjiK3VeOOwQT0LsIXzUSS37"
    "cC8i6qdnfVTjNTUG3iWeJ0zQWhhzUvG8RBuR"
)
V2_NONCE = base64.b64decode("Dw4NDAsKCQgHBgUE")
V2_PLAINTEXT_SHA = "b4d66ce04b1ccd013395c52162180fb1ee97a2bfc02f66a7b8bb52de86921ce3"
V2A = base64.b64decode(
    "u7u5XFvXr67r3KTUeZAJIXkjsEJ8l6PtXoZ/Va+e+R5hvuoEX749drtCVQIWAD5JuqB3qlGAXS00HHerIDb/bUfXRHSX"
    "URzS2lGa+Xed4hfMhv8OMhXxjwN5X2jv27//Mv/LjGp39k86zjTeyujay2oFJPLBwNqih/sADpHY0QIPBA=="
)
V2B = base64.b64decode(
    "u7u5XFvXr67v3KTUeZAJIXkjsEJ8l6PtXoZ/Va+e+R5hvuoEX749drtCVQIWAD5JuqB3qlGAXS00HHerIDb/bUfXRHSX"
    "URzS2lGa+Xed4hfMhv8OMhXxjwN5X2jv27//Mv/LjGp39k86zjTeyujay2oFHKgfdw7zqvi5IeDbleOJ1A=="
)
V3_NONCE = base64.b64decode("paWlpaWlpaWlpaWl")
V3_BODY = base64.b64decode(
    "WmXqggi+GqcYjo/A3FoHQK8glTuMNmNtZCToDFYklrnMnSfNrm/GqvrtVztaJlZFn2ZFRak+DVqz4HvOzpaJFINsA6jE"
    "lGfQ/2t8Nn+kpMSSj1Sa12kq03d+aTStAv8roHgxJ4geUzYIRUTXXHDQj+SUgL/n7UBj/k47OY4="
)
V1_TS = calendar.timegm((2026, 11, 28, 10, 0, 0)) + 0.123456


def v1_job(boundary: str = "b") -> EncodeJob:
    entry = ("GET /health 200 1ms", V1_TS, 7, "/var/log/app.log", {"host": "web-01"})
    return EncodeJob(
        entries=[entry],
        key_id="k-test",
        nonce_prefix=b"",
        counter_start=0,
        statics=PayloadStatics(),
        boundary=boundary,
        max_payload=1 << 20,
        max_request=1 << 24,
        compressor="zlib",
        compress_min_bytes=0,
    )


def test_vector1_plaintext_is_what_the_payload_builder_makes() -> None:
    payload = build_payload(v1_job().entries[0], PayloadStatics())
    assert payload == V1_PLAINTEXT
    assert len(payload) == 160
    assert hashlib.sha256(payload).hexdigest() == (
        "62af0690e3017ec875a4d344ffcd8fa1ea4539d56bb7131ac40afc52a4519ad9"
    )


def test_vector1_full_request_body_is_byte_exact() -> None:
    enc = encode_with_nonces(v1_job(), AESGCM(KEY), [V1_NONCE])
    expected = (
        b"--b\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"X-LF-Entry-Type: 1\r\n"
        b"X-LF-Payload-Type: 1\r\n"
        b"X-LF-Timestamp: 2026-11-28T10:00:00.123456Z\r\n"
        b"X-LF-Key-ID: k-test\r\n"
        b"X-LF-Nonce: AAECAwQFBgcICQoL\r\n"
        b"\r\n" + V1_BODY + b"\r\n--b--\r\n"
    )
    assert enc.body == expected
    assert enc.content_type == "multipart/mixed; boundary=b"
    assert V1_BODY[-16:].hex() == "06de259e274cd05a187352f1bc441b91"
    assert len(V1_BODY) == 165


def test_vector1_gzip_and_decrypt_direction() -> None:
    assert AESGCM(KEY).decrypt(V1_NONCE, V1_BODY, None) == V1_GZIP
    assert gzip.decompress(V1_GZIP) == V1_PLAINTEXT


@pytest.mark.parametrize("body", [V2A, V2B], ids=["2a", "2b"])
def test_vector2_bodies_decrypt_to_the_same_plaintext(body: bytes) -> None:
    plain = gzip.decompress(AESGCM(KEY).decrypt(V2_NONCE, body, None))
    assert len(plain) == 109
    assert hashlib.sha256(plain).hexdigest() == V2_PLAINTEXT_SHA
    assert V2A != V2B


def test_vector3_uncompressed_decrypts_directly() -> None:
    plain = AESGCM(KEY).decrypt(V3_NONCE, V3_BODY, None)
    assert plain[:2] != b"\x1f\x8b"
    assert hashlib.sha256(plain).hexdigest() == V2_PLAINTEXT_SHA


@pytest.mark.parametrize("bit", [0, 7, 8 * 80 + 3, 8 * 164 + 7])
def test_negative_flipped_bit_fails_authentication(bit: int) -> None:
    tampered = bytearray(V1_BODY)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidTag):
        AESGCM(KEY).decrypt(V1_NONCE, bytes(tampered), None)


def test_negative_wrong_nonce_or_key_fails_authentication() -> None:
    with pytest.raises(InvalidTag):
        AESGCM(KEY).decrypt(base64.b64decode("AAECAwQFBgcICQoM"), V1_BODY, None)
    with pytest.raises(InvalidTag):
        AESGCM(bytes(32)).decrypt(V1_NONCE, V1_BODY, None)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def test_oaep_sha256_round_trip_and_sha1_unwrap_fails(rsa_key: rsa.RSAPrivateKey) -> None:
    public = crypto.parse_public_key(pem_of(rsa_key.public_key()))
    secret = bytearray(range(100, 132))
    wrapped = crypto.wrap_key(public, secret)
    assert len(wrapped) == 256
    unwrapped = rsa_key.decrypt(
        wrapped,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )
    assert unwrapped == bytes(secret)
    with pytest.raises(ValueError):
        rsa_key.decrypt(
            wrapped,
            padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        )
    # randomised: the same key wraps differently each time
    assert crypto.wrap_key(public, secret) != wrapped


def test_fingerprint_is_sha256_over_der_spki(rsa_key: rsa.RSAPrivateKey) -> None:
    public = rsa_key.public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = "SHA256:" + hashlib.sha256(der).hexdigest()
    assert crypto.fingerprint(crypto.parse_public_key(pem_of(public))) == expected
    assert len(expected) == len("SHA256:") + 64


def test_parse_public_key_rejections(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_of(rsa_key.public_key())
    with pytest.raises(HandshakeError, match="END PUBLIC KEY"):
        crypto.parse_public_key(pem.split("-----END")[0])
    with pytest.raises(HandshakeError, match="not a PEM"):
        crypto.parse_public_key("MIIBIjANBgkqh")
    pkcs1 = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    with pytest.raises(HandshakeError, match="PKCS#1"):
        crypto.parse_public_key(pkcs1)
    ec_pem = pem_of(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(HandshakeError, match="not RSA"):
        crypto.parse_public_key(ec_pem)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(HandshakeError, match="1024 bits"):
        crypto.parse_public_key(pem_of(small.public_key()))
    broken = pem.replace(pem.splitlines()[1], "MIIB" + "!" * 60)
    with pytest.raises(HandshakeError, match="cannot be parsed"):
        crypto.parse_public_key(broken)


def test_nonce_is_prefix_then_big_endian_counter() -> None:
    assert crypto.nonce_at(b"\xaa\xbb\xcc\xdd", 1) == b"\xaa\xbb\xcc\xdd" + b"\0" * 7 + b"\x01"
    assert crypto.nonce_at(b"\0" * 4, 2**64 - 1)[4:] == b"\xff" * 8
    assert len(crypto.new_nonce_prefix()) == 4


def test_zero_overwrites_in_place() -> None:
    key = crypto.new_session_key()
    assert len(key) == 32 and any(key)
    view = key
    crypto.zero(key)
    assert view == bytearray(32)


def _config(tmp_path: Path, **enc: str) -> AgentConfig:
    return AgentConfig(
        api_key=parse_api_key("eu-lf_testkey123456"),
        state_dir=str(tmp_path),
        encryption=EncryptionConfig(**enc),
    )


def test_pin_forms_and_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    fp = crypto.fingerprint(rsa_key.public_key())
    hexpart = fp.split(":", 1)[1]
    for form in (
        fp,
        hexpart,
        hexpart.upper(),
        "sha256:" + hexpart,
        ":".join(hexpart[i : i + 2] for i in range(0, 64, 2)),
    ):
        pin = load_pin(_config(tmp_path, public_key_fingerprint=form))
        assert pin is not None and pin.fingerprint == fp
    pem_file = tmp_path / "server.pem"
    pem_file.write_text(pem_of(rsa_key.public_key()))
    pin = load_pin(_config(tmp_path, public_key_file=str(pem_file)))
    assert pin is not None and pin.fingerprint == fp and str(pem_file) in pin.source
    assert load_pin(_config(tmp_path)) is None


def test_pin_config_errors(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigError, match="64 hex"):
        load_pin(_config(tmp_path, public_key_fingerprint="SHA256:abc"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_pin(_config(tmp_path, public_key_file=str(tmp_path / "missing.pem")))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem_file = tmp_path / "server.pem"
    pem_file.write_text(pem_of(rsa_key.public_key()))
    with pytest.raises(ConfigError, match="different keys"):
        load_pin(
            _config(
                tmp_path,
                public_key_file=str(pem_file),
                public_key_fingerprint=crypto.fingerprint(other.public_key()),
            )
        )
