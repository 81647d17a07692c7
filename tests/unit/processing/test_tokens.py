"""search_tokens: tokens from level, fields and regex captures, the caps and the character
rule, and the encoder putting them in the part header (never in the encrypted payload)."""

from __future__ import annotations

import gzip
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.config.load import load_config_text
from logflux_agent.config.privacy import RedactProcessor, SearchTokensProcessor
from logflux_agent.config.processors import JsonProcessor, describe
from logflux_agent.errors import ConfigError
from logflux_agent.ingest.encode import EncodeJob, PayloadStatics, build_payload, encode_with_aead
from logflux_agent.observe import metrics
from logflux_agent.processing.chain import Chain
from logflux_agent.record import ENTRY_FIELDS, TOKENS_KEY, Record

KEY = "eu-lf_0123456789abcdef0123456789abcdef"


def one(chain: Chain, line: str, level: int = 7) -> Record:
    [rec] = chain.process([Record(line, 1.0, level, "s", {"team": "pay"})], 0.0)
    return rec


def test_tokens_from_level_fields_and_captures_in_order_without_duplicates() -> None:
    cfg = SearchTokensProcessor(fields=("service", "team"), patterns=(r"(?P<status>\d{3}) (\w+)",))
    chain = Chain("t-order", (JsonProcessor(message_key="msg"), cfg))
    rec = one(chain, '{"service":"web","msg":"502 upstream 502 upstream"}', level=4)
    assert rec.attributes[TOKENS_KEY] == "level:error,service:web,team:pay,status:502,upstream"


def test_the_character_rule_and_the_caps_reject_tokens_and_count_them() -> None:
    cfg = SearchTokensProcessor(
        level=False, fields=("a", "b", "c", "d"), max_tokens=2, max_length=8
    )
    chain = Chain("t-rule", (JsonProcessor(), cfg))
    rec = one(chain, '{"a":"x,y","b":" ok ","c":"toolongvalue","d":"fine","e":1}')
    assert rec.attributes.get(TOKENS_KEY) == "b:ok,d:fine"  # a: comma; c: too long
    rec = one(chain, '{"a":"1","b":"2","c":"3","d":"\\u0007"}')
    assert rec.attributes[TOKENS_KEY] == "a:1,b:2"
    for reason in ("invalid_chars", "too_long", "too_many"):
        sample = {"input": "t-rule", "reason": reason}
        assert metrics.REGISTRY.get_sample_value(
            "logflux_agent_search_tokens_rejected_total", sample
        ), reason


def test_tokens_see_redacted_text_when_redact_runs_first() -> None:
    cfg = SearchTokensProcessor(level=False, patterns=(r"from (\S+)",))
    chain = Chain("t-red", (RedactProcessor(detectors=("ipv4",)), cfg))
    assert one(chain, "login from 10.0.0.7").attributes[TOKENS_KEY] == "[REDACTED:ipv4]"


def test_search_tokens_before_redact_is_refused_unless_asked_for() -> None:
    doc = (
        f"api_key: {KEY}\ninputs:\n  - type: file\n    id: app\n    paths: [/var/log/x.log]\n"
        "    processors:\n      - search_tokens: {}\n      - redact: {}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(doc, "agent.yaml", {})
    assert any("agent.yaml:7:" in p and "unencrypted" in p for p in info.value.problems)
    ok = doc.replace("search_tokens: {}", "search_tokens: {before_redact: true}")
    load_config_text(ok, "agent.yaml", {})


def test_validate_description_says_tokens_are_unencrypted() -> None:
    assert "UNENCRYPTED" in describe(SearchTokensProcessor(fields=("service",)))


def test_the_encoder_sends_tokens_as_a_part_header_and_not_in_the_payload() -> None:
    chain = Chain("t-wire", (SearchTokensProcessor(fields=("team",)),))
    with_tokens = one(chain, "hello")
    plain = Record("plain", 1.0, 7, "s", {"team": "pay"})
    key = os.urandom(32)
    job = EncodeJob(
        entries=[ENTRY_FIELDS(with_tokens), ENTRY_FIELDS(plain)],
        key_id="k1",
        nonce_prefix=b"\0" * 4,
        counter_start=0,
        statics=PayloadStatics(),
        boundary="b0undary",
        max_payload=1 << 20,
        max_request=1 << 22,
    )
    batch = encode_with_aead(job, AESGCM(key))
    first, second = (
        batch.body[o : o + s] for o, s in zip(batch.offsets, batch.part_sizes, strict=True)
    )
    assert b"\r\nX-LF-Search-Tokens: level:info,team:pay\r\n" in first
    assert b"X-LF-Search-Tokens" not in second
    payload = build_payload(ENTRY_FIELDS(with_tokens), PayloadStatics())
    assert b"search_tokens" not in payload and b'"team":"pay"' in payload
    head, _, sealed = first.partition(b"\r\n\r\n")
    nonce = (0).to_bytes(12, "big")
    assert b"level:info" not in gzip.decompress(AESGCM(key).decrypt(nonce, sealed, None))
    del head


def test_a_parsed_field_named_like_the_key_is_a_plain_attribute_not_a_header() -> None:
    forged = Record("x", 1.0, 7, "s", {TOKENS_KEY: "evil\r\nX-Bad: 1"})
    payload = build_payload(ENTRY_FIELDS(forged), PayloadStatics())
    assert b"\\u0000search_tokens" in payload  # stays inside the encrypted JSON
