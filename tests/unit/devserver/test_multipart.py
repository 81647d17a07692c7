"""The reference ingestor's multipart parser: RFC 2046 framing accepted exactly, the JS SDK's
framing refused by default and accepted leniently, and the counting scan agreeing with the
full parser on every body (hypothesis)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logflux_agent.devserver.multipart import (
    MultipartError,
    TooManyParts,
    boundary_from_content_type,
    count_parts,
    parse_multipart,
    scan_multipart,
)

B = b"0123456789abcdef0123456789abcdef"
H1 = b"Content-Type: application/octet-stream\r\nX-LF-Entry-Type: 1\r\n"
H2 = b"content-type: application/octet-stream\r\nX-Lf-Entry-Type: 7\r\n"


def rfc(parts: list[tuple[bytes, bytes]], boundary: bytes = B) -> bytes:
    """Go's layout: --b CRLF headers CRLF body, CRLF --b CRLF ..., CRLF --b-- CRLF."""
    out = b"--" + boundary + b"\r\n"
    out += (b"\r\n--" + boundary + b"\r\n").join(h + b"\r\n" + body for h, body in parts)
    return out + b"\r\n--" + boundary + b"--\r\n"


def js(parts: list[tuple[bytes, bytes]], boundary: bytes = B) -> bytes:
    """The JS SDK's layout: no CRLF between a body and the next delimiter."""
    out = b""
    for h, body in parts:
        out += b"--" + boundary + b"\r\n" + h + b"\r\n" + body
    return out + b"\r\n--" + boundary + b"--\r\n"


def test_two_parts_rfc_framing() -> None:
    parts = parse_multipart(rfc([(H1, b"first\r\nbody"), (H2, b"second")]), B)
    assert [p.body for p in parts] == [b"first\r\nbody", b"second"]
    assert parts[0].headers == {"content-type": "application/octet-stream", "x-lf-entry-type": "1"}
    assert parts[1].headers["x-lf-entry-type"] == "7"  # names are case-insensitive
    assert scan_multipart(rfc([(H1, b"first\r\nbody"), (H2, b"second")]), B) == (2, 17)
    # Counting mode: the same parts, their bytes with the header blocks (and blank lines).
    framed = 2 * 2 + len(H1) + len(H2) + 17
    assert count_parts(rfc([(H1, b"first\r\nbody"), (H2, b"second")]), B) == (2, framed)


def test_js_framing_is_one_part_when_strict_and_two_when_lenient() -> None:
    body = js([(H1, b"AAAA"), (H2, b"BBBB")])
    [only] = parse_multipart(body, B)
    assert only.body.startswith(b"AAAA--" + B)  # the tell-tale of the JS bug
    lenient = parse_multipart(body, B, lenient_js=True)
    assert [p.body for p in lenient] == [b"AAAA", b"BBBB"]
    assert lenient[1].alt_body == b"BBBB\r\n"  # the ambiguous last CRLF, kept as a 2nd reading
    assert [p.body for p in parse_multipart(rfc([(H1, b"A"), (H2, b"B")]), B, lenient_js=True)] == [
        b"A",
        b"B",
    ]


def test_preamble_epilogue_padding_and_folding_are_rfc() -> None:
    body = (
        b"preamble\r\n--"
        + B
        + b" \t\r\nX-A: one\r\n  two\r\n\r\nbody\r\n--"
        + B
        + b"--  \r\nepilogue --"
        + B
        + b"\r\n"
    )
    [part] = parse_multipart(body, B)
    assert part.headers == {"x-a": "one  two"} and part.body == b"body"  # CRLF removed
    assert scan_multipart(body, B) == (1, 4)


