"""API keys: parsing, region extraction, PAT detection and masking (protocol.md §1).

Every place that shows a key to a human goes through ``mask_key`` or ``mask_secrets``; the
``ApiKey`` type never renders the full key in ``repr`` or ``str``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from logflux_agent.errors import CredentialError

REGIONS = ("eu", "us", "ca", "au", "ap")
_PAT_PREFIX = "lf_usr_"
_KEY_PREFIX = "lf_"
_PAT_HELP = (
    "this is a Personal Access Token (lf_usr_…) for querying; the agent needs an API key: "
    "Settings → API Keys → Create New API Key"
)

# Anything shaped like a LogFlux credential, with or without region: used to scrub free text.
_SECRET_RE = re.compile(r"\b(?:[a-z]{2}-)?lf_[A-Za-z0-9_\-\.+/=]+")
# A token is a secret only with a body: the prefix alone (``lf_usr_…`` or ``eu-lf_…`` in an
# explanation, or an already masked ``eu-lf_****1234``) names a kind of key and reveals nothing.
_MIN_SECRET_BODY = 4


def mask_key(key: str) -> str:
    """Mask as the Go SDK does: keep up to ``lf_``, then ``****`` and the last 4 characters."""
    if len(key) <= 8:
        return "****"
    cut = key.find(_KEY_PREFIX)
    if cut < 0:
        return "****" + key[-4:]
    return key[: cut + len(_KEY_PREFIX)] + "****" + key[-4:]


def _has_body(token: str) -> bool:
    bare = token[token.find(_KEY_PREFIX) + len(_KEY_PREFIX) :]
    if bare.startswith(_PAT_PREFIX[len(_KEY_PREFIX) :]):  # "usr_"
        bare = bare[len(_PAT_PREFIX) - len(_KEY_PREFIX) :]
    return len(bare.strip("_-.+/=")) >= _MIN_SECRET_BODY


def mask_secrets(text: str) -> str:
    """Replace every key-shaped token in ``text`` by its masked form; a bare prefix with no
    key body (``lf_usr_…`` in a hint) is left as it is."""
    if "lf_" not in text:
        return text
    return _SECRET_RE.sub(
        lambda m: mask_key(m.group(0)) if _has_body(m.group(0)) else m.group(0), text
    )


def split_region(key: str) -> tuple[str, str]:
    """Region and bare key as both SDKs extract them; region is '' when there is none."""
    for region in REGIONS:
        if key.startswith(region + "-"):
            return region, key[len(region) + 1 :]
    return "", key


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A validated ingest API key. ``region`` is '' for a legacy key."""

    value: str = field(repr=False)
    region: str

    @property
    def legacy(self) -> bool:
        return self.region == ""

    @property
    def masked(self) -> str:
        return mask_key(self.value)

    def __repr__(self) -> str:
        return f"ApiKey({self.masked!r}, region={self.region!r})"

    def __str__(self) -> str:
        return self.masked


def is_pat(key: str) -> bool:
    """True when ``key`` is a Personal Access Token (with or without a region prefix)."""
    _, bare = split_region(key)
    return bare.startswith(_PAT_PREFIX)


def parse_api_key(raw: str) -> ApiKey:
    """Validate ``raw`` as an ingest API key, or raise ``CredentialError`` saying what is wrong.

    Acceptance order (protocol.md §1): no silent trimming, PAT rejected, regional key, legacy key.
    """
    if raw == "":
        raise CredentialError("the API key is empty")
    if raw != raw.strip():
        raise CredentialError(
            f"the API key {mask_key(raw.strip())} has leading or trailing whitespace "
            "(a copy-paste artefact?); remove it"
        )
    if raw[0] in "\"'" or raw[-1] in "\"'":
        raise CredentialError(
            f"the API key {mask_key(raw.strip(chr(34) + chr(39)))} is wrapped in quotes; "
            "remove them"
        )
    if any(ch.isspace() for ch in raw):
        raise CredentialError(f"the API key {mask_key(raw)} contains whitespace")
    if is_pat(raw):
        raise CredentialError(f"{mask_key(raw)}: {_PAT_HELP}")
    region, bare = split_region(raw)
    if region:
        if not bare.startswith(_KEY_PREFIX) or len(bare) <= len(_KEY_PREFIX):
            raise CredentialError(
                f"the API key {mask_key(raw)} has region {region!r} but no key body: expected "
                f"'{region}-lf_<key>'"
            )
        return ApiKey(raw, region)
    if raw.startswith(_KEY_PREFIX):
        if len(raw) <= len(_KEY_PREFIX):
            raise CredentialError("the API key 'lf_' has an empty body: expected 'lf_<key>'")
        return ApiKey(raw, "")
    prefix, sep, rest = raw.partition("-")
    if sep and rest.startswith(_KEY_PREFIX):
        raise CredentialError(
            f"the API key {mask_key(raw)} names unknown region {prefix!r}: "
            f"expected one of {', '.join(REGIONS)}"
        )
    raise CredentialError(
        f"{mask_key(raw)} is not a LogFlux API key: expected '<region>-lf_<key>' "
        f"(region one of {', '.join(REGIONS)}) or a legacy 'lf_<key>'"
    )
