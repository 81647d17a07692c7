"""A strict RFC 2046 multipart/mixed parser built on ``bytes.split``/``find`` (no ``email``).

Strict mode accepts exactly the RFC grammar: an optional preamble, ``--boundary`` delimiters
each preceded by CRLF (except at the very start), optional transport padding (spaces/tabs)
before the delimiter line's CRLF, RFC 822 header lines (printable ASCII, CRLF only, folding
allowed, no duplicate names), a close delimiter ``--boundary--`` and an optional epilogue. A
line that starts with ``--boundary`` but is no delimiter (``--boundaryX``) is an error: the RFC
forbids the boundary inside a part.

Lenient JS mode also takes a ``--boundary`` that is *not* preceded by CRLF as a delimiter (the
JavaScript SDK's framing bug, protocol §4). Such a body is ambiguous when a part's own bytes end
in CRLF, so a part whose CRLF was taken as framing carries ``alt_body`` (the bytes with the CRLF
kept) for the decryptor to try when the first reading fails authentication.

``count_parts`` is the counting mode (``--no-decrypt``): for a well-formed body it counts
delimiters (two ``bytes.count`` calls, ~0.3 µs per 500-byte part) and checks nothing inside
the parts; any other shape falls back to ``scan_multipart``, which applies the same exact
framing checks as the full parser and checks header blocks in bulk (printable ASCII, CRLF line
ends, a blank line after them) without splitting them into maps, running the exact header
parser whenever a bulk check fails, for the precise error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import getitem
from typing import Any, cast

CRLF = b"\r\n"
_BLANK = b"\r\n\r\n"
# RFC 2046 bchars (plus space, which may not be last).
_BCHARS = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")
# Bytes allowed in a header block: printable US-ASCII, space, tab, and CR/LF (as CRLF only).
_HEADER_TEXT = bytes(range(32, 127)) + b"\t\r\n"
_PADDING = b" \t"
_slice = cast(Any, getitem)  # bytes[slice] through map(): the C-level loop, no Python frame


class MultipartError(ValueError):
    """The body or its Content-Type is not valid multipart/mixed; ``str()`` says where."""


class TooManyParts(MultipartError):
    """More parts than the limit."""

    def __init__(self, limit: int, count: int) -> None:
        super().__init__(f"{count} parts, more than the limit of {limit}")
        self.limit = limit
        self.count = count


@dataclass(slots=True)
class Part:
    """One body part: lower-cased header names -> values, and the raw content bytes."""

    headers: dict[str, str]
    body: bytes
    alt_body: bytes | None = None


def boundary_from_content_type(value: str | None) -> bytes:
    """The boundary of a ``multipart/mixed; boundary=...`` Content-Type, validated per RFC 2046."""
    if not value:
        raise MultipartError("missing Content-Type: expected multipart/mixed; boundary=...")
    media, _, params = value.partition(";")
    if media.strip().lower() != "multipart/mixed":
        raise MultipartError(f"Content-Type is {media.strip()!r}, expected multipart/mixed")
    boundary: str | None = None
    for param in _split_params(params):
        name, eq, raw = param.partition("=")
        if not eq:
            raise MultipartError(f"malformed Content-Type parameter {param!r}")
        if name.strip().lower() != "boundary":
            continue
        if boundary is not None:
            raise MultipartError("Content-Type has more than one boundary parameter")
        raw = raw.strip()
        if raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"'):
                raise MultipartError("unterminated quoted boundary in Content-Type")
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        boundary = raw
    if boundary is None:
        raise MultipartError("multipart/mixed Content-Type without a boundary parameter")
    data = boundary.encode("utf-8")
    if not 1 <= len(data) <= 70:
        raise MultipartError(f"the boundary must be 1-70 characters, got {len(data)}")
    if not set(data) <= _BCHARS or data.endswith(b" "):
        raise MultipartError(f"the boundary {boundary!r} has characters RFC 2046 does not allow")
    return data


def _split_params(params: str) -> list[str]:
    """Split ``;``-separated parameters, honouring quoted strings."""
    out: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in params:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


def parse_multipart(
    body: bytes, boundary: bytes, *, lenient_js: bool = False, max_parts: int = 0
) -> list[Part]:
    """Split ``body`` into parts; ``max_parts`` > 0 raises ``TooManyParts`` beyond it."""
    parts: list[Part] = []
    if lenient_js:
        for index, (text, stripped) in enumerate(_lenient_pieces(body, boundary)):
            headers, content = _parse_piece(text, index)
            parts.append(Part(headers, content, content + CRLF if stripped else None))
    else:
        pieces = _strict_pieces(body, boundary)
        if max_parts and len(pieces) > max_parts:
            raise TooManyParts(max_parts, len(pieces))
        for index, text in enumerate(pieces):
            headers, content = _parse_piece(text, index)
            parts.append(Part(headers, content))
    if max_parts and len(parts) > max_parts:
        raise TooManyParts(max_parts, len(parts))
    return parts


def scan_multipart(body: bytes, boundary: bytes, *, lenient_js: bool = False) -> tuple[int, int]:
    """Counting mode: (number of parts, content bytes), validating like ``parse_multipart``."""
    if lenient_js:
        parts = parse_multipart(body, boundary, lenient_js=True)
        return len(parts), sum(len(p.body) for p in parts)
    pieces = _strict_pieces(body, boundary)
    ends = list(map(bytes.find, pieces, repeat(_BLANK)))
    if -1 not in ends:
        joined = CRLF.join(map(_slice, pieces, map(slice, repeat(2), ends)))
        crlf = joined.count(CRLF)
        if (
            not joined.translate(None, _HEADER_TEXT)
            and joined.count(b"\n") == crlf
            and joined.count(b"\r") == crlf
        ):
            return len(pieces), sum(map(len, pieces)) - sum(ends) - 4 * len(pieces)
    # A rare shape (an empty part) or an error: let the exact parser decide.
    return len(pieces), sum(len(_parse_piece(t, i)[1]) for i, t in enumerate(pieces))


def count_parts(body: bytes, boundary: bytes) -> tuple[int, int]:
    """Counting mode's scan: (parts, framed part bytes), from two delimiter counts.

    A well-formed body (the shape every client sends) is ``--b CRLF part (CRLF --b CRLF part)*
    CRLF --b-- [CRLF]``: then every delimiter but the close one is followed by CRLF, which two
    C-level ``bytes.count`` calls confirm, and the parts are counted without being split out.
    Part bytes here include each part's header block. Header blocks are not checked; any other
    shape (a preamble, transport padding, an epilogue, a malformed delimiter) goes through
    ``scan_multipart`` for the exact answer or error.
    """
    dash = b"--" + boundary
    delim = CRLF + dash
    tail = 2 if body.endswith(CRLF) else 0
    if (
        body.startswith(dash + CRLF)
        and not body.startswith(delim, len(dash))  # a first part that is no part
        and body.endswith(delim + b"--", 0, len(body) - tail)
        and not body.endswith(delim + delim + b"--", 0, len(body) - tail)  # a last one, too
    ):
        parts = body.count(delim)  # the close delimiter, and one before each part but the first
        if parts > 0 and body.count(delim + CRLF) == parts - 1:
            framing = len(dash) + 2 + (parts - 1) * (len(delim) + 2) + len(delim) + 2 + tail
            return parts, len(body) - framing
    return scan_multipart(body, boundary)


def _strict_pieces(body: bytes, boundary: bytes) -> list[bytes]:
    """Each part's text, starting with the CRLF that ends its delimiter line."""
    dash = b"--" + boundary
    delim = CRLF + dash
    if body.startswith(dash):
        body = CRLF + body  # a delimiter at the very start needs no CRLF before it
    chunks = body.split(delim)
    if len(chunks) < 2:
        raise MultipartError("no --boundary delimiter found in the body")
    del chunks[0]  # the preamble, ignored as RFC 2046 says
    # Fast path (every well-formed body without padding or epilogue delimiters): each chunk but
    # the last starts with CRLF and the last is the close delimiter.
    if (
        len(chunks) >= 2
        and chunks[-1].startswith(b"--")
        and sum(map(bytes.startswith, chunks, repeat(CRLF))) == len(chunks) - 1
    ):
        _check_close(chunks[-1], 2)
        chunks.pop()
        return chunks
    pieces: list[bytes] = []
    for chunk in chunks:
        if chunk.startswith(b"--"):
            _check_close(chunk, 2)
            if not pieces:
                raise MultipartError("the multipart body has no parts")
            return pieces  # what follows is the epilogue
        if not chunk.startswith(CRLF):
            chunk = chunk[_padding_end(chunk, len(pieces)) :]
        pieces.append(chunk)
    raise MultipartError("missing close delimiter --boundary-- (truncated body?)")