def test_parts_without_headers_or_content() -> None:
    body = b"--" + B + b"\r\n\r\nno headers\r\n--" + B + b"\r\n\r\n--" + B + b"--"
    parts = parse_multipart(body, B)
    assert [(p.headers, p.body) for p in parts] == [({}, b"no headers"), ({}, b"")]
    assert scan_multipart(body, B) == (2, 10)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"no delimiter at all", "no --boundary"),
        (b"--" + B + b"\r\n" + H1 + b"\r\nbody", "missing close delimiter"),
        (b"--" + B + b"--\r\n", "no parts"),
        (b"--" + B + b"\r\nX-A: 1\nX-B: 2\r\n\r\nbody\r\n--" + B + b"--", "CRLF"),
        (b"--" + B + b"\r\nX-A: \xe9\r\n\r\nbody\r\n--" + B + b"--", "printable"),
        (b"--" + B + b"\r\nX-A: 1\r\nbody\r\n--" + B + b"--", "no blank line"),
        (
            b"--" + B + b"\r\n" + H1 + b"\r\nbody\r\n--" + B + b"X\r\n--" + B + b"--",
            "boundary appears inside",
        ),
        (b"--" + B + b"junk\r\n" + H1 + b"\r\nbody\r\n--" + B + b"--", "not followed by CRLF"),
        (b"--" + B + b"\r\n" + H1 + b"\r\nbody\r\n--" + B + b"--junk", "close delimiter"),
    ],
)
def test_malformed_bodies_are_refused_by_both_parsers(body: bytes, message: str) -> None:
    with pytest.raises(MultipartError, match=message):
        parse_multipart(body, B)
    with pytest.raises(MultipartError, match=message):
        scan_multipart(body, B)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"no delimiter at all", "no --boundary"),
        (b"--" + B + b"\r\n" + H1 + b"\r\nbody", "missing close delimiter"),
        (b"--" + B + b"--\r\n", "no parts"),
        (b"--" + B + b"\r\n--" + B + b"--", "boundary appears inside"),  # shared CRLF
        (b"--" + B + b"\r\n--" + B + b"\r\nx\r\n--" + B + b"--", "boundary appears inside"),
        (
            b"--" + B + b"\r\n" + H1 + b"\r\nbody\r\n--" + B + b"X\r\n--" + B + b"--",
            "boundary appears inside",
        ),
        (b"--" + B + b"\r\n\r\na\r\n--" + B + b"\r\n--" + B + b"--", "boundary appears inside"),
        (b"--" + B + b"junk\r\n" + H1 + b"\r\nbody\r\n--" + B + b"--", "not followed by CRLF"),
        (b"--" + B + b"\r\n" + H1 + b"\r\nbody\r\n--" + B + b"--junk", "close delimiter"),
    ],
)
def test_counting_scan_refuses_broken_framing(body: bytes, message: str) -> None:
    # Counting mode (count_parts) checks delimiters only; header blocks are not looked into.
    with pytest.raises(MultipartError, match=message):
        count_parts(body, B)
    assert count_parts(b"--" + B + b"\r\nX-A: \xe9\nno blank line\r\n--" + B + b"--", B)[0] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"--" + B + b"\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody\r\n--" + B + b"--", "appears twice"),
        (b"--" + B + b"\r\nX A: 1\r\n\r\nbody\r\n--" + B + b"--", "malformed header"),
        (b"--" + B + b"\r\nno colon\r\n\r\nbody\r\n--" + B + b"--", "malformed header"),
        (b"--" + B + b"\r\n X-A: 1\r\n\r\nbody\r\n--" + B + b"--", "starts with whitespace"),
    ],
)
def test_header_lines_are_checked_by_the_full_parser(body: bytes, message: str) -> None:
    # The counting scan checks header blocks in bulk only (documented); the full parser is exact.
    with pytest.raises(MultipartError, match=message):
        parse_multipart(body, B)


def test_too_many_parts() -> None:
    body = rfc([(H1, b"x")] * 5)
    with pytest.raises(TooManyParts) as err:
        parse_multipart(body, B, max_parts=4)
    assert err.value.count == 5 and err.value.limit == 4
    assert len(parse_multipart(body, B, max_parts=5)) == 5


