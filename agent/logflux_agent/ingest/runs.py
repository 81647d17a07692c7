"""A run's JSON text: entries sharing all but the message (and the record id), at once.

plaintext.py builds a batch's payloads run by run (``run_starts``: neighbours with the same
timestamp, level, source and attributes object); this module writes a run. ``run_json``: the
messages joined by newlines, ``\\`` and ``"`` escaped in one pass each when the run is printable
ASCII (else message by message), each newline replaced by the text between two messages.

Record ids given as columns (``IdSpan``, a file input's: packed.py ``IdColumns``, the prefix
``f:<identity>:`` once, then the entries' start offsets as ints) keep that path.
``id_run_json`` puts a ``%d`` where the offset goes in the text between two messages, the
offsets in by one ``%`` format of the whole run, in C, and cuts the run into entries at the
newlines; any ``%`` of the text is doubled first, so only the offsets' slots are directives.
No id str is made per entry, and the result is byte-identical to the per-entry path
(``json.dumps`` of each entry with ``meta.record_id`` = ``prefix + str(offset)``, and
``-<end>`` on a partial last line).

``split_runs`` cuts the runs where a span begins or ends and ``run_ids`` names each run's ids;
``id_strings`` turns spans into one id str per entry, for the paths that need them (a batch
that also holds ids as strings, or one of many short runs).
"""

from __future__ import annotations

from itertools import chain, pairwise, repeat
from json.encoder import encode_basestring

# (index of the span's first entry in the job, prefix, offsets, end of a partial last entry
# or -1): entry ``index + i`` has id ``prefix + str(offsets[i])`` (+ ``-<end>`` on the last).
IdSpan = tuple[int, str, list[int], int]
# One run's ids: (prefix, offsets, end or -1), or None for a run without ids.
RunIds = tuple[str, list[int], int] | None

_PLAIN_BYTES = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')


def plain(text: str) -> bool:
    """Printable ASCII without ``"`` or ``\\``: a JSON string as it is (one C-level pass:
    deleting every such byte leaves nothing)."""
    return text.isascii() and not text.encode().translate(None, _PLAIN_BYTES)


def utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates: keep the entries, replace the bad code points
        return text.encode("utf-8", "replace")


# The ASCII bytes a JSON string holds as they are (encode_basestring leaves them alone) and
# the two it escapes with a backslash; deleting them leaves only control characters.
_KEPT_OR_QUOTED = bytes(range(0x20, 0x80))


def escaped_batch(messages: list[str]) -> list[str] | None:
    """Each message's JSON string body without its quotes when all are ASCII without control
    characters (escaped at once, as ``run_json`` does); else None."""
    joined = "\n".join(messages)
    if not joined.isascii():
        return None
    data = joined.encode("ascii")
    if len(data.translate(None, _KEPT_OR_QUOTED)) != len(messages) - 1:
        return None
    if b"\\" in data:
        data = data.replace(b"\\", b"\\\\")
    return data.replace(b'"', b'\\"').decode("ascii").split("\n")


def run_json(messages: list[str], head: str, tail: str) -> bytes:
    """The JSON of entries sharing ``head`` (up to the message) and ``tail`` (after it, with
    the newline that ends each entry), one after the other.

    Messages in ASCII without control characters (the usual case) are escaped and framed in
    a few C-level passes over the run: joined by newlines (then exactly the separators), only
    ``\\`` and ``"`` escaped, each newline replaced by the text between two messages. Any other
    run is escaped message by message; both give what ``json.dumps`` gives.
    """
    joined = "\n".join(messages)
    if joined.isascii():
        data = joined.encode("ascii")
        if len(data.translate(None, _KEPT_OR_QUOTED)) == len(messages) - 1:
            if b"\\" in data:
                data = data.replace(b"\\", b"\\\\")
            if b'"' in data:
                data = data.replace(b'"', b'\\"')
            opening = utf8(head + '"')
            closing = utf8('"' + tail)
            return b"".join((opening, data.replace(b"\n", closing + opening), closing))
    escaped = map(encode_basestring, messages)
    return utf8("".join(chain.from_iterable(zip(repeat(head), escaped, repeat(tail)))))


