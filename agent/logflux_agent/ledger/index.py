"""Reading the ledger back (``logflux-agent audit``): its records, per stream, as intervals.

``load`` reads every segment oldest first (a torn tail is skipped, never cut: the agent may be
writing it), resolving each segment's stream ids, and keeps only the streams ``want`` accepts,
so an audit of one file holds only that file's claims. ``coverage`` turns an identity's claims
into disjoint byte intervals with how many times each was accepted: a count of 2 or more is a
range sent again (after a crash, a restart from an older checkpoint).

A ``spooled`` batch that names its spool requests (``sp``) is resolved against the replayer's
``a`` records (any segment): accepted via the spool when every request of it was delivered
(``replayed_at``: the last of them), else still in the spool (``in_spool``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from logflux_agent.ledger import format as fmt


@dataclass(frozen=True, slots=True)
class Stream:
    """A stream as the ledger describes it (see format.py ``s`` records)."""

    kind: str
    key: str = ""
    input: str = ""
    path: str = ""
    dev: int = 0
    ino: int = 0
    fp_len: int = 0
    fp: str = ""
    rd: str = ""  # the identity of its record ids (``f:<rd>:``), when the ledger has it

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Stream:
        return cls(
            kind=str(doc.get("kind", "")),
            key=str(doc.get("key", "")),
            input=str(doc.get("input") or ""),
            path=str(doc.get("path") or ""),
            dev=int(doc.get("dev") or 0),
            ino=int(doc.get("ino") or 0),
            fp_len=int(doc.get("fp_len") or 0),
            fp=str(doc.get("fp") or ""),
            rd=str(doc.get("rd") or ""),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted batch, as far as a claim needs it."""

    at: float
    run: str
    seq: int
    status: str
    request_ids: tuple[str, ...]
    key: str
    dead_lettered: int
    spool_ids: tuple[str, ...] = ()
    replayed_at: float | None = None
    replay_request_ids: tuple[str, ...] = ()
    replay_accepted: int = 0  # parts of its spool requests the ingestor took ...
    replay_parts: int = 0  # ... of these (the rest the replayer kept dead in spool/dead/)

    @property
    def in_spool(self) -> bool:
        """Spooled, and not (yet) delivered by the replayer."""
        return self.status == "spooled" and bool(self.spool_ids) and self.replayed_at is None

    @property
    def spool_dead(self) -> bool:
        """Replayed, and the ingestor took none of it (kept dead by the replayer)."""
        return self.replayed_at is not None and self.replay_accepted == 0


@dataclass(frozen=True, slots=True)
class Claim:
    """Entries ``[lo, hi)`` of the ``n`` read from ``[start, end)`` of ``stream``."""

    stream: Stream
    start: int | str | None
    end: int | str
    n: int
    lo: int
    hi: int
    delivery: Delivery

    @property
    def whole(self) -> bool:
        return self.lo == 0 and self.hi == self.n


@dataclass(frozen=True, slots=True)
class Gap:
    stream: Stream
    start: int
    end: int
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Drop:
    """``[start, end)`` of the file whose record-id identity is ``rd``, dropped by a filter
    (``end`` None: where the line starting at ``start`` ends)."""

    rd: str
    start: int
    end: int | None
    why: str


@dataclass(slots=True)
class Ledger:
    """What ``load`` found."""

    claims: list[Claim] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    starts: list[tuple[Stream, int, float]] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)
    drops: dict[str, list[Drop]] = field(default_factory=dict)  # by ``rd``
    replays: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    runs: list[tuple[str, float]] = field(default_factory=list)
    segments: int = 0
    bytes: int = 0
    torn: int = 0
    first_at: float | None = None
    last_at: float | None = None


def load(directory: Path, want: Callable[[Stream], bool] | None = None) -> Ledger:
    out = Ledger()
    for path in fmt.segments(directory):
        found = fmt.scan(path)
        if found.bad_header:
            continue
        out.segments += 1
        out.bytes += found.size
        out.torn += int(found.torn)
        _segment(found.records, out, want)
    if out.replays:
        _resolve_spooled(out)
    return out


def _resolve_spooled(out: Ledger) -> None:
    """Spooled deliveries whose every request the replayer delivered: when, which ids."""
    done: dict[Delivery, Delivery] = {}
    for i, claim in enumerate(out.claims):
        d = claim.delivery
        if not d.spool_ids:
            continue
        new = done.get(d)
        if new is None:
            found = [out.replays.get(sp) for sp in d.spool_ids]
            new = d
            if all(found):
                firsts = [min(r, key=_at) for r in found if r]
                rq = tuple(str(x) for r in firsts for x in r.get("rq", ()))
                at = max(float(r.get("at", 0.0)) for r in firsts)
                new = replace(
                    d,
                    replayed_at=at,
                    replay_request_ids=rq,
                    replay_accepted=sum(int(r.get("n", 0)) for r in firsts),
                    replay_parts=sum(int(r.get("parts", 0)) for r in firsts),
                )
            done[d] = new
        if new is not d:
            out.claims[i] = replace(claim, delivery=new)


