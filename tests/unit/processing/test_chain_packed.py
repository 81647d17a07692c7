"""A packed read (packed.py ``Lines``) through a chain of line-keeping processors: the chain
gives a ``Lines`` back whose entries, counts and held tokens equal what the same read as
records gives (Hypothesis: secrets, labels, global labels, record ids, mask and hash); a read
whose redaction fails leaves as those same records; which chains keep reads packed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.config.load import load_config_text
from logflux_agent.config.model import FileInputConfig
from logflux_agent.packed import Lines
from logflux_agent.processing.chain import Chain, build_chain, keeps_lines
from logflux_agent.record import AckToken

KEY = "eu-lf_0123456789abcdef0123456789abcdef"
READ_TIME = 1_796_104_800.0

SECRETS = [
    "eu-lf_9f8e7d6c5b4a39281706aa",
    "Authorization: Bearer tok3n.value-xyz",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "AKIAIOSFODNN7EXAMPLE",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "4111 1111 1111 1111",
    "jane.doe@example.org",
    "192.168.10.254",
    "2001:db8:85a3::8a2e:370:7334",
    "user=alice",
]
TEXT = st.lists(
    st.sampled_from(SECRETS) | st.text(alphabet="aAbz_:.-@019 xyJV=", max_size=10), max_size=6
).map(" ".join)
LABELS = st.dictionaries(
    st.sampled_from(["env", "owner", "host"]), st.sampled_from(["prod", "ops@example.org", "h1"])
)
CHAINS = [
    "      - redact: {}",
    "      - redact: {replace: hash}",
    "      - redact: {detectors: [ipv4, email]}\n      - set: {team: core}",
    "      - rename: {env: stage}\n      - redact: {custom: {user: 'user=\\w+'}}",
    "      - drop_fields: [host]\n      - redact: {}\n      - redact: {detectors: [card]}",
]


class Stream:
    key = "s"

    def commit(self, position: int | str) -> None:
        del position


def chain_for(processors: str, labels: dict[str, str] | None = None, tmp: str = "") -> Chain:
    doc = f"api_key: {KEY}\ninputs:\n  - type: file\n    id: app\n    paths: [/tmp/x.log]\n"
    cfg = load_config_text(doc + f"    processors:\n{processors}\n", "t.yaml", {})
    [inp] = cfg.inputs
    assert isinstance(inp, FileInputConfig)
    chain = build_chain(inp.id, inp.processors, labels, state_dir=tmp or None)
    assert chain is not None
    return chain


def both(
    processors: str, lines: list[Lines], globals_: dict[str, str] | None, tmp: str
) -> tuple[list[Any], list[Any], Chain, Chain]:
    """Each read through one chain as it is and through another as records."""
    packed, plain = chain_for(processors, globals_, tmp), chain_for(processors, globals_, tmp)
    outs_packed = [packed.process(read, 1.0) for read in lines]
    outs_plain = [plain.process(list(read), 1.0) for read in lines]
    return outs_packed, outs_plain, packed, plain


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(TEXT, min_size=1, max_size=10), min_size=1, max_size=4),
    st.sampled_from(CHAINS),
    LABELS,
    st.none() | LABELS,
    st.booleans(),
)
def test_a_packed_read_gives_the_entries_and_counts_of_the_same_read_as_records(
    tmp_path_factory: Any,
    reads: list[list[str]],
    processors: str,
    labels: dict[str, str],
    globals_: dict[str, str] | None,
    ids: bool,
) -> None:
    stream = Stream()
    lines = []
    for n, texts in enumerate(reads):
        rids = [f"r{n}-{i}" for i in range(len(texts))] if ids else None
        lines.append(
            Lines(texts, READ_TIME, 6, "/tmp/x.log", labels, AckToken(stream, n), rids)  # type: ignore[arg-type]
        )
    tmp = str(tmp_path_factory.mktemp("key"))
    outs_packed, outs_plain, packed, plain = both(processors, lines, globals_, tmp)
    for got, expected in zip(outs_packed, outs_plain, strict=True):
        assert type(got) is Lines
        assert list(got) == expected
    assert packed.reporter.counts == plain.reporter.counts
    assert packed.reporter.carry == plain.reporter.carry


def test_the_packed_output_is_redacted_and_keeps_the_read_s_fields() -> None:
    stream = Stream()
    token = AckToken(stream, 42)  # type: ignore[arg-type]
    read = Lines(
        ["from 10.1.2.3 ok", "mail bob@example.org"],
        READ_TIME,
        6,
        "/tmp/x.log",
        {"owner": "ops@example.org"},
        token,
        ["a", "b"],
    )
    out = chain_for("      - redact: {}").process(read, 1.0)
    assert type(out) is Lines
    assert out.messages == ["from [REDACTED:ipv4] ok", "mail [REDACTED:email]"]
    assert (out.timestamp, out.level, out.source, out.ack, out.rids) == (
        READ_TIME,
        6,
        "/tmp/x.log",
        token,
        ["a", "b"],
    )
    assert out.attributes == {"owner": "[REDACTED:email]"}
    assert read.messages == ["from 10.1.2.3 ok", "mail bob@example.org"]  # the input's list


def test_a_file_input_s_id_columns_stay_columns_through_redaction() -> None:
    # The encoder writes ids from columns in one pass; strings would take it off that path.
    ids = ("f:0123456789abcdef:", [0, 17], -1)
    read = Lines(["from 10.1.2.3 ok", "mail bob@example.org"], READ_TIME, 6, "/tmp/x.log", {})
    read.ids = ids
    out = chain_for("      - redact: {}").process(read, 1.0)
    assert type(out) is Lines
    assert out.ids is ids
    assert out.rids == ["f:0123456789abcdef:0", "f:0123456789abcdef:17"]


@pytest.mark.parametrize("on_error", ["drop", "ship"])
def test_a_read_whose_redaction_fails_leaves_as_the_records_path_s_records(on_error: str) -> None:
    processors = (
        f"      - redact: {{custom: {{user: 'user=\\w+'}}, max_chars: 1024, on_error: {on_error}}}"
    )
    texts = ["user=alice short", "user=bob " + "x" * 1100, "tail 10.0.0.1"]
    read = Lines(texts, READ_TIME, 6, "/tmp/x.log", {}, AckToken(Stream(), 3))  # type: ignore[arg-type]
    outs_packed, outs_plain, packed, plain = both(processors, [read], None, "")
    [got], [expected] = outs_packed, outs_plain
    assert type(got) is list and got == expected
    assert len(got) == (2 if on_error == "drop" else 3)
    assert got[-1].ack is read.ack
    assert packed.reporter.counts == plain.reporter.counts
    # counted as a problem, and as a drop too when dropped
    assert packed.reporter.counts[("redact", "redact_failed")] == (2 if on_error == "drop" else 1)


def test_a_pem_block_printed_line_by_line_is_masked_across_packed_reads() -> None:
    stream = Stream()
    reads = [
        ["start", "-----BEGIN RSA PRIVATE KEY-----"],
        ["MIIEsecretBODY", "moreBODY"],
        ["-----END RSA PRIVATE KEY-----", "after 10.0.0.1"],
    ]
    lines = [
        Lines(t, READ_TIME, 6, "/tmp/x.log", {}, AckToken(stream, n))  # type: ignore[arg-type]
        for n, t in enumerate(reads)
    ]
    outs_packed, outs_plain, _, _ = both("      - redact: {}", lines, None, "")
    assert [list(o) for o in outs_packed] == outs_plain
    shipped = " ".join(m for o in outs_packed for m in o.messages)
    assert "BODY" not in shipped and "10.0.0.1" not in shipped


@pytest.mark.parametrize(
    ("processors", "packed"),
    [
        ((), True),
        (({"redact": {}}, {"set": {"a": "b"}}), True),
        (({"rename": {"a": "b"}}, {"drop_fields": ["a"]}), True),
        (({"redact": {}}, {"exclude": {"patterns": ["x"]}}), False),
        (({"redact": {}}, {"search_tokens": {}}), False),
        (({"json": {}}, {"redact": {}}), False),
        (({"detect_level": {}},), False),
        (({"cri": {}}, {"redact": {}}), False),
        (({"sample": {"every": 2}},), False),
    ],
)
def test_only_chains_of_line_keeping_processors_keep_reads_packed(
    processors: tuple[dict[str, Any], ...], packed: bool
) -> None:
    import yaml

    doc = {"api_key": KEY, "inputs": [{"type": "file", "id": "a", "paths": ["/tmp/x.log"]}]}
    if processors:
        doc["inputs"][0]["processors"] = list(processors)  # type: ignore[index]
    [inp] = load_config_text(yaml.safe_dump(doc), "t.yaml", {}).inputs
    assert isinstance(inp, FileInputConfig)
    assert keeps_lines(inp.processors) is packed
