"""API key rules of protocol.md §1: regional, legacy, PAT, malformed keys, and masking."""

from __future__ import annotations

import pytest

from logflux_agent.credentials import (
    REGIONS,
    ApiKey,
    is_pat,
    mask_key,
    mask_secrets,
    parse_api_key,
    split_region,
)
from logflux_agent.errors import EXIT_CONFIG, CredentialError

BODY = "k3yB0dy_with-dashes.and+more=9xyz"


@pytest.mark.parametrize("region", REGIONS)
def test_regional_key_of_every_region_is_accepted(region: str) -> None:
    key = parse_api_key(f"{region}-lf_{BODY}")
    assert key.region == region
    assert not key.legacy
    assert key.value == f"{region}-lf_{BODY}"


def test_the_five_regions_are_exactly_these() -> None:
    assert REGIONS == ("eu", "us", "ca", "au", "ap")


@pytest.mark.parametrize("raw", ["lf_abc", "lf_" + BODY, "lf_x"])
def test_legacy_key_has_no_region(raw: str) -> None:
    key = parse_api_key(raw)
    assert key.region == ""
    assert key.legacy


def test_region_is_extracted_like_the_sdks() -> None:
    assert split_region("eu-lf_abc") == ("eu", "lf_abc")
    assert split_region("ap-anything") == ("ap", "anything")
    # an unknown prefix is not a region: the whole string is the bare key
    assert split_region("xx-lf_abc") == ("", "xx-lf_abc")
    assert split_region("EU-lf_abc") == ("", "EU-lf_abc")
    assert split_region("lf_abc") == ("", "lf_abc")


@pytest.mark.parametrize(
    "raw", ["eu-lf_usr_abcdef123", "lf_usr_abcdef123", "ap-lf_usr_x", "lf_usr_"]
)
def test_personal_access_token_is_rejected_with_a_message_naming_it(raw: str) -> None:
    assert is_pat(raw)
    with pytest.raises(CredentialError) as err:
        parse_api_key(raw)
    message = str(err.value)
    assert "Personal Access Token" in message
    assert "API key" in message
    if len(raw) > 8:
        assert raw not in message


def test_pat_detection_comes_before_the_key_prefix() -> None:
    # lf_usr_ also starts with lf_: a naive check would call it a legacy key
    assert not is_pat("lf_user123")
    assert parse_api_key("lf_user123").legacy
    assert is_pat("us-lf_usr_1")


def test_unknown_region_is_rejected_naming_it() -> None:
    with pytest.raises(CredentialError, match=r"unknown region 'xx'.*eu, us, ca, au, ap"):
        parse_api_key("xx-lf_abcdefghijkl")


def test_upper_case_region_is_not_a_region() -> None:
    with pytest.raises(CredentialError, match="unknown region 'EU'"):
        parse_api_key("EU-lf_abcdefghijkl")


@pytest.mark.parametrize("raw", ["eu-lf_", "us-lf_"])
def test_regional_key_with_empty_body_is_rejected(raw: str) -> None:
    with pytest.raises(CredentialError, match="no key body"):
        parse_api_key(raw)


def test_regional_prefix_without_lf_is_rejected() -> None:
    with pytest.raises(CredentialError, match="no key body"):
        parse_api_key("eu-abcdefghijkl")


def test_legacy_key_with_empty_body_is_rejected() -> None:
    with pytest.raises(CredentialError, match="empty body"):
        parse_api_key("lf_")


@pytest.mark.parametrize("raw", ["", "hello", "sk_live_abcdef", "lf", "eu_lf_abc"])
def test_other_strings_are_not_keys(raw: str) -> None:
    with pytest.raises(CredentialError):
        parse_api_key(raw)


@pytest.mark.parametrize(
    "raw",
    [
        " eu-lf_abcdefghijkl",
        "eu-lf_abcdefghijkl\n",
        "\teu-lf_abcdefghijkl",
        "eu-lf_abcdefghijkl \r\n",
    ],
)
def test_surrounding_whitespace_is_rejected_not_trimmed(raw: str) -> None:
    with pytest.raises(CredentialError, match="whitespace") as err:
        parse_api_key(raw)
    assert "eu-lf_abcdefghijkl" not in str(err.value)


@pytest.mark.parametrize(
    "raw",
    ['"eu-lf_abcdefghijkl"', "'eu-lf_abcdefghijkl'", '"eu-lf_abcdefghijkl', "eu-lf_abcdefghijkl'"],
)
def test_surrounding_quotes_are_rejected(raw: str) -> None:
    with pytest.raises(CredentialError, match="quotes") as err:
        parse_api_key(raw)
    assert "eu-lf_abcdefghijkl" not in str(err.value)


def test_inner_whitespace_is_rejected() -> None:
    with pytest.raises(CredentialError, match="contains whitespace"):
        parse_api_key("eu-lf_abc def123")


def test_credential_errors_are_config_exit_codes() -> None:
    assert CredentialError.exit_code == EXIT_CONFIG


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("eu-lf_abc123xyz", "eu-lf_****3xyz"),  # the Go SDK's own example
        ("lf_abcdefgh1234", "lf_****1234"),
        ("us-lf_usr_secretsecret", "us-lf_****cret"),
        ("eu-lf_ab", "****"),  # ≤ 8 characters: nothing shown
        ("12345678", "****"),
        ("abcdefghijklmnop", "****mnop"),  # no lf_: still only the last 4
    ],
)
def test_masking_keeps_the_prefix_and_the_last_four(key: str, masked: str) -> None:
    assert mask_key(key) == masked


def test_mask_secrets_masks_every_key_in_free_text() -> None:
    text = "refused eu-lf_abc123xyz and lf_legacy0000key, keep lf_ alone"
    out = mask_secrets(text)
    assert "eu-lf_abc123xyz" not in out and "lf_legacy0000key" not in out
    assert out == "refused eu-lf_****3xyz and lf_****0key, keep lf_ alone"
    assert mask_secrets("nothing secret here") == "nothing secret here"


def test_api_key_repr_and_str_never_show_the_key() -> None:
    raw = "eu-lf_" + "s3cr3t" * 6
    key = parse_api_key(raw)
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key})):
        assert raw not in text
        assert "s3cr3t" * 2 not in text
    assert key.masked == mask_key(raw)
    assert repr(key) == f"ApiKey('{mask_key(raw)}', region='eu')"


def test_api_key_equality_uses_the_value() -> None:
    assert parse_api_key("eu-lf_abc123xyz") == ApiKey("eu-lf_abc123xyz", "eu")
    assert parse_api_key("eu-lf_abc123xyz") != parse_api_key("eu-lf_abc123xyw")