def _at(doc: dict[str, Any]) -> float:
    return float(doc.get("at", 0.0))


def _segment(
    records: list[dict[str, Any]], out: Ledger, want: Callable[[Stream], bool] | None
) -> None:
    streams: dict[int, Stream | None] = {}
    run = ""
    for doc in records:
        kind = doc.get("t")
        at = doc.get("at")
        if isinstance(at, int | float):
            out.first_at = at if out.first_at is None else min(out.first_at, at)
            out.last_at = at if out.last_at is None else max(out.last_at, at)
        if kind == "s":
            stream = Stream.of(doc)
            streams[int(doc.get("id", -1))] = stream if want is None or want(stream) else None
        elif kind == "r":
            run = str(doc.get("run", ""))
            out.runs.append((run, float(doc.get("at", 0.0))))
        elif kind == "b":
            _batch(doc, run, streams, out)
        elif kind in ("g", "p"):
            _positioned(doc, streams.get(int(doc.get("sid", -1))), out)
        elif kind == "d":
            _drops(doc, out)
        elif kind == "x":
            out.lost.append(doc)
        elif kind == "a" and isinstance(doc.get("sp"), str):
            out.replays.setdefault(doc["sp"], []).append(doc)


def _positioned(doc: dict[str, Any], stream: Stream | None, out: Ledger) -> None:
    """A gap (``g``) or a start (``p``) of ``stream`` (None: a stream not asked about)."""
    if stream is None:
        return
    at = float(doc.get("at") or 0)
    if doc.get("t") == "g":
        out.gaps.append(Gap(stream, int(doc["start"]), int(doc["end"]), str(doc["reason"]), at))
    elif isinstance(doc.get("pos"), int):
        out.starts.append((stream, int(doc["pos"]), at))


def _drops(doc: dict[str, Any], out: Ledger) -> None:
    rd, why = str(doc.get("rd", "")), str(doc.get("why", ""))
    found = out.drops.setdefault(rd, [])
    for item in doc.get("r", ()):
        try:
            start, end = item
            found.append(Drop(rd, int(start), None if end is None else int(end), why))
        except (TypeError, ValueError):
            continue


def _batch(doc: dict[str, Any], run: str, streams: dict[int, Stream | None], out: Ledger) -> None:
    delivery = Delivery(
        at=float(doc.get("at", 0.0)),
        run=run,
        seq=int(doc.get("seq", -1)),
        status=str(doc.get("st", "accepted")),
        request_ids=tuple(str(r) for r in doc.get("rq", ())),
        key=str(doc.get("key", "")),
        dead_lettered=int(doc.get("dl", 0)),
        spool_ids=tuple(str(s) for s in doc.get("sp", ())),
    )
    for item in doc.get("c", ()):
        try:
            sid, start, end, n, lo, hi = item
        except (TypeError, ValueError):
            continue
        stream = streams.get(int(sid))
        if stream is not None:
            out.claims.append(Claim(stream, start, end, int(n), int(lo), int(hi), delivery))


# ---- intervals ------------------------------------------------------------------------------


@dataclass(slots=True)
class Piece:
    """``[start, end)`` accepted ``len(deliveries)`` times."""

    start: int
    end: int
    deliveries: list[Delivery]


def coverage(spans: list[tuple[int, int, Delivery]]) -> list[Piece]:
    """Disjoint pieces of the union of ``spans``, each with the deliveries covering it."""
    points = sorted({p for s, e, _ in spans if e > s for p in (s, e)})
    pieces: list[Piece] = []
    if not points:
        return pieces
    ordered = sorted(((s, e, d) for s, e, d in spans if e > s), key=lambda t: t[0])
    active: list[tuple[int, Delivery]] = []
    i = 0
    for left, right in pairwise(points):
        while i < len(ordered) and ordered[i][0] <= left:
            active.append((ordered[i][1], ordered[i][2]))
            i += 1
        active = [(e, d) for e, d in active if e > left]
        if active:
            covering = [d for e, d in active if e >= right]
            if pieces and pieces[-1].end == left and pieces[-1].deliveries == covering:
                pieces[-1].end = right
            else:
                pieces.append(Piece(left, right, covering))
    return pieces


def holes_in(pieces: list[Piece], size: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    at = 0
    for p in pieces:
        if not p.deliveries:
            continue
        if p.start > at:
            out.append((at, p.start))
        at = max(at, p.end)
    if size > at:
        out.append((at, size))
    return out


def split_at(
    holes: list[tuple[int, int]], gaps: list[tuple[int, int, str]]
) -> list[tuple[int, int]]:
    """``holes`` cut at the edges of recorded gaps, so a gap shows with its exact bytes."""
    edges = sorted({x for start, end, _ in gaps for x in (start, end)})
    out: list[tuple[int, int]] = []
    for start, end in holes:
        cuts = [start, *(e for e in edges if start < e < end), end]
        out.extend(pairwise(cuts))
    return out


def merged(pieces: list[Piece]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for p in pieces:
        if out and out[-1][1] == p.start:
            out[-1] = (out[-1][0], p.end)
        else:
            out.append((p.start, p.end))
    return out
