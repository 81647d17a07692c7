"""What ``logflux-agent audit --journal --cursor C`` answers, from the ledger's journal claims.

A journal claim is ``(after, last]`` in cursor order, read as the seqnum (``i=``) within its
seqnum id (``s=``). When the batcher cut one read chunk between batches, each batch claims
entries ``[lo, hi)`` of the chunk's ``n``; the entry a cursor names is then found by its seqnum
when the chunk's seqnums are provably contiguous (``last - after == n``, or, for the first
chunk of a journal read from its oldest entry, ``last == n``: ``n`` distinct seqnums in
``[1, n]``). Otherwise (filters skipped seqnums) the chunk counts as accepted once all its parts
were, and the answer names every batch that held a part of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logflux_agent.ledger.answers import checkpoints, delivery_doc, iso, parts_cover
from logflux_agent.ledger.index import Claim, Delivery, Ledger, Stream


def cursor_fields(cursor: str) -> tuple[str, int] | None:
    """(seqnum id, seqnum) of a journal cursor, the part that orders cursors."""
    fields = dict(p.split("=", 1) for p in cursor.split(";") if "=" in p)
    try:
        return fields["s"], int(fields["i"], 16)
    except (KeyError, ValueError):
        return None


def in_range(cursor: tuple[str, int], after: object, last: object) -> bool:
    end = cursor_fields(str(last))
    if end is None:
        return False
    begin = cursor_fields(str(after)) if isinstance(after, str) else None
    sid, seq = cursor
    above = begin is None or (sid != begin[0]) or seq > begin[1]
    below = sid != end[0] or seq <= end[1]
    same = sid in (end[0], begin[0] if begin else end[0])
    return same and above and below


def entry_index(cursor: tuple[str, int], after: object, last: object, n: int) -> int | None:
    """Which of the chunk's ``n`` entries ``cursor`` is, when its seqnums are contiguous."""
    end = cursor_fields(str(last))
    if end is None or end[0] != cursor[0]:
        return None
    if after is None:
        first = 1 if end[1] == n else None
    else:
        begin = cursor_fields(str(after))
        ok = begin is not None and begin[0] == end[0] and end[1] - begin[1] == n
        first = begin[1] + 1 if ok and begin is not None else None
    if first is None or not first <= cursor[1] <= end[1]:
        return None
    return cursor[1] - first


def hits(ledger: Ledger, parsed: tuple[str, int]) -> tuple[list[Delivery], list[str]]:
    """The deliveries that covered ``parsed`` (one per time accepted), and notes."""
    found: list[Delivery] = []
    notes: list[str] = []
    cut: dict[tuple[Stream, object, object, int], list[Claim]] = {}
    for c in ledger.claims:
        if c.stream.kind != "journal" or not in_range(parsed, c.start, c.end):
            continue
        if c.delivery.in_spool:
            notes.append(f"in the spool since {iso(c.delivery.at)}, not yet accepted")
            continue
        if c.whole:
            found.append(c.delivery)
        else:
            cut.setdefault((c.stream, c.start, c.end, c.n), []).append(c)
    for (_, after, last, n), group in cut.items():
        k = entry_index(parsed, after, last, n)
        if k is not None:
            found.extend(c.delivery for c in group if c.lo <= k < c.hi)
        elif parts_cover(group, n):
            found.append(max((c.delivery for c in group), key=lambda d: d.at))
            batches = ", ".join(f"{c.delivery.run}/{c.delivery.seq}" for c in group)
            notes.append(
                f"its read chunk was cut between batches {batches} (all accepted); which one "
                "held this entry is not recorded (its seqnums are not contiguous)"
            )
        else:
            notes.append("its read chunk was cut between batches, not all of them accepted yet")
    return found, notes


def journal_point(ledger: Ledger, cursor: str, state_dir: Path) -> dict[str, Any]:
    parsed = cursor_fields(cursor)
    doc: dict[str, Any] = {"cursor": cursor}
    if parsed is None:
        doc.update(accepted=False, reason="not a journal cursor (no s= and i= fields)")
        return doc
    found, notes = hits(ledger, parsed)
    if notes:
        doc["note"] = "; ".join(notes)
    if found:
        found.sort(key=lambda d: d.at)
        doc.update(accepted=True, times=len(found), deliveries=[delivery_doc(d) for d in found])
        return doc
    doc["accepted"] = False
    saved = [
        v.get("cursor") for k, v in checkpoints(state_dir).items() if k.startswith("journald:")
    ]
    committed = next((cursor_fields(str(c)) for c in saved if c), None)
    if committed is not None and committed[0] == parsed[0] and parsed[1] > committed[1]:
        doc["reason"] = "not yet accepted: after the agent's committed journal cursor"
    else:
        doc["reason"] = "no receipt: before the ledger's oldest record, or not read by this agent"
    return doc
