"""The value checks of the configuration that need more than a type or a bound.

A config built in code, not loaded (tests, one-shot commands), meets the same rules through
``refuse_unusable``: the file input calls it when it is built.

Per value: label names and values (the ingestor's attribute rules), the journal ``priority``
(a number or a name), a ``multiline`` block (exactly one pattern). Across the document, once
it is walked (``final_checks``): retry delays in order, input ids unique, at most one stdin
input, the label count with the top-level labels, socket and syslog listeners (loopback
unless ``allow_remote``), and the warnings (region override, ``tls_verify: false``, an
``api_key`` in a file others can read). Each problem names file:line:col and the key path.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from typing import TYPE_CHECKING, Any

import structlog
import yaml

from logflux_agent.config import model
from logflux_agent.config.model import (
    CHECKS,
    JOURNAL_PRIORITIES,
    MAX_LABELS,
    RESERVED_LABELS,
    Invalid,
    bound_problem,
    suggest,
)
from logflux_agent.config.nodes import BAD, INT, STR, NodeReader
from logflux_agent.errors import ConfigError

if TYPE_CHECKING:
    from logflux_agent.credentials import ApiKey

log = structlog.get_logger(__name__)


# ---- single values -------------------------------------------------------------------------


def label_name_ok(w: NodeReader, knode: yaml.Node, name: str, path: str) -> bool:
    if name.lower() in RESERVED_LABELS:
        w.problem(
            knode,
            path,
            f"label name {name!r} is reserved: LogFlux sets "
            f"{', '.join(RESERVED_LABELS)} itself (in any case)",
        )
        return False
    if not 1 <= len(name) <= 64:
        w.problem(
            knode,
            path,
            f"expected a label name of 1 to 64 characters, got {len(name)} characters",
        )
        return False
    return True


def priority(w: NodeReader, node: yaml.Node, path: str) -> Any:
    expected = "0 to 7 or a name (emerg, alert, crit, err, warning, notice, info, debug)"
    if w.is_null(node, path):
        return None
    if not isinstance(node, yaml.ScalarNode):
        return w.expected(node, path, expected)
    scalar = w.scalar(node, path)
    if scalar is None:
        return BAD
    if scalar.tag == INT and scalar.text.isdigit() and int(scalar.text) <= 7:
        return int(scalar.text)
    name = scalar.text.lower()
    if scalar.tag == STR and name in JOURNAL_PRIORITIES:
        return JOURNAL_PRIORITIES[name]
    return w.expected(node, path, expected, suggest(name, list(JOURNAL_PRIORITIES)))


def check_multiline(w: NodeReader, node: yaml.Node, kwargs: dict[str, Any], path: str) -> bool:
    given = [k for k in ("start_pattern", "continue_pattern") if kwargs.get(k)]
    if len(given) == 1:
        return True
    w.problem(
        node,
        path,
        f"expected exactly one of start_pattern (a line matching it "
        f"starts an entry) or continue_pattern (a line matching it "
        f"continues one), got {'both' if given else 'neither'}",
    )
    return False


# ---- a configuration built in code ---------------------------------------------------------


def refuse_unusable(cfg: Any, where: str) -> None:
    """ConfigError listing every value of the dataclass ``cfg`` the loader would refuse.

    The loader's own rules (``model.BOUNDS``, ``values.CHECKS``, the multiline rule), so a
    config built in code (tests, the one-shot commands) meets the same ones a file does; a
    loaded config always passes, its problems were reported at file:line:col already.
    """
    problems = built_problems(cfg)
    if problems:
        raise ConfigError([f"{where}: {p}" for p in problems])


def built_problems(cfg: Any, prefix: str = "") -> list[str]:
    """``path: expected …, got …`` for each field of ``cfg`` (nested dataclasses included)."""
    problems: list[str] = []
    cls = type(cfg).__name__
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        path = prefix + f.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            problems.extend(built_problems(value, path + "."))
            continue
        # The declared type decides the bounds (a float field may hold an int written in code).
        kind = float if "float" in str(f.type) else int
        expected = _value_problem(f"{cls}.{f.name}", f.name, kind, value)
        if expected is not None:
            problems.append(f"{path}: expected {expected}, got {value!r}")
    if isinstance(cfg, model.MultilineConfig) and (cfg.start_pattern is None) == (
        cfg.continue_pattern is None
    ):
        where = prefix.removesuffix(".") or "multiline"
        problems.append(f"{where}: expected exactly one of start_pattern or continue_pattern")
    return problems


def _value_problem(qual: str, name: str, kind: type, value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        message = bound_problem(qual, kind, value)
        if message:
            return message
    check = CHECKS.get(qual) or CHECKS.get(f"*.{name}")
    if check is None or value is None:
        return None
    try:
        check(value)
    except Invalid as exc:
        return exc.expected + exc.hint
    return None


# ---- the whole document --------------------------------------------------------------------


def final_checks(w: NodeReader, kwargs: dict[str, Any], key: ApiKey | None) -> None:
    sender = kwargs.get("sender") or model.SenderConfig()
    if sender.retry_max_delay < sender.retry_initial_delay:
        node = w.nodes.get("sender.retry_max_delay")
        w.problem(
            node,
            "sender.retry_max_delay",
            f"expected a value ≥ sender.retry_initial_delay "
            f"({sender.retry_initial_delay:g} s), got {sender.retry_max_delay:g}",
        )
    ids: dict[str, str] = {}
    stdin_seen = False
    for path, ident, kind in w.seen_inputs:
        if ident is not None and ident in ids:
            w.problem(
                w.nodes.get(path + ".id") or w.nodes.get(path),
                path + ".id",
                f"duplicate input id {ident!r} (also {ids[ident]}): every input needs "
                f"its own id (checkpoints are kept by id)",
            )
        elif ident is not None:
            ids[ident] = path
        if kind == "stdin":
            if stdin_seen:
                w.problem(
                    w.nodes.get(path),
                    path,
                    "expected at most one stdin input (it reads the agent's standard input)",
                )
            stdin_seen = True
    for i, cfg in enumerate(kwargs.get("inputs", ())):
        path = f"inputs[{i}]"
        merged = {**kwargs.get("labels", {}), **cfg.labels}
        if len(merged) > MAX_LABELS:
            w.problem(
                w.nodes.get(path + ".labels"),
                path + ".labels",
                f"expected at most {MAX_LABELS} labels together with the top-level "
                f"labels (the ingestor's limit), got {len(merged)}",
            )
    _check_listeners(w, kwargs)
    from logflux_agent.config.processor_rules import check_inputs

    check_inputs(w, tuple(kwargs.get("inputs", ())))
    if key is not None and kwargs.get("region") and key.region and kwargs["region"] != key.region:
        w.warnings.append(
            f"region: {kwargs['region']!r} overrides the key's own region {key.region!r}"
        )
    if kwargs.get("tls_verify") is False:
        w.warnings.append(
            "tls_verify is false: the ingestor's TLS certificate is not checked "
            "(use ca_file for a private CA instead)"
        )


def _check_listeners(w: NodeReader, kwargs: dict[str, Any]) -> None:
    """Socket/syslog inputs: at least one listener; non-loopback needs ``allow_remote: true``."""
    for i, cfg in enumerate(kwargs.get("inputs", ())):
        if not isinstance(cfg, model.SocketInputConfig | model.SyslogInputConfig):
            continue
        path = f"inputs[{i}]"
        keys = ("tcp",) if isinstance(cfg, model.SocketInputConfig) else ("udp", "tcp")
        if isinstance(cfg, model.SyslogInputConfig):
            _check_syslog_listeners(w, path, cfg)
        for key in keys:
            address = getattr(cfg, key)
            if address is None or model.is_loopback(model.split_hostport(address)[0]):
                continue
            if not cfg.allow_remote:
                w.problem(
                    w.nodes.get(f"{path}.{key}"),
                    f"{path}.{key}",
                    f"expected a loopback address (127.0.0.1, [::1], localhost), got "
                    f"{address!r}: to accept entries from other machines set "
                    f"allow_remote: true on this input",
                )
            else:
                w.warnings.append(
                    f"{path}.{key}: {address} accepts connections from other machines "
                    "(allow_remote: true)"
                )
        if isinstance(cfg, model.SocketInputConfig) and cfg.tcp and not cfg.require_secret:
            w.warnings.append(
                f"{path}: require_secret is false: entries without a shared secret are "
                f"accepted on {cfg.tcp} from any local process"
            )


def _check_syslog_listeners(w: NodeReader, path: str, cfg: model.SyslogInputConfig) -> None:
    if not (cfg.udp or cfg.tcp or cfg.unix or cfg.unix_stream):
        w.problem(
            w.nodes.get(path),
            path,
            "a syslog input needs at least one of udp: HOST:PORT, tcp: HOST:PORT, "
            "unix: PATH (datagram) or unix_stream: PATH",
        )
    if cfg.unix is not None and cfg.unix == cfg.unix_stream:
        w.problem(
            w.nodes.get(f"{path}.unix_stream"),
            f"{path}.unix_stream",
            f"expected a path other than unix ({cfg.unix}): one file cannot be both a datagram "
            "and a stream socket",
        )


def insecure(w: NodeReader, path: str, key_node: yaml.Node | None) -> None:
    if key_node is None or "${" in str(key_node.value):
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if mode & 0o044:
        log.warning("config.insecure_permissions", path=path, mode=f"{mode:04o}")
        w.warnings.append(
            f"{path} holds an api_key and is readable by group or others "
            f"(mode {mode:04o}): run chmod 600 {path}"
        )
