"""redact: each built-in detector replaces its kind (mask and hash), never a near-miss
(Hypothesis), custom rules, the local hash key, and what happens on a line too long."""

from __future__ import annotations

import os
import random
import stat
import string
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.config.privacy import DETECTORS, RedactProcessor
from logflux_agent.observe import metrics
from logflux_agent.processing.chain import Chain
from logflux_agent.processing.redact import KEY_FILE, Redactor, load_key, luhn_ok
from logflux_agent.record import Record

SAMPLES = {
    "logflux_key": ["eu-lf_9f8e7d6c5b4a39281706", "lf_legacyKEY0123456789", "us-lf_usr_PATbody123"],
    "authorization": ["Authorization: Bearer tok3n.value-xyz", "authorization=Basic dXNlcjpwYXNz"],
    "jwt": ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"],
    "aws_access_key": ["AKIAIOSFODNN7EXAMPLE"],
    "aws_secret_key": ["aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
    "private_key": ["-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"],
    "card": ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009"],
    "email": ["jane.doe+shop@example.org"],
    "ipv4": ["192.168.10.254"],
    "ipv6": ["2001:db8:85a3::8a2e:370:7334", "fe80::1"],
}
SECRET_PART = {  # what must be gone (the Authorization header's scheme word may stay)
    "Authorization: Bearer tok3n.value-xyz": "tok3n.value-xyz",
    "authorization=Basic dXNlcjpwYXNz": "dXNlcjpwYXNz",
    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "wJalrXUtnFEMI",
}


def only(name: str, **kw: object) -> Redactor:
    return Redactor(RedactProcessor(detectors=(name,), **kw), None)  # type: ignore[arg-type]


def test_every_builtin_detector_masks_its_kind() -> None:
    assert set(SAMPLES) == set(DETECTORS)
    for name, values in SAMPLES.items():
        r = only(name)
        for value in values:
            out = r.text(f"before {value} after")
            assert SECRET_PART.get(value, value) not in out, (name, out)
            assert f"[REDACTED:{name}]" in out and out.startswith("before ")
            assert out.endswith(" after")


def test_all_detectors_together_replace_everything_at_once() -> None:
    r = Redactor(RedactProcessor(), None)
    line = " | ".join(v for values in SAMPLES.values() for v in values)
    out = r.text(line)
    for value in (v for values in SAMPLES.values() for v in values):
        assert SECRET_PART.get(value, value) not in out
    assert sum(r.counts.values()) == sum(map(len, SAMPLES.values()))


def test_hash_gives_the_same_pseudonym_for_the_same_value() -> None:
    r = Redactor(RedactProcessor(replace="hash", detectors=("email",)), b"k" * 32)
    out = r.text("a@example.com b@example.com a@example.com")
    first, second, third = out.split(" ")
    assert first == third != second and first.startswith("[HASH:email:") and len(first) == 29
    other = Redactor(RedactProcessor(replace="hash", detectors=("email",)), b"j" * 32)
    assert other.text("a@example.com") != first  # the key matters


def test_the_hash_key_is_created_once_0600(tmp_path: Path) -> None:
    key = load_key(str(tmp_path))
    path = tmp_path / KEY_FILE
    assert len(key) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(str(tmp_path)) == key


def test_custom_rule_with_a_secret_group_replaces_only_the_group() -> None:
    cfg = RedactProcessor(detectors=(), custom={"user_id": r"user=(?P<secret>\w+)"})
    assert Redactor(cfg, None).text("login user=alice ok") == "login user=[REDACTED:user_id] ok"


def test_redaction_covers_message_fields_and_attributes_and_counts_per_rule() -> None:
    from logflux_agent.config.processors import JsonProcessor

    chain = Chain("r-all", (JsonProcessor(message_key="msg"), RedactProcessor()))
    line = '{"msg":"paid with 4111111111111111","client":"10.1.2.3"}'
    [rec] = chain.process([Record(line, 1.0, 7, "s", {"owner": "ops@example.com"})], 0.0)
    assert rec.message == "paid with [REDACTED:card]"
    assert rec.attributes == {"owner": "[REDACTED:email]", "client": "[REDACTED:ipv4]"}
    for rule in ("card", "ipv4", "email"):
        sample = {"input": "r-all", "rule": rule}
        assert metrics.REGISTRY.get_sample_value("logflux_agent_redactions_total", sample)


def test_an_over_long_line_with_custom_rules_is_dropped_by_default_or_shipped_flagged() -> None:
    long = "x" * 2000 + " user=bob"
    custom = {"user": r"user=(?P<secret>\w+)"}
    drop = Chain("r-drop", (RedactProcessor(custom=custom, max_chars=1024),))
    assert drop.process([Record(long, 1.0, 7, "s", {})], 0.0) == []
    sample = {"input": "r-drop", "processor": "redact", "reason": "redact_failed"}
    assert metrics.REGISTRY.get_sample_value(
        "logflux_agent_processing_dropped_entries_total", sample
    )
    ship = Chain("r-ship", (RedactProcessor(custom=custom, max_chars=1024, on_error="ship"),))
    [rec] = ship.process([Record(long + " 10.0.0.9", 1.0, 7, "s", {})], 0.0)
    assert rec.attributes["redaction"] == "incomplete"
    assert "10.0.0.9" not in rec.message  # the built-in detectors still ran


# ---- Hypothesis: near-misses are never flagged, real ones never missed ----------------------

NOISE = st.text(alphabet=string.ascii_letters + " ,;:()[]", max_size=40)


def luhn_digit(body: str) -> str:
    return next(d for d in string.digits if luhn_ok(body + d))


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    n = draw(st.integers(13, 19))
    body = "".join(draw(st.lists(st.sampled_from(string.digits), min_size=n - 1, max_size=n - 1)))
    return body + luhn_digit(body)


@st.composite
def near_miss_cards(draw: st.DrawFn) -> str:
    number = draw(card_numbers())
    kind = draw(st.sampled_from(["bad_check", "short", "long"]))
    if kind == "bad_check":
        last = int(number[-1])
        return number[:-1] + str((last + draw(st.integers(1, 9))) % 10)
    if kind == "short":
        body = number[:11]
        return body + luhn_digit(body)  # 12 digits, valid Luhn
    body = number + "0" * (19 - len(number)) + "1"
    return body + luhn_digit(body)  # 21 digits, valid Luhn


@settings(max_examples=300, deadline=None)
@given(near_miss_cards(), NOISE, NOISE)
def test_card_detector_never_flags_a_near_miss(number: str, left: str, right: str) -> None:
    r = only("card")
    text = f"{left} {number} {right}"
    assert r.text(text) == text


@settings(max_examples=300, deadline=None)
@given(card_numbers(), NOISE, NOISE, st.sampled_from(["", " ", "-"]))
def test_card_detector_never_misses_one_in_random_text(
    number: str, left: str, right: str, sep: str
) -> None:
    grouped = sep.join(number[i : i + 4] for i in range(0, len(number), 4))
    out = only("card").text(f"{left} {grouped} {right}")
    assert grouped not in out and "[REDACTED:card]" in out


KEY_BODY = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["", "eu-", "us-", "ca-", "au-", "ap-"]),
    st.sampled_from(["lf_", "lf_usr_"]),
    KEY_BODY,
    NOISE,
    NOISE,
)
def test_key_detector_never_misses_a_key_in_random_text(
    region: str, prefix: str, body: str, left: str, right: str
) -> None:
    key = region + prefix + body
    out = only("logflux_key").text(f"{left} {key} {right}")
    assert key not in out and "[REDACTED:logflux_key]" in out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["lf", "lf-", "lfx_", "alf_", "elf_", "_lf_", "l_f_", "LF_"]), KEY_BODY)
