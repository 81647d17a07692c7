"""Config of the filter, ``redact`` and ``search_tokens`` processors, and their checks.

The dataclasses are read by the generic walker of ``load.py`` like every other processor
(config/processors.py registers them in ``KINDS``); ``check`` holds the rules beyond the types:
patterns compile and pass ``unsafe_pattern`` (no nested unbounded quantifier — the shape that
backtracks catastrophically on a long line), a level is a real level, counts are positive, a
custom rule name is a label-safe word and not a built-in one. Defaults are repeated in
config/agent.yaml.example and docs/processing.md.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal

# The built-in detectors of ``redact``, in the order they are documented (processing/redact.py).
DETECTORS = (
    "logflux_key",
    "authorization",
    "jwt",
    "aws_access_key",
    "aws_secret_key",
    "private_key",
    "card",
    "email",
    "ipv4",
    "ipv6",
)
_RULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True, slots=True, kw_only=True)
class IncludeProcessor:
    """Keep only entries whose ``field`` matches ``any`` / ``all`` of ``patterns``."""

    patterns: tuple[str, ...]
    field: str = "message"
    match: Literal["any", "all"] = "any"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExcludeProcessor:
    """Drop entries whose ``field`` matches ``any`` / ``all`` of ``patterns``."""

    patterns: tuple[str, ...]
    field: str = "message"
    match: Literal["any", "all"] = "any"


@dataclass(frozen=True, slots=True, kw_only=True)
class MinLevelProcessor:
    """Drop entries less severe than ``level`` (a name or 1 to 8; 1 is the most severe)."""

    level: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleProcessor:
    """Keep 1 entry in ``every``, chosen by a hash of the message (replays sample the same)."""

    every: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleProcessor:
    """At most ``rate`` entries per second for this input, bursts up to ``burst``."""

    rate: float
    burst: int = 0  # 0: max(1, rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class RedactProcessor:
    """Replace secrets and personal data in the message and attribute values."""

    detectors: tuple[str, ...] = DETECTORS
    custom: dict[str, str] = dataclasses.field(default_factory=dict)
    replace: Literal["mask", "hash"] = "mask"
    on_error: Literal["drop", "ship"] = "drop"
    max_chars: int = 65_536


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchTokensProcessor:
    """Plaintext tokens for the part header: level, named fields, regex captures."""

    level: bool = True
    fields: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    max_tokens: int = 16
    max_length: int = 64
    before_redact: bool = False


PRIVACY_KINDS: dict[str, type] = {
    "include": IncludeProcessor,
    "exclude": ExcludeProcessor,
    "min_level": MinLevelProcessor,
    "sample": SampleProcessor,
    "throttle": ThrottleProcessor,
    "redact": RedactProcessor,
    "search_tokens": SearchTokensProcessor,
}
FILTERS = ("include", "exclude", "min_level", "sample", "throttle")


def level_number(text: str) -> int | None:
    from logflux_agent.config.processors import LEVEL_NAMES

    word = text.strip().lower()
    aliases = {"err": 4, "warn": 5, "crit": 3, "emerg": 1}
    level = LEVEL_NAMES.get(word) or aliases.get(word)
    if level is None and word.isdigit():
        level = int(word)
    return level if level is not None and 1 <= level <= 8 else None


def unsafe_pattern(pattern: str) -> str | None:
    """Why ``pattern`` may backtrack catastrophically, or None: a repeat with no upper bound
    around something that itself repeats without bound (``(a+)+``, ``(\\w*\\s?)*``)."""
    try:
        import re._parser as sre_parse  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - Python < 3.11
        import sre_parse  # type: ignore[no-redef,unused-ignore]
    from re._constants import MAXREPEAT  # type: ignore[import-not-found,unused-ignore]

    def unbounded_inside(items: Any) -> bool:
        for op, arg in items:
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                if arg[1] == MAXREPEAT or unbounded_inside(arg[2]):
                    return True
            elif name == "SUBPATTERN":
                if unbounded_inside(arg[3]):
                    return True
            elif name == "BRANCH" and any(unbounded_inside(b) for b in arg[1]):
                return True
        return False

    def walk(items: Any) -> str | None:
        for op, arg in items:
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT"):
                if arg[1] == MAXREPEAT and unbounded_inside(arg[2]):
                    return "a repeated group that itself repeats without bound, like (a+)+"
                found = walk(arg[2])
            elif name == "SUBPATTERN":
                found = walk(arg[3])
            elif name == "BRANCH":
                found = next((w for w in map(walk, arg[1]) if w), None)
            else:
                found = None
            if found:
                return found
        return None

    return walk(sre_parse.parse(pattern))


def _pattern(w: Any, node: Any, path: str, pattern: str) -> bool:
    where = w.nodes.get(path, node)
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        w.expected(where, path, "a regular expression", f" ({exc})")
        return False
    why = unsafe_pattern(pattern)
    if why is not None:
        w.expected(
            where, path, "a regular expression without nested unbounded repeats", f" ({why})"
        )
        return False
    return True


def check(w: Any, cfg: Any, node: Any, path: str) -> Any:
    """``cfg`` when its values make sense, else BAD with the problem reported on ``w``."""
    from logflux_agent.config.load import BAD

    ok = True
    if isinstance(cfg, IncludeProcessor | ExcludeProcessor | SearchTokensProcessor):
        if isinstance(cfg, IncludeProcessor | ExcludeProcessor) and not cfg.patterns:
            return w.expected(node, f"{path}.patterns", "at least one pattern")
        for i, p in enumerate(cfg.patterns):
            ok = _pattern(w, node, f"{path}.patterns[{i}]", p) and ok
    if isinstance(cfg, MinLevelProcessor) and level_number(cfg.level) is None:
        where = w.nodes.get(f"{path}.level", node)
        return w.expected(where, f"{path}.level", "a level: 1 to 8 or a name like warning")
    if isinstance(cfg, SampleProcessor) and cfg.every < 1:
        return w.expected(w.nodes.get(f"{path}.every", node), f"{path}.every", "an integer ≥ 1")
    if isinstance(cfg, ThrottleProcessor) and (cfg.rate <= 0 or cfg.burst < 0):
        return w.expected(node, path, "rate > 0 and burst ≥ 0")
    if isinstance(cfg, RedactProcessor):
        for i, name in enumerate(cfg.detectors):
            if name not in DETECTORS:
                sub = f"{path}.detectors[{i}]"
                ok = False
                w.expected(w.nodes.get(sub, node), sub, "one of " + ", ".join(DETECTORS))
        for name, pattern in cfg.custom.items():
            sub = f"{path}.custom.{name}"
            if not _RULE_NAME.fullmatch(name) or name in DETECTORS:
                ok = False
                w.problem(
                    w.nodes.get(sub, node),
                    sub,
                    "a rule name is a lower-case word (a-z, 0-9, _; up to 32) and not a "
                    "built-in detector's name",
                )
            else:
                ok = _pattern(w, node, sub, pattern) and ok
        if cfg.max_chars < 1024:
            return w.expected(node, f"{path}.max_chars", "an integer ≥ 1024")
    if isinstance(cfg, SearchTokensProcessor) and not (
        1 <= cfg.max_tokens <= 64 and 1 <= cfg.max_length <= 256
    ):
        return w.expected(node, path, "max_tokens 1 to 64 and max_length 1 to 256")
    return cfg if ok else BAD


def order_problem(names: list[str], cfgs: list[Any]) -> tuple[int, str] | None:
    """(index, message) when search_tokens runs before a redact without ``before_redact``."""
    for i, (name, cfg) in enumerate(zip(names, cfgs, strict=True)):
        if name == "search_tokens" and not cfg.before_redact and "redact" in names[i + 1 :]:
            return i, (
                "search_tokens runs before redact, so its tokens — sent unencrypted — could "
                "hold what redact removes; move it after redact, or set before_redact: true"
            )
    return None