def _lenient_pieces(body: bytes, boundary: bytes) -> Iterator[tuple[bytes, bool]]:
    """JS framing: a ``--boundary`` line counts as a delimiter with or without CRLF before it."""
    dash = b"--" + boundary
    if body.startswith(dash):
        pos = len(dash)
    else:
        first = body.find(CRLF + dash)
        if first < 0:
            raise MultipartError("no --boundary delimiter found in the body")
        pos = first + 2 + len(dash)
    count = 0
    while not body.startswith(b"--", pos):
        start = pos + _padding_end(body[pos : pos + 80], count)
        i = start
        while True:
            nxt = body.find(dash, i)
            if nxt < 0:
                raise MultipartError("missing close delimiter --boundary-- (truncated body?)")
            after = nxt + len(dash)
            if body.startswith(b"--", after) or _ends_delimiter_line(body, after):
                break
            i = nxt + 1
        stripped = nxt - 2 >= start + 2 and body[nxt - 2 : nxt] == CRLF
        yield body[start : nxt - 2 if stripped else nxt], stripped
        count += 1
        pos = nxt + len(dash)
    _check_close(body, pos + 2)
    if count == 0:
        raise MultipartError("the multipart body has no parts")


def _padding_end(chunk: bytes, index: int) -> int:
    """Index of the CRLF ending a delimiter line after optional transport padding."""
    i = 0
    while i < len(chunk) and chunk[i] in _PADDING:
        i += 1
    if not chunk.startswith(CRLF, i):
        raise MultipartError(
            f"the boundary appears inside part {max(index - 1, 0)}, or delimiter {index} is "
            "not followed by CRLF (a line starts with --boundary but is not a delimiter)"
        )
    return i


