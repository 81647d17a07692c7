"""`logflux-agent status [--config FILE] [--json]`: what the running agent is doing.

It asks the running agent's observe endpoint (``metrics.listen`` of the configuration) for
``/status`` and prints a summary: per input what was read and acknowledged, the age of the
oldest unacknowledged entry, file lag (bytes between the accepted offset and the file size,
largest files first), errors; the sender's in-flight requests, retry state and why, session
age; the queue. ``--json`` prints the document as the agent served it. Exit 1 when no agent
answers. The configuration needs no API key here: only ``metrics`` is read, so an operator who
cannot read the key (it is in the unit's environment) can still ask.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:9102"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the status document as JSON")
    parser.add_argument(
        "--top",
        type=int,
        default=5,
        metavar="N",
        help="files listed per input, largest lag first (default 5; the agent keeps 10)",
    )


def _metrics_settings(path: str) -> tuple[bool, str, str]:
    """(enabled, listen, where it came from), read from the file without needing the key."""
    import yaml

    from logflux_agent.config.env import interpolate
    from logflux_agent.config.fragments import fragment_paths

    listen, enabled, origin = DEFAULT_LISTEN, True, "the default"
    for name in [path, *fragment_paths(path)]:
        try:
            with open(name, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError):
            continue
        metrics = doc.get("metrics") if isinstance(doc, dict) else None
        if not isinstance(metrics, dict):
            continue
        if "listen" in metrics:
            listen = interpolate(str(metrics["listen"]), os.environ)[0]
            origin = name
        if metrics.get("enabled") is False:
            enabled, origin = False, name
    return enabled, listen, origin


def _url(listen: str) -> str:
    from logflux_agent.observe.server import parse_listen

    host, port = parse_listen(listen)
    # A wildcard bind answers on loopback too.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _fetch(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(url + "/status", timeout=10) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
        return doc


def main(args: argparse.Namespace) -> int:
    from logflux_agent.errors import ConfigError

    prog = "logflux-agent status"
    enabled, listen, origin = _metrics_settings(args.config)
    if not enabled:
        print(
            f"{prog}: metrics.enabled is false in {origin}: the agent serves no status "
            "(enable metrics to use this command)",
            file=sys.stderr,
        )
        return 1
    try:
        url = _url(listen)
    except ConfigError as exc:
        print(f"{prog}: {origin}: {exc}", file=sys.stderr)
        return 2
    try:
        doc = _fetch(url)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(
            f"{prog}: no agent answers at {url} (metrics.listen from {origin}): {reason}\n"
            "  is it running? (systemctl status logflux-agent)",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        sys.stdout.write(render(doc, top=max(0, args.top)))
    return 0


# ---- the human summary ---------------------------------------------------------------------


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def render(doc: dict[str, Any], *, top: int = 5) -> str:
    out: list[str] = []
    add = out.append
    add(
        f"logflux-agent {doc.get('version')} (pid {doc.get('pid')}), up "
        f"{_age(doc.get('uptime_seconds'))}, config {doc.get('config') or '(none)'}"
    )
    if doc.get("ready"):
        add("ready: yes")
    else:
        add(f"ready: NO, blocked at {doc.get('ready_stage') or '?'}: {doc.get('ready_reason')}")
    last = doc.get("last_accepted_age_seconds")
    add(f"last accepted: {_age(last) + ' ago' if last is not None else 'nothing yet'}")
    add("inputs:")
    for inp in doc.get("inputs", []):
        _render_input(inp, top, add)
    _render_sender(doc.get("sender", {}), add)
    queue = doc.get("queue", {})
    add(
        f"queue: {queue.get('entries', 0)}/{queue.get('max_entries', 0)} entries, "
        f"{_bytes(queue.get('bytes', 0))}/{_bytes(queue.get('max_bytes', 0))}"
    )
    _render_storage(doc, add)
    return "\n".join(out) + "\n"


def _render_input(inp: dict[str, Any], top: int, add: Callable[[str], None]) -> None:
    add(
        f"  {inp['id']} ({inp['type']}): read {inp['read']}, acknowledged {inp['resolved']}, "
        f"unacknowledged {inp['unacknowledged']}"
        + (f" (oldest {_age(inp['oldest_unacked_age_seconds'])})" if inp["unacknowledged"] else "")
        + f", dropped {inp['dropped']}"
    )
    if "lag_bytes" in inp:
        files = inp.get("files", [])
        add(f"    lag: {_bytes(inp['lag_bytes'])} in {len(files)} file(s) followed")
        for row in files[:top]:
            add(f"      {_bytes(row['lag_bytes']):>10}  {row['path']}")
    if inp.get("errors"):
        shown = ", ".join(f"{k} {v}" for k, v in sorted(inp["errors"].items()))
        add(f"    errors: {shown}")
    if inp.get("restarts"):
        add(f"    restarts: {inp['restarts']}")
    for problem in inp.get("problems", []):
        add(f"    problem: {problem}")
    if inp.get("last_error") and inp["last_error"] not in inp.get("problems", []):
        add(f"    last error: {inp['last_error']}")


def _render_sender(sender: dict[str, Any], add: Callable[[str], None]) -> None:
    add(
        f"sender: {sender.get('in_flight', 0)} request(s) in flight, "
        f"{sender.get('pending_batches', 0)} batch(es) unacknowledged"
    )
    add(f"  state: {sender.get('retry', 'unknown')}")
    if sender.get("session_age_seconds") is not None:
        add(
            f"  session: key {sender.get('key_id')} at {sender.get('base_url')} "
            f"(region {sender.get('region') or '?'}), age {_age(sender['session_age_seconds'])}"
        )
    else:
        add("  session: none yet")
    if sender.get("last_error"):
        add(f"  last error: {sender['last_error']}")


def _render_storage(doc: dict[str, Any], add: Callable[[str], None]) -> None:
    """The ledger (docs/audit.md) and the spool (docs/spool.md), when configured."""
    ledger = doc.get("ledger")
    if ledger:
        failed = ledger.get("write_failures", 0)
        add(
            f"ledger: {_bytes(ledger.get('bytes', 0))}/{_bytes(ledger.get('max_bytes', 0))} "
            f"in {ledger.get('directory')}" + (f", {failed} write failure(s)" if failed else "")
        )
    spool = doc.get("spool")
    if spool:
        oldest = _age(spool.get("oldest_age_seconds", 0))
        add(
            f"spool: {spool.get('pending_requests', 0)} request(s) waiting, "
            f"{_bytes(spool.get('bytes', 0))}/{_bytes(spool.get('max_bytes', 0))} in "
            f"{spool.get('segments', 0)} segment(s), oldest {oldest}"
            + (" — FULL, inputs wait" if spool.get("full") else "")
        )
