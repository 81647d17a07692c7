"""An input's ``processors:`` list → one ordered ``Chain`` over emitted record lists.

A processor is a plain function over ``Rows`` (one emitted list, column-wise), built once from
its config with the input's ``Reporter``. Two hold rows across calls: the container unwrapper
(``cri``/``docker``: at most one, in first place) and ``multiline`` (at most one, before the
parsers; config/processor_rules.py); the chain exposes their state (``deadline``, ``flush``,
``reset``) to the stage that calls it (stage.py). A flush runs the unwrapper's due pieces
through the steps, and the multiline's due entries join them where that step stands. After the
last processor the rows become records again (rows.Fitter: the mapping to the entry).

Packed reads (packed.py ``Lines``): an input without level detection emits them whatever its
processors, and every chain makes its rows from their columns (no Record per line on the way
in). A chain of only ``KEEPING`` processors (``keeps_lines``) rewrites message text and the
shared attributes and keeps every line, so it hands back a ``Lines`` with the new messages
and the same timestamp, level, source, ack and ids: no Record per line, and the encode worker
still gets one column chunk. The rows are the ones the records would give, so every step,
counter and log is the same; when a chunk's result does not fit one ``Lines`` (a redaction
failure dropped a line or flagged it with an attribute) it leaves as records, exactly as
before, and so does the output of every other chain.

No I/O and no event loop here: the same chain runs in the agent, in ``tap`` and in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from logflux_agent.config.processors import ProcessorConfig, describe, processor_name
from logflux_agent.observe import metrics
from logflux_agent.packed import Lines
from logflux_agent.processing.columns import UniformFitter
from logflux_agent.processing.container import CriUnwrapper, DockerUnwrapper, Unwrapper
from logflux_agent.processing.fields import (
    DetectLevelStep,
    DropFieldsStep,
    LevelStep,
    RenameStep,
    SetStep,
    SharedCache,
    TimestampStep,
)
from logflux_agent.processing.filter import (
    MinLevelFilter,
    PatternFilter,
    SampleFilter,
    ThrottleFilter,
)
from logflux_agent.processing.kubernetes import KubernetesStep
from logflux_agent.processing.multiline import MultilineStep
from logflux_agent.processing.parsers import JsonParser, LogfmtParser, RegexParser
from logflux_agent.processing.redact import RedactStep
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Fitter, Rows, map_shared
from logflux_agent.processing.syslog_step import SyslogStep
from logflux_agent.processing.tokens import TokensStep, attach
from logflux_agent.record import AckToken, Record

Step = Callable[[Rows], Rows]
STEPS: dict[str, Callable[[Any, Reporter], Step]] = {
    "json": JsonParser,
    "logfmt": LogfmtParser,
    "regex": RegexParser,
    "syslog": SyslogStep,
    "detect_level": DetectLevelStep,
    "kubernetes": KubernetesStep,
    "timestamp": TimestampStep,
    "level": LevelStep,
    "set": SetStep,
    "rename": RenameStep,
    "drop_fields": DropFieldsStep,
    "include": PatternFilter,
    "exclude": PatternFilter,
    "min_level": MinLevelFilter,
    "sample": SampleFilter,
    "throttle": ThrottleFilter,
    "redact": RedactStep,
    "search_tokens": TokensStep,
}
UNWRAPPERS: dict[str, Callable[[Any, Reporter], Unwrapper]] = {
    "cri": CriUnwrapper,
    "docker": DockerUnwrapper,
}


# Processors that, with no parser before them (and none of these is one), only rewrite the
# message text or the attribute dicts every line of a read shares, and keep every line (but a
# redaction that fails with ``on_error: drop``: that chunk then leaves as records). Not here:
# filters (they drop), parsers, ``detect_level``, ``search_tokens`` (per-line values), the
# joiners; ``timestamp``/``level`` are no-ops without a parser, left out as pointless.
KEEPING = frozenset({"redact", "set", "rename", "drop_fields"})


def keeps_lines(processors: Sequence[ProcessorConfig]) -> bool:
    """Whether a chain of these processors hands back packed ``Lines`` (none: trivially)."""
    return all(processor_name(cfg) in KEEPING for cfg in processors)


class Chain:
    """The processors of one input, in order; ``process`` maps an emitted list to another."""

    def __init__(
        self,
        input_id: str,
        processors: tuple[ProcessorConfig, ...],
        *,
        global_labels: dict[str, str] | None = None,
        state_dir: str | None = None,
    ) -> None:
        self.input_id = input_id
        self.configs = processors
        self.reporter = Reporter(input_id)
        self.reporter.state_dir = state_dir  # redact's hash key lives there
        self.unwrapper: Unwrapper | None = None
        self.multiline: MultilineStep | None = None
        self.steps: list[Step] = []
        for cfg in processors:
            name = processor_name(cfg)
            if name in UNWRAPPERS:
                self.unwrapper = UNWRAPPERS[name](cfg, self.reporter)
            elif name == "multiline":
                self.multiline = MultilineStep(cfg, self.reporter)  # type: ignore[arg-type]
                self.steps.append(self.multiline)
            else:
                self.steps.append(STEPS[name](cfg, self.reporter))
        self._fitter = Fitter(self.reporter.cut)
        self._uniform = UniformFitter()
        # The top-level labels are merged into every entry by the encoder; they are merged
        # here too so the attribute limit counts them (same names, same values: no change).
        labels = dict(global_labels or {})
        self._globals = SharedCache(lambda a: {**labels, **a}) if labels else None
        self._joined = metrics.PARTIALS_JOINED.labels(input=input_id)
        self.packable = keeps_lines(processors)

    def describe(self) -> list[str]:
        return [describe(cfg) for cfg in self.configs]

    # -- processing

    def process(self, records: Sequence[Record], now: float) -> Sequence[Record]:
        """The entries for ``records`` (fewer while pieces of a line are held; never more
        than ``len(records)`` plus the pieces a size cap split off); a ``Lines`` when
        ``records`` is one and the chain is ``packable`` (see the module doc)."""
        if not records:
            return []
        self.reporter.now = now
        packed = records if type(records) is Lines else None
        if packed is not None:
            rows = _rows_of(packed)
        else:
            rows = Rows.from_records(records if isinstance(records, list) else list(records))
        if self._globals is not None:
            rows.attrs = map_shared(rows.attrs, self._globals)
        unwrapper = self.unwrapper
        if unwrapper is not None:
            before = unwrapper.joined
            rows = unwrapper(rows, now)
            if unwrapper.joined != before:
                self._joined.inc(unwrapper.joined - before)
        return self._rest(rows, packed=packed if self.packable else None)

    def _rest(
        self,
        rows: Rows,
        flush_at: float | None = None,
        force: bool = False,
        packed: Lines | None = None,
    ) -> Sequence[Record]:
        for step in self.steps:
            if step is self.multiline and flush_at is not None:
                held = self.multiline.flush(flush_at, force=force)
                rows = _concat(step(rows) if len(rows) else rows, held)
            elif len(rows):  # (none left: all filtered out, their tokens in reporter.carry)
                rows = step(rows)
        if not len(rows):
            return []
        if packed is not None and (lines := _repacked(packed, rows)) is not None:
            return lines
        if rows.fields is not None:
            self._uniform.fit(rows)  # the usual parsed list, column-wise (else per row below)
        records = self._fitter.to_records(rows)
        return attach(records, rows.tokens) if rows.tokens is not None else records

    # -- state (the unwrapper's held pieces)

    @property
    def stateful(self) -> bool:
        return self.unwrapper is not None or self.multiline is not None

    def deadline(self) -> float | None:
        """When held pieces or lines are due (monotonic seconds), or None when nothing is held."""
        due = [
            d
            for d in (
                self.unwrapper.deadline() if self.unwrapper is not None else None,
                self.multiline.deadline() if self.multiline is not None else None,
            )
            if d is not None
        ]
        return min(due) if due else None

    def flush(self, now: float, *, force: bool = False) -> Sequence[Record]:
        """Entries for what was held past its timeout (all of it when ``force``)."""
        if not self.stateful:
            return []
        self.reporter.now = now
        rows = self.unwrapper.flush(now, force=force) if self.unwrapper else Rows.empty()
        return self._rest(rows, now, force)

    def reset(self) -> None:
        """Forget held pieces (the input restarts from its committed positions)."""
        self.reporter.carry.clear()  # dropped rows' tokens: they are read (and dropped) again
        if self.unwrapper is not None:
            self.unwrapper.reset()
        if self.multiline is not None:
            self.multiline.reset()


def _rows_of(lines: Lines) -> Rows:
    """The rows ``Rows.from_records(list(lines))`` gives, built column-wise (no Records)."""
    n = len(lines)
    ack: list[AckToken | None] = [None] * n
    ack[-1] = lines.ack
    rid: list[str | None] = [None] * n if lines.rids is None else list(lines.rids)
    # The messages are copied: a step may rewrite its text column in place.
    text, attrs = list(lines.messages), [lines.attributes] * n
    return Rows(text, [lines.timestamp] * n, [lines.level] * n, [lines.source] * n, attrs, ack, rid)


def _repacked(lines: Lines, rows: Rows) -> Lines | None:
    """``rows`` (the output of ``KEEPING`` steps over ``lines``) as one ``Lines``, or None
    when they are not that any more: a line dropped, fields or tokens added, per-line
    attributes. Those steps leave timestamp, level, source, ack and ids as they were."""
    if len(rows) != len(lines) or rows.fields is not None or rows.message is not None:
        return None
    attrs = rows.attrs
    if rows.tokens is not None or attrs.count(attrs[0]) != len(attrs):
        return None
    # ``ids``, not ``rids``: a file input's id columns stay columns (packed.py).
    return Lines(
        rows.text, lines.timestamp, lines.level, lines.source, attrs[0], lines.ack, lines.ids
    )


def _concat(rows: Rows, more: Rows) -> Rows:
    """``rows`` then ``more`` (a multiline's flushed entries: no parsed columns yet)."""
    if not len(rows):
        return more
    for i in range(len(more)):
        rows.append(more, i)
    return rows


def build_chain(
    input_id: str,
    processors: tuple[ProcessorConfig, ...],
    global_labels: dict[str, str] | None = None,
    state_dir: str | None = None,
) -> Chain | None:
    """The chain for an input's config, or None when it has no processors (nothing to do)."""
    if not processors:
        return None
    return Chain(input_id, processors, global_labels=global_labels, state_dir=state_dir)
