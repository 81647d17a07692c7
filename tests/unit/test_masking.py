"""Masking hides secrets, not explanations: a bare key prefix in a hint stays as written, an
already masked key is not masked again, and the log processor masks dict keys too."""

from __future__ import annotations

import pytest

from logflux_agent.credentials import _PAT_HELP, mask_secrets
from logflux_agent.observe.logging import mask_processor


@pytest.mark.parametrize(
    "text",
    [
        _PAT_HELP,
        "keys look like `eu-lf_…` (regions eu, us, ca, au, ap)",
        "expected '<region>-lf_<key>' or a legacy 'lf_<key>'",
        "the key eu-lf_****3xyz was refused",
        "a Personal Access Token (us-lf_usr_…)",
    ],
)
def test_hints_and_masked_keys_are_left_as_written(text: str) -> None:
    assert mask_secrets(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("node eu-lf_Leak0000Node1234", "node eu-lf_****1234"),
        ("pat lf_usr_abcdefgh5678 here", "pat lf_****5678 here"),
        # "/" can be part of a key: the rest of the path goes too (more hidden, never less)
        ("/var/log/eu-lf_abcdefghWXYZ/app.log", "/var/log/eu-lf_****.log"),
        ("short lf_abcd", "short ****"),
    ],
)
def test_key_shaped_tokens_with_a_body_are_masked(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_the_log_processor_masks_keys_and_values_of_nested_dicts() -> None:
    event = {
        "event": "reload.applied",
        "labels": {"eu-lf_LabelKeyAAAA1111": "eu-lf_LabelValBBBB2222"},
        "paths": ["/x/eu-lf_PathCCCC3333/a.log"],
    }
    out = mask_processor(None, "info", event)
    assert out["labels"] == {"eu-lf_****1111": "eu-lf_****2222"}
    assert out["paths"] == ["/x/eu-lf_****.log"]
