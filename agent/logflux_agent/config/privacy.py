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


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _parts(name: str, arg: Any) -> list[Any]:
    """The sub-pattern lists inside one parsed item: a repeat's body, a group's content, each
    branch of an alternation (none for anything else)."""
    if name in _REPEATS:
        return [arg[2]]
    if name == "SUBPATTERN":
        return [arg[3]]
    if name == "BRANCH":
        return list(arg[1])
    return []


def _unbounded_inside(items: Any) -> bool:
    """Whether ``items`` hold a repeat without an upper bound (at any depth)."""
    from re._constants import MAXREPEAT  # type: ignore[import-not-found,unused-ignore]

    for op, arg in items:
        name = str(op)
        if name in _REPEATS and arg[1] == MAXREPEAT:
            return True
        if any(_unbounded_inside(part) for part in _parts(name, arg)):
            return True
    return False


def _nested_repeat(items: Any) -> str | None:
    from re._constants import MAXREPEAT  # type: ignore[import-not-found,unused-ignore]

    for op, arg in items:
        name = str(op)
        if name == "POSSESSIVE_REPEAT":  # never backtracks into its body
            continue
        if name in _REPEATS and arg[1] == MAXREPEAT and _unbounded_inside(arg[2]):
            return "a repeated group that itself repeats without bound, like (a+)+"
        for part in _parts(name, arg):
            found = _nested_repeat(part)
            if found:
                return found
    return None


def unsafe_pattern(pattern: str) -> str | None:
    """Why ``pattern`` may backtrack catastrophically, or None: a repeat with no upper bound
    around something that itself repeats without bound (``(a+)+``, ``(\\w*\\s?)*``)."""
    import re._parser as sre_parse  # type: ignore[import-not-found,unused-ignore]

    return _nested_repeat(sre_parse.parse(pattern))


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


def _redact_ok(w: Any, cfg: RedactProcessor, node: Any, path: str) -> bool:
    """Every detector known, every custom rule well named and a safe pattern (all reported)."""
    ok = True
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
    return ok


def _scalar_problem(cfg: Any) -> tuple[str, str] | None:
    """(option, expectation) when a single value is out of range, else None."""
    if isinstance(cfg, MinLevelProcessor) and level_number(cfg.level) is None:
        return "level", "a level: 1 to 8 or a name like warning"
    if isinstance(cfg, SampleProcessor) and cfg.every < 1:
        return "every", "an integer ≥ 1"
    if isinstance(cfg, ThrottleProcessor) and (cfg.rate <= 0 or cfg.burst < 0):
        return "", "rate > 0 and burst ≥ 0"
    if isinstance(cfg, RedactProcessor) and cfg.max_chars < 1024:
        return "max_chars", "an integer ≥ 1024"
    if isinstance(cfg, SearchTokensProcessor) and not (
        1 <= cfg.max_tokens <= 64 and 1 <= cfg.max_length <= 256
    ):
        return "", "max_tokens 1 to 64 and max_length 1 to 256"
    return None


def check(w: Any, cfg: Any, node: Any, path: str) -> Any:
    """``cfg`` when its values make sense, else BAD with the problem reported on ``w``."""
    from logflux_agent.config.load import BAD

    ok = True
    if isinstance(cfg, IncludeProcessor | ExcludeProcessor | SearchTokensProcessor):
        if isinstance(cfg, IncludeProcessor | ExcludeProcessor) and not cfg.patterns:
            return w.expected(node, f"{path}.patterns", "at least one pattern")
        for i, p in enumerate(cfg.patterns):
            ok = _pattern(w, node, f"{path}.patterns[{i}]", p) and ok
    if isinstance(cfg, RedactProcessor):
        ok = _redact_ok(w, cfg, node, path)
    scalar = _scalar_problem(cfg)
    if scalar is not None:
        option, expectation = scalar
        if option in ("level", "every"):
            key = f"{path}.{option}"
            return w.expected(w.nodes.get(key, node), key, expectation)
        return w.expected(node, f"{path}.{option}" if option else path, expectation)
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
