"""``search_tokens``: the plaintext tokens of an entry's ``X-LF-Search-Tokens`` part header
(protocol.md §4) — the only part of an entry the server can index, and read.

Tokens, in this order, without duplicates: ``level:<name>`` (``level: true``), then
``<field>:<value>`` for each named field (a parsed field, else an attribute of that name), then
each regex's captures (a named group ``(?P<name>…)`` → ``name:value``, an unnamed one → the
value; spaces at either end of a value removed). The character rule: a token is printable
ASCII (0x20 to 0x7E) without a comma, at most ``max_length`` characters; a token that breaks
it is *not sent* (not cut or rewritten: a changed token would match the wrong searches) and
counted in
``logflux_agent_search_tokens_rejected_total{input,reason}`` (invalid_chars, too_long); tokens
past ``max_tokens`` are not sent either (too_many).

The tokens travel with the record only when this processor exists: ``attach`` puts them in
the record's attributes under ``TOKENS_KEY`` as a ``SearchTokens`` string (a type no parser
produces, so a field of the same name cannot forge a header); the encoder moves them to the
part header and leaves them out of the encrypted payload (ingest/encode.py).
"""

from __future__ import annotations

import re

from logflux_agent.config.privacy import SearchTokensProcessor
from logflux_agent.observe import metrics
from logflux_agent.processing.filter import column
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Rows
from logflux_agent.record import TOKENS_KEY, Record, SearchTokens

LEVEL_TOKENS = {
    1: "emergency",
    2: "alert",
    3: "critical",
    4: "error",
    5: "warning",
    6: "notice",
    7: "info",
    8: "debug",
}
_BAD_CHARS = re.compile(r"[^\x20-\x7e]|,")


class TokensStep:
    name = "search_tokens"

    def __init__(self, cfg: SearchTokensProcessor, reporter: Reporter) -> None:
        self.level = cfg.level
        self.fields = cfg.fields
        self.patterns = [re.compile(p) for p in cfg.patterns]
        self.max_tokens = cfg.max_tokens
        self.max_length = cfg.max_length
        self.reporter = reporter
        self._rejected = {
            reason: metrics.SEARCH_TOKENS_REJECTED.labels(input=reporter.input_id, reason=reason)
            for reason in ("invalid_chars", "too_long", "too_many")
        }

    def token_ok(self, token: str) -> str | None:
        """The reason ``token`` is not sent, or None."""
        if len(token) > self.max_length:
            return "too_long"
        if not token or _BAD_CHARS.search(token):
            return "invalid_chars"
        return None

    def tokens_for(
        self, level: int, values: list[str | None], message: str
    ) -> tuple[str, dict[str, int]]:
        out: list[str] = []
        rejected: dict[str, int] = {}
        candidates: list[str] = []
        if self.level and level in LEVEL_TOKENS:
            candidates.append(f"level:{LEVEL_TOKENS[level]}")
        for name, value in zip(self.fields, values, strict=True):
            if value is not None:
                candidates.append(f"{name}:{value.strip(' ')}")
        for pattern in self.patterns:
            for m in pattern.finditer(message):
                names = {i: n for n, i in pattern.groupindex.items()}
                for g in range(1, (pattern.groups or 0) + 1):
                    value = m.group(g)
                    if value is not None:
                        value = value.strip(" ")
                        candidates.append(f"{names[g]}:{value}" if g in names else value)
        for token in candidates:
            why = self.token_ok(token)
            if why is None and token in out:
                continue
            if why is None and len(out) >= self.max_tokens:
                why = "too_many"
            if why is not None:
                rejected[why] = rejected.get(why, 0) + 1
                continue
            out.append(token)
        return ",".join(out), rejected

    def __call__(self, rows: Rows) -> Rows:
        if not len(rows):
            return rows
        per_field = [column(rows, name) for name in self.fields]
        messages = column(rows, "message") if self.patterns else [""] * len(rows)
        out: list[str | None] = []
        total: dict[str, int] = {}
        for i, level in enumerate(rows.level):
            values = [col[i] for col in per_field]
            joined, rejected = self.tokens_for(level, values, messages[i] or "")
            out.append(joined or None)
            for why, n in rejected.items():
                total[why] = total.get(why, 0) + n
        for why, n in total.items():
            self._rejected[why].inc(n)
        rows.tokens = out
        if self.reporter.explain is not None:
            self.reporter.explain(
                "search_tokens: tokens are sent UNENCRYPTED (the server can read them)"
            )
        return rows


def attach(records: list[Record], tokens: list[str | None]) -> list[Record]:
    """The records with their tokens in ``attributes`` (see the module doc)."""
    out = records
    for i, joined in enumerate(tokens):
        if joined:
            if out is records:
                out = list(records)
            rec = out[i]
            attrs = {**rec.attributes, TOKENS_KEY: SearchTokens(joined)}
            out[i] = rec._replace(attributes=attrs)
    return out
