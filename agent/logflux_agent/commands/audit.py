"""`logflux-agent audit`: did this line (offset, journal cursor) reach LogFlux, and when?

It reads the receipt ledger in ``state_dir/ledger`` (docs/audit.md) — not the running agent —
so it works while the agent runs, after it stopped, or crashed. The configuration needs no API
key here: only ``state_dir`` (and ``ledger``) are read.

* ``--file PATH [--line N | --offset B]``: accepted (when, which batch and request id, how many
  times) or not, and why: never read (copytruncate window, started at the end) or not yet (the
  agent's checkpoint is before it). PATH's current identity; pass a rotated name for its
  rotated one (the ledger knows identities by device, inode and fingerprint, not by name).
* ``--file PATH --summary``: per identity (current, rotated siblings, gone) the accepted
  ranges, gaps with their reason, and duplicates (ranges accepted more than once).
* ``--journal --cursor C``.

``--json`` prints the answer as a document. Exit status: 0 accepted (``--summary``: printed),
1 not accepted or nothing known, 2 usage or configuration error. Key ids are masked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

PROG = "logflux-agent audit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", metavar="PATH", help="the log file to audit")
    what.add_argument("--journal", action="store_true", help="audit a journal cursor")
    at = parser.add_mutually_exclusive_group()
    at.add_argument("--line", type=int, metavar="N", help="line N (1-based) of --file")
    at.add_argument("--offset", type=int, metavar="B", help="byte offset B of --file")
    at.add_argument(
        "--summary",
        action="store_true",
        help="accepted ranges, gaps with their reason, and duplicates of --file",
    )
    parser.add_argument("--cursor", metavar="C", help="the journal cursor (with --journal)")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def _settings(path: str) -> tuple[str, bool, str]:
    """(state_dir, ledger enabled, where state_dir came from), read without needing the key."""
    import yaml

    from logflux_agent.config.env import interpolate
    from logflux_agent.config.fragments import fragment_paths
    from logflux_agent.config.model import DEFAULT_STATE_DIR

    state_dir, enabled, origin = DEFAULT_STATE_DIR, True, "the default"
    for name in [path, *fragment_paths(path)]:
        try:
            with open(name, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
        except FileNotFoundError:
            if name == path:
                raise
            continue
        if not isinstance(doc, dict):
            continue
        if "state_dir" in doc:
            state_dir = interpolate(str(doc["state_dir"]), os.environ)[0]
            origin = name
        ledger = doc.get("ledger")
        if isinstance(ledger, dict) and ledger.get("enabled") is False:
            enabled = False
    return state_dir, enabled, origin


def main(args: argparse.Namespace) -> int:
    import yaml

    try:
        state_dir, enabled, origin = _settings(args.config)
    except (OSError, yaml.YAMLError) as exc:
        print(f"{PROG}: cannot read {args.config}: {exc}", file=sys.stderr)
        return 2
    problem = _usage(args)
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    from logflux_agent.ledger import ledger_dir

    directory = ledger_dir(state_dir)
    if not directory.is_dir():
        note = " (ledger.enabled is false)" if not enabled else ""
        print(f"{PROG}: no ledger in {directory} (state_dir from {origin}){note}", file=sys.stderr)
        return 1
    if not os.access(directory, os.R_OK | os.X_OK):
        print(f"{PROG}: cannot read {directory}: permission denied (run as the agent's user)")
        return 1
    if args.journal:
        return _journal(args, directory, Path(state_dir))
    return _file(args, directory, Path(state_dir))


def _usage(args: argparse.Namespace) -> str | None:
    if args.journal and not args.cursor:
        return "--journal needs --cursor C"
    if args.file and args.cursor:
        return "--cursor goes with --journal, not --file"
    if args.file and args.line is None and args.offset is None and not args.summary:
        return "--file needs --line N, --offset B or --summary"
    if args.journal and (args.line is not None or args.offset is not None or args.summary):
        return "--line, --offset and --summary go with --file"
    if (args.line is not None and args.line < 1) or (args.offset is not None and args.offset < 0):
        return "--line starts at 1, --offset at 0"
    return None


def _file(args: argparse.Namespace, directory: Path, state_dir: Path) -> int:
    from logflux_agent.inputs.file.rotation import siblings
    from logflux_agent.ledger import answers, index
    from logflux_agent.ledger.filemap import line_offset

    path = os.path.abspath(args.file)
    names = [p for p, _ in siblings(path)] if args.summary else []
    ledger = index.load(directory, lambda s: s.kind == "file")
    found = answers.identities(path, names, ledger, state_dir)
    meta = _ledger_meta(ledger)
    if args.summary:
        doc = {
            "file": path,
            "ledger": meta,
            "identities": [answers.summary(i, ledger) for i in found],
        }
        _print(doc, args.json, _render_summary)
        return 0
    current = next((i for i in found if i.disk is not None and i.disk.path == path), None)
    if current is None:
        current = next(iter(found), None)
    if current is None:
        print(f"{PROG}: {path}: no such file, and the ledger knows no file by that name")
        return 1
    offset = args.offset
    if args.line is not None:
        offset = line_offset(current.path, args.line) if current.disk is not None else None
        if offset is None:
            print(
                f"{PROG}: {path}: cannot find line {args.line} "
                "(past the end, or the file is gone: use --offset)",
                file=sys.stderr,
            )
            return 2
    assert offset is not None
    doc = {"file": path, "ledger": meta, **answers.point(current, offset, ledger)}
    if args.line is not None:
        doc["line"] = args.line
    _print(doc, args.json, _render_point)
    return 0 if doc.get("accepted") else 1


def _journal(args: argparse.Namespace, directory: Path, state_dir: Path) -> int:
    from logflux_agent.ledger import index, journal

    ledger = index.load(directory, lambda s: s.kind == "journal")
    doc = {"ledger": _ledger_meta(ledger), **journal.journal_point(ledger, args.cursor, state_dir)}
    _print(doc, args.json, _render_point)
    return 0 if doc.get("accepted") else 1


def _ledger_meta(ledger: Any) -> dict[str, Any]:
    from logflux_agent.ledger.answers import iso

    doc: dict[str, Any] = {"segments": ledger.segments, "bytes": ledger.bytes}
    if ledger.first_at is not None:
        doc["since"] = iso(ledger.first_at)
    if ledger.lost:
        doc["lost_batches"] = sum(int(x.get("n", 0)) for x in ledger.lost)
    return doc


def _print(doc: dict[str, Any], as_json: bool, render: Any) -> None:
    if as_json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        sys.stdout.write(render(doc))


def _where(doc: dict[str, Any]) -> str:
    if "line" in doc:
        return f"line {doc['line']} (byte {doc['offset']})"
    if "offset" in doc:
        return f"byte {doc['offset']}"
    return f"cursor {doc.get('cursor')}"


def _render_point(doc: dict[str, Any]) -> str:
    name = doc.get("file", "journal")
    out = []
    if doc.get("accepted"):
        times = doc["times"]
        out.append(f"{name}: {_where(doc)}: accepted" + (f" {times} times" if times > 1 else ""))
        for d in doc["deliveries"]:
            ids = ", ".join(d["request_ids"]) or "none returned"
            via = f", spooled {d['spooled_at']}" if d.get("spooled_at") else ""
            out.append(
                f"  {d['accepted_at']}  batch {d['run']}/{d['batch']}  "
                f"request {ids}  ({d['status']}{via})"
            )
    else:
        out.append(f"{name}: {_where(doc)}: NOT accepted — {doc.get('reason')}")
    if doc.get("note"):
        out.append(f"  note: {doc['note']}")
    out.append(_ledger_line(doc["ledger"]))
    return "\n".join(out) + "\n"


def _ledger_line(meta: dict[str, Any]) -> str:
    line = f"  ledger: {meta['segments']} segment(s), {meta['bytes']} bytes"
    if "since" in meta:
        line += f", records since {meta['since']}"
    if meta.get("lost_batches"):
        line += f"; {meta['lost_batches']} batch record(s) lost (disk full)"
    return line


def _span(item: dict[str, Any]) -> str:
    b = item["bytes"]
    lines = item.get("lines")
    return f"bytes {b[0]}-{b[1]}" + (f" (lines {lines[0]}-{lines[1]})" if lines else "")


def _render_summary(doc: dict[str, Any]) -> str:
    out = [f"{doc['file']}:"]
    if not doc["identities"]:
        out.append("  the ledger knows nothing of this file")
    for ident in doc["identities"]:
        who = ident["identity"]
        state = "on disk" if who["on_disk"] else "gone"
        out.append(
            f"  identity dev {who.get('dev')} ino {who.get('ino')} at {who['path']} ({state})"
        )
        for item in ident["accepted"]:
            out.append(f"    accepted   {_span(item)}")
        for item in ident["gaps"]:
            note = f" ({item['note']})" if item.get("note") else ""
            out.append(f"    gap        {_span(item)}: {item['reason']}{note}")
        for item in ident["duplicates"]:
            out.append(f"    duplicate  {_span(item)}: accepted {item['times']} times")
        if ident.get("not_shipped_note"):
            out.append(f"    note: {ident['not_shipped_note']}")
        if ident.get("dropped_runs_without_end"):
            out.append(
                f"    note: {ident['dropped_runs_without_end']} run(s) dropped by a filter "
                "whose end is not recorded (the file is gone)"
            )
    out.append(_ledger_line(doc["ledger"]))
    return "\n".join(out) + "\n"