def test_key_detector_never_flags_a_near_miss(prefix: str, body: str) -> None:
    text = f"value {prefix}{body.replace('_', 'x')} end"  # a leading _ would make a key
    assert only("logflux_key").text(text) == text


def test_generated_noise_alone_is_never_flagged_by_card_or_key() -> None:
    rng = random.Random(7)
    r = Redactor(RedactProcessor(detectors=("card", "logflux_key")), None)
    for _ in range(2000):
        text = "".join(rng.choice(string.ascii_letters + " .,") for _ in range(80))
        text += " " + "".join(rng.choice(string.digits) for _ in range(rng.randint(1, 12)))
        assert r.text(text) == text


def test_a_pem_block_printed_line_by_line_is_replaced_whole_until_its_end() -> None:
    chain = Chain("r-pem", (RedactProcessor(detectors=("private_key",)),))
    lines = ["key: -----BEGIN RSA PRIVATE KEY-----", "MIIEsecretbody", "moreSECRET"]
    lines += ["-----END RSA PRIVATE KEY-----", "after the block"]
    out = chain.process([Record(t, 1.0, 7, "f", {}) for t in lines], 0.0)
    assert [r.message for r in out] == ["key: [REDACTED:private_key]"] + [
        "[REDACTED:private_key]"
    ] * 3 + ["after the block"]


def test_bad_redact_options_are_config_errors_with_file_line_col() -> None:
    import pytest

    from logflux_agent.config.load import load_config_text
    from logflux_agent.errors import ConfigError

    head = (
        "api_key: eu-lf_0123456789abcdef0123456789abcdef\ninputs:\n  - type: file\n"
        "    id: app\n    paths: [/var/log/x.log]\n    processors:\n"
    )
    cases = {
        "      - redact: {custom: {user: '(\\\\w+\\\\s?)*x'}}\n": "nested unbounded repeats",
        "      - redact: {custom: {user: '['}}\n": "a regular expression",
        "      - redact: {custom: {card: 'x'}}\n": "not a built-in detector's name",
        "      - redact: {detectors: [cards]}\n": "one of logflux_key",
        "      - redact: {replace: erase}\n": "one of mask, hash",
    }
    for text, expected in cases.items():
        with pytest.raises(ConfigError) as info:
            load_config_text(head + text, "agent.yaml", {})
        found = info.value.problems
        assert any(expected in p and p.startswith("agent.yaml:7:") for p in found), found