def _ends_delimiter_line(body: bytes, pos: int) -> bool:
    i = pos
    while i < len(body) and body[i] in _PADDING:
        i += 1
    return body.startswith(CRLF, i)


def _check_close(body: bytes, pos: int) -> None:
    """After ``--boundary--``: transport padding, then the end or CRLF and an epilogue."""
    i = pos
    while i < len(body) and body[i] in _PADDING:
        i += 1
    if i < len(body) and not body.startswith(CRLF, i):
        raise MultipartError("bytes after the close delimiter --boundary-- are not on a new line")


def _parse_piece(text: bytes, index: int) -> tuple[dict[str, str], bytes]:
    """Headers and content of one part; ``text`` starts with its delimiter line's CRLF."""
    if text == CRLF:
        return {}, b""  # an empty part: no headers, no content
    hend = text.find(_BLANK)
    if hend < 0:
        raise MultipartError(f"part {index}: no blank line after the headers")
    if hend == 0:
        return {}, text[4:]  # RFC 2046: a part may have no header fields
    block = text[2:hend]
    if block.translate(None, _HEADER_TEXT):
        raise MultipartError(f"part {index}: header bytes outside printable US-ASCII")
    crlf = block.count(CRLF)
    if block.count(b"\n") != crlf or block.count(b"\r") != crlf:
        raise MultipartError(f"part {index}: header lines must end with CRLF")
    header_text = block.decode("ascii")
    if header_text[0] in " \t":
        raise MultipartError(f"part {index}: the first header line starts with whitespace")
    if "\r\n " in header_text or "\r\n\t" in header_text:
        header_text = header_text.replace("\r\n ", " ").replace("\r\n\t", "\t")  # unfold
    headers: dict[str, str] = {}
    for line in header_text.split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon or not name or " " in name or "\t" in name:
            raise MultipartError(f"part {index}: malformed header line {line[:60]!r}")
        key = name.lower()
        if key in headers:
            raise MultipartError(f"part {index}: header {key!r} appears twice")
        headers[key] = value.strip(" \t")
    return headers, text[hend + 4 :]
