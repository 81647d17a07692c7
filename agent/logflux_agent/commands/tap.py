"""`logflux-agent tap --config FILE [--input ID] [--limit N] [--from-beginning]`: show what
the agent would ship.

Runs the configured inputs and their processor chains exactly as the agent does and prints each
entry as the v2 JSON it would encrypt (one per line; a readable table when stdout is a
terminal). Nothing is sent and no position is committed: the inputs read their start positions
from an empty, temporary checkpoint store, never the agent's ``state_dir``. By default files
are followed from their end (new lines only, like ``tail -f``); ``--from-beginning`` reads them
whole. It stops at ``--limit`` entries, at Ctrl-C / SIGTERM, or when every input ended (stdin).

An input the agent spools (stdin, socket, syslog with ``spool:``) is announced on stderr with
the spool's directory and what it holds now (requests, entries, bytes, oldest), read only.

``--explain`` adds, on stderr, what each filter dropped and what each redaction replaced (rule
names and counts per entry, never the replaced text) and each entry's search tokens. An input with a
``search_tokens`` processor is always announced: those tokens travel unencrypted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Literal, TextIO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", metavar="ID", help="only this input (default: all)")
    parser.add_argument(
        "--limit", metavar="N", type=int, default=0, help="stop after N entries (default: none)"
    )
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="read files and the journal from their beginning, not only new lines",
    )
    parser.add_argument(
        "--format",
        choices=("auto", "json", "table"),
        default="auto",
        help="json lines, or a table (auto: a table on a terminal)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also show (on stderr) what filters dropped, what redact replaced (rule names and "
        "counts only) and each entry's search tokens",
    )


def _table_row(payload: dict[str, Any], out: TextIO) -> None:
    attrs = payload.get("attributes") or {}
    shown = " ".join(f"{k}={v}" for k, v in attrs.items())
    message = str(payload.get("message", "")).replace("\n", "⏎")
    print(
        f"{payload.get('ts', '')[:23]:<23} {payload.get('level', ''):>1} "
        f"{message[:100]:<40} {shown[:200]}",
        file=out,
    )


class Printer:
    """The emit of every tapped input: entries → v2 JSON on ``out``, up to ``limit``."""

    def __init__(
        self,
        out: TextIO,
        statics: Any,
        *,
        table: bool,
        limit: int,
        explain: TextIO | None = None,
    ) -> None:
        import asyncio

        self.explain = explain
        self.out = out
        self.statics = statics
        self.table = table
        self.limit = limit
        self.count = 0
        self.done = asyncio.Event()

    async def __call__(self, records: Sequence[Any]) -> None:
        import json

        from logflux_agent.ingest.encode import build_payload, entry_tuple
        from logflux_agent.record import TOKENS_KEY

        for record in records:
            if self.limit and self.count >= self.limit:
                break
            tokens = record.attributes.get(TOKENS_KEY)
            if self.explain is not None and tokens:
                print(f"# search tokens (sent UNENCRYPTED): {tokens}", file=self.explain)
            payload = build_payload(entry_tuple(*record[:5]), self.statics, record.rid)
            if self.table:
                _table_row(json.loads(payload), self.out)
            else:
                self.out.write(payload.decode("utf-8", "replace") + "\n")
            self.count += 1
        self.out.flush()
        if self.limit and self.count >= self.limit:
            self.done.set()


def _tapped_inputs(config: Any, args: argparse.Namespace) -> tuple[Any, ...] | str:
    from dataclasses import replace

    from logflux_agent.config.model import FileInputConfig, JournaldInputConfig

    inputs = config.inputs
    if args.input is not None:
        inputs = tuple(c for c in inputs if c.id == args.input)
        if not inputs:
            known = ", ".join(c.id for c in config.inputs) or "none"
            return f"no input with id {args.input!r} (inputs: {known})"
    if not inputs:
        return f"{config.source} defines no inputs"
    start: Literal["beginning", "end"] = "beginning" if args.from_beginning else "end"
    out = []
    for cfg in inputs:
        if isinstance(cfg, FileInputConfig):
            cfg = replace(cfg, start_at=start, on_full="block")
        elif isinstance(cfg, JournaldInputConfig):
            cfg = replace(cfg, start_at=start)
        out.append(cfg)
    return tuple(out)


async def _run(config: Any, inputs: tuple[Any, ...], printer: Printer) -> None:
    import asyncio
    import signal
    import tempfile

    from logflux_agent.checkpoints import CheckpointStore
    from logflux_agent.input_runner import build_input
    from logflux_agent.pipeline.checkpointer import Checkpointer
    from logflux_agent.processing import stage
    from logflux_agent.processing.report import one_entry_at_a_time

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, printer.done.set)
    with tempfile.TemporaryDirectory(prefix="logflux-tap-") as scratch:
        # An empty store of its own: the agent's checkpoints are neither read nor written.
        store = CheckpointStore(scratch)
        store.load()
        checkpointer = Checkpointer(store)

        running = [len(inputs)]

        async def one(cfg: Any) -> None:
            emit = stage.wrap(cfg, printer, config.labels, state_dir=_key_dir(config))
            _announce(cfg, emit, printer.explain)
            # --explain: one entry per chain call, so each explanation is about one entry.
            feed = one_entry_at_a_time(emit) if printer.explain is not None else emit
            await stage.run(emit, build_input(cfg, checkpointer, _clock()).run(feed))
            await stage.drain(emit)
            running[0] -= 1
            if not running[0]:  # every input ended (stdin at EOF): nothing more to show
                printer.done.set()

        try:
            # Every input and the stop watch are tasks of this coroutine: an input's error
            # ends them all; --limit, Ctrl-C or every input ended stops them.
            async with asyncio.TaskGroup() as tg:
                runs = [tg.create_task(one(cfg), name=f"tap-{cfg.id}") for cfg in inputs]
                tg.create_task(_stop_when_done(printer, runs), name="tap-stop")
        except BaseExceptionGroup as group:  # an input's own error (its exit code), as itself
            raise group.exceptions[0] from None


async def _stop_when_done(printer: Printer, runs: list[Any]) -> None:
    """Cancel the inputs once the printer is done (--limit, a signal, every input ended)."""
    await printer.done.wait()
    for run in runs:
        run.cancel()


def _key_dir(config: Any) -> str | None:
    """The agent's state_dir when redact's hash key is already there (the same pseudonyms as
    the agent), else None: a key for this run only — tap never creates files in state_dir."""
    from pathlib import Path

    from logflux_agent.processing.redact import KEY_FILE

    return str(config.state_dir) if (Path(config.state_dir) / KEY_FILE).exists() else None


def _announce(cfg: Any, emit: Any, explain: TextIO | None) -> None:
    from logflux_agent.config.processors import processor_name
    from logflux_agent.processing.stage import ProcessingEmit

    if any(processor_name(p) == "search_tokens" for p in getattr(cfg, "processors", ())):
        print(
            f"logflux-agent tap: input {cfg.id!r} sends search tokens UNENCRYPTED in a part "
            "header: the server can read them (the rest of each entry is encrypted)",
            file=sys.stderr,
        )
    if explain is not None and isinstance(emit, ProcessingEmit):
        prefix = f"# {cfg.id}: "
        emit.chain.reporter.explain = lambda line: print(prefix + line, file=explain)


def _show_spool(config: Any, inputs: tuple[Any, ...]) -> None:
    """On stderr: which tapped inputs the agent spools, where, and what the spool holds now
    (read only: tap never cuts, moves or deletes anything there)."""
    from logflux_agent.delivery.snapshot import look
    from logflux_agent.delivery.writer import spool_choice

    found = spool_choice(config)
    if found is None:
        return
    chosen, directory, owners = found
    tapped = sorted(owners & {cfg.id for cfg in inputs})
    if not tapped:
        return
    print(
        f"logflux-agent tap: input(s) {', '.join(tapped)} spool to {directory} (max_bytes "
        f"{chosen.max_bytes}, fsync {chosen.fsync}) what the ingestor does not take, as "
        f"ciphertext; the spool now: {look(directory).describe(_clock().wall())}",
        file=sys.stderr,
    )


def _clock() -> Any:
    from logflux_agent.clock import SYSTEM_CLOCK

    return SYSTEM_CLOCK


def main(args: argparse.Namespace) -> int:
    import asyncio

    from logflux_agent import USER_AGENT
    from logflux_agent.config.load import load_config
    from logflux_agent.errors import AgentError, ConfigError
    from logflux_agent.ingest.encode import PayloadStatics
    from logflux_agent.observe.logging import configure_logging

    # The entries go to stdout; the agent's own log (warnings, parse problems) to stderr.
    configure_logging(args.log_level or "warning", args.log_format or "console")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.report("logflux-agent tap", args.config), file=sys.stderr)
        return exc.exit_code
    if args.limit < 0:
        print("logflux-agent tap: --limit must be ≥ 0", file=sys.stderr)
        return ConfigError.exit_code
    inputs = _tapped_inputs(config, args)
    if isinstance(inputs, str):
        print(f"logflux-agent tap: {inputs}", file=sys.stderr)
        return ConfigError.exit_code
    _show_spool(config, inputs)
    statics = PayloadStatics.build(
        node=config.node, environment=config.environment, agent=USER_AGENT, labels=config.labels
    )
    table = args.format == "table" or (args.format == "auto" and sys.stdout.isatty())
    explain = sys.stderr if args.explain else None
    printer = Printer(sys.stdout, statics, table=table, limit=args.limit, explain=explain)
    try:
        asyncio.run(_run(config, inputs, printer))
    except AgentError as exc:
        print(f"logflux-agent tap: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `tap | head`: the reader is gone, which is fine
        return 0
    return 0