def split_runs(starts: list[int], spans: list[IdSpan]) -> list[int]:
    """``starts`` (run starts, then the entry count) with every span's edges added."""
    count = starts[-1]
    edges = set(starts)
    at = 0
    for first, _, offsets, _ in spans:
        stop = first + len(offsets)
        if first < at or stop > count:
            raise ValueError("record id spans must be in order, apart and within the job")
        edges.add(first)
        edges.add(stop)
        at = stop
    return sorted(edges)


def run_ids(bounds: list[int], spans: list[IdSpan]) -> list[RunIds]:
    """Each run's ids (``bounds`` from ``split``: no run crosses a span's edge)."""
    out: list[RunIds] = []
    spans_left = iter(spans)
    span = next(spans_left, None)
    for lo, hi in pairwise(bounds):
        while span is not None and span[0] + len(span[2]) <= lo:
            span = next(spans_left, None)
        if span is None or span[0] > lo:
            out.append(None)
            continue
        first, prefix, offsets, end = span
        last = hi == first + len(offsets)
        out.append((prefix, offsets[lo - first : hi - first], end if last else -1))
    return out


def id_strings(spans: list[IdSpan], count: int, rids: list[str | None] | None) -> list[str | None]:
    """One id (or None) per entry: ``rids`` (or all None) with the spans' ids written in."""
    out: list[str | None] = [None] * count if rids is None else list(rids)
    for first, prefix, offsets, end in spans:
        texts = [f"{prefix}{offset}" for offset in offsets]
        if end >= 0 and texts:
            texts[-1] = f"{texts[-1]}-{end}"
        out[first : first + len(texts)] = texts
    return out


def id_run_json(
    messages: list[str], head: str, opened: str, ids: tuple[str, list[int], int]
) -> list[bytes]:
    """The JSON of each of the entries sharing ``head`` (up to the message) and ``opened``
    (after it, up to the record id's value); ``ids`` as ``RunIds``, its prefix plain."""
    prefix, offsets, end = ids
    # Newlines before the first message and after the last: each becomes the text between two
    # entries, so the first one leaves a stray tail (given a dummy offset) before the first
    # entry's head and the last one a stray head after the last entry's tail: the two pieces
    # the split drops, which saves a copy of the run to add the first head and the last tail.
    # Each large intermediate is dropped as soon as the next exists: fewer of them alive at
    # once keeps the heap from growing past what malloc trims back to the system after the
    # run (its pages were faulted in again for every batch: ~100-200 faults per batch).
    joined = "\n".join(["", *messages, ""])
    data: bytes | None = joined.encode("ascii") if joined.isascii() else None
    del joined
    if data is not None:
        if len(data.translate(None, _KEPT_OR_QUOTED)) == len(messages) + 1:
            # Printable ASCII (the usual log): escaped at once, the quotes in the fragments.
            if b"\\" in data:
                data = data.replace(b"\\", b"\\\\")
            if b'"' in data:
                data = data.replace(b'"', b'\\"')
            head += '"'
            opened = '"' + opened
        else:
            data = None
    if data is None:  # escaped message by message; a JSON string never holds a raw newline
        data = utf8("\n".join(["", *map(encode_basestring, messages), ""]))
    if b"%" in data:
        data = data.replace(b"%", b"%%")
    between = _literal(f'{opened}"{prefix}') + b'%d"}}\n' + _literal(head)
    form = data.replace(b"\n", between)
    del data
    text = form % (0, *offsets)
    del form
    entries = text.split(b"\n")
    del text
    del entries[0]  # the stray tail
    entries.pop()  # the stray head
    if end >= 0:  # a partial last line: its id names the range
        entries[-1] = b'%s-%d"}}' % (entries[-1][:-3], end)
    return entries


def _literal(text: str) -> bytes:
    """``text`` as UTF-8 for a ``%`` format: its own ``%`` doubled."""
    return utf8(text).replace(b"%", b"%%")