@pytest.mark.parametrize(
    ("value", "boundary"),
    [
        ("multipart/mixed; boundary=abc", b"abc"),
        ('Multipart/Mixed;boundary="a b:c"', b"a b:c"),
        ("multipart/mixed; charset=x; BOUNDARY=zz", b"zz"),
    ],
)
def test_boundary_from_content_type(value: str, boundary: bytes) -> None:
    assert boundary_from_content_type(value) == boundary


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "missing Content-Type"),
        ("application/json", "expected multipart/mixed"),
        ("multipart/form-data; boundary=x", "expected multipart/mixed"),
        ("multipart/mixed", "without a boundary"),
        ("multipart/mixed; boundary=" + "x" * 71, "1-70"),
        ("multipart/mixed; boundary=a{b", "RFC 2046"),
        ('multipart/mixed; boundary="a;b"', "RFC 2046"),
        ('multipart/mixed; boundary="ab ', "unterminated"),
        ("multipart/mixed; boundary=a; boundary=b", "more than one"),
    ],
)
def test_bad_content_types(value: str | None, message: str) -> None:
    with pytest.raises(MultipartError, match=message):
        boundary_from_content_type(value)


header_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=":"),
    min_size=1,
    max_size=12,
)
header_values = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20)
part_strategy = st.tuples(
    st.dictionaries(header_names.map(str.lower), header_values, max_size=4), st.binary(max_size=64)
)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(part_strategy, min_size=1, max_size=6),
    boundary=st.sampled_from([b"b", b"0123456789abcdef", B, b"x'()+_,-./:=?y"]),
)
def test_any_rfc_body_round_trips_and_scan_agrees(
    parts: list[tuple[dict[str, str], bytes]], boundary: bytes
) -> None:
    delim = b"\r\n--" + boundary
    if any(delim in body + b"\r\n" or (b"--" + boundary) in body for _, body in parts):
        return  # the RFC forbids the boundary inside a part; the sender must pick another
    raw = [(b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()), body) for h, body in parts]
    data = rfc(raw, boundary)
    parsed = parse_multipart(data, boundary)
    assert [(p.headers, p.body) for p in parsed] == [
        ({k: v.strip(" \t") for k, v in h.items()}, body) for h, body in parts
    ]
    assert scan_multipart(data, boundary) == (len(parts), sum(len(b) for _, b in parts))
    framed = sum(len(h) + 2 + len(b) for h, b in raw)
    assert count_parts(data, boundary) == (len(parts), framed)
    lenient = parse_multipart(data, boundary, lenient_js=True)
    assert [p.body for p in lenient] == [body for _, body in parts]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_parsers(data: bytes) -> None:
    for fn in (parse_multipart, scan_multipart, count_parts):
        with contextlib.suppress(MultipartError):
            fn(b"--b\r\n" + data, b"b")


@settings(max_examples=500, deadline=None)
@given(pieces=st.lists(st.sampled_from([b"\r\n", b"--b", b"--", b"x", b"X-A: 1", b" ", b"\r"])))
def test_counting_scan_counts_what_the_exact_scan_counts(pieces: list[bytes]) -> None:
    # Bodies made of framing fragments: wherever the exact scan accepts the framing, the
    # counting scan finds the same number of parts, and it never accepts broken delimiters.
    data = b"--b\r\n" + b"".join(pieces)
    try:
        exact = scan_multipart(data, b"b")[0]
    except MultipartError:
        exact = None
    try:
        counted = count_parts(data, b"b")[0]
    except MultipartError:
        counted = None
    if exact is not None:
        assert counted == exact
    elif counted is not None:  # accepted by counting only: the headers were bad, not framing
        with pytest.raises(MultipartError, match=r"^part \d+: "):
            parse_multipart(data, b"b")
        assert counted == data.count(b"\r\n--b") == data.count(b"\r\n--b\r\n") + 1
