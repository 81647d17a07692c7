"""`logflux-agent demo`: a first run with no LogFlux account.

Starts the reference ingestor with a throwaway key pair on loopback, writes a sample log file
(or tails the one given), runs the real agent against it as a child process, and shows entries
arriving decrypted with a live count, then a summary. Everything lives in a temporary
directory that is removed afterwards (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from logflux_agent.commands import localstack

if TYPE_CHECKING:
    from logflux_agent.observe.logsink import Writer

_PATHS = ("/", "/api/orders", "/api/users/42", "/health", "/static/app.js", "/login")
_AGENTS = ("curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)", "Go-http-client/2.0")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lines", type=int, default=2000, help="sample lines to write (default 2000)"
    )
    parser.add_argument(
        "--rate", type=float, default=500.0, help="sample lines written per second (default 500)"
    )
    parser.add_argument(
        "--file", metavar="PATH", help="tail this existing log file instead of writing a sample"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="with --file: stop after this many seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (configs, received entries)",
    )


def _sample_line(rng: random.Random, n: int) -> str:
    status = rng.choice((200, 200, 200, 201, 204, 301, 404, 500))
    return (
        f"127.0.0.{rng.randint(1, 254)} - - [{time.strftime('%d/%b/%Y:%H:%M:%S +0000')}] "
        f'"GET {rng.choice(_PATHS)} HTTP/1.1" {status} {rng.randint(100, 9000)} '
        f'"-" "{rng.choice(_AGENTS)}" demo_seq={n}'
    )


def main(args: argparse.Namespace) -> int:
    from logflux_agent.observe.logsink import TolerantStream

    workdir = Path(tempfile.mkdtemp(prefix="logflux-demo-"))
    procs: list[subprocess.Popen[bytes]] = []
    # Masked (any key-shaped string) and quiet when the reader goes away (`demo | head`).
    out = TolerantStream(sys.stdout)
    try:
        return _demo(args, workdir, procs, out)
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        where = f"see {workdir}" if args.keep else "run with --keep to keep its log"
        print(f"demo: {exc}; {where}", file=out)
        return 1
    finally:
        localstack.stop(procs[::-1])
        if args.keep:
            print(f"kept {workdir}", file=out)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def _demo(
    args: argparse.Namespace, workdir: Path, procs: list[subprocess.Popen[bytes]], out: Writer
) -> int:
    received = workdir / "received.jsonl"
    ing = localstack.start_ingestor(workdir, "--output", str(received))
    procs.append(ing.proc)
    url, api_key = ing.url, ing.api_key
    print(
        f"reference ingestor: {url}  (throwaway RSA-2048 key {ing.fingerprint[:23]}…)",
        file=out,
    )

    log_file = Path(args.file) if args.file else workdir / "app.log"
    if not args.file:
        log_file.touch()
    config = localstack.write_config(
        workdir,
        f"api_key: {api_key}\n"
        f"endpoint: {url}\n"
        f"state_dir: {workdir / 'state'}\n"
        "inputs:\n"
        f"  - {{type: file, id: demo, paths: [{json.dumps(str(log_file))}],"
        " start_at: beginning}\n"
        "sender: {flush_interval: 0.5}\n"
        "metrics: {enabled: false}\n"
        "logging: {level: warning, format: console}\n",
    )
    agent = localstack.start_agent(config, workdir / "agent.log")
    procs.append(agent)
    print(f"agent: tailing {log_file}", file=out)

    started = time.monotonic()
    rng = random.Random(7)
    written = 0
    shown = 0
    total_target = args.lines if not args.file else None
    with open(log_file, "a", encoding="utf-8") as sample:
        while True:
            now = time.monotonic()
            if total_target is not None and written < total_target:
                due = min(total_target, int((now - started) * args.rate) + 1)
                while written < due:
                    sample.write(_sample_line(rng, written) + "\n")
                    written += 1
                sample.flush()
            stats = ing.stats()
            accepted = int(stats.get("entries_accepted", stats.get("parts_accepted", 0)))
            shown = _show_new(received, shown, out)
            target = f"/{written}" if total_target is not None else ""
            print(
                f"\r  received {accepted}{target} entries decrypted, "
                f"{stats.get('requests', 0)} requests",
                end="",
                file=out,
            )
            if agent.poll() is not None:
                where = (
                    f"see {workdir}/agent.log" if args.keep else "run with --keep to see its log"
                )
                print(f"\nthe agent exited with {agent.returncode}; {where}", file=out)
                return 1
            if total_target is not None and accepted >= total_target:
                break
            if args.file and args.duration and now - started > args.duration:
                break
            time.sleep(0.2)
    elapsed = time.monotonic() - started
    stats = ing.stats()
    print("\n\nsummary", file=out)
    for key in ("entries_accepted", "requests", "bytes_in", "decrypt_failures", "duplicates"):
        if key in stats:
            print(f"  {key:<18} {stats[key]}", file=out)
    print(f"  elapsed            {elapsed:.1f} s", file=out)
    # Without --keep the folder is deleted on the way out: do not point into it.
    kept = str(received) if args.keep else "removed with the demo's folder (--keep keeps them)"
    print(f"  received entries   {kept}", file=out)
    return 0


def _show_new(received: Path, shown: int, out: Writer) -> int:
    """Print the first few decrypted entries, so a newcomer sees what arrives."""
    if shown >= 3 or not received.exists():
        return shown
    with open(received, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= 3:
                break
            if i >= shown:
                payload = json.loads(line).get("payload", {})
                print(f"\n  decrypted: {json.dumps(payload)[:160]}", file=out)
                shown = i + 1
    return shown
