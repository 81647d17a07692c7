"""``syslog``: RFC 5424 / RFC 3164 lines found inside files → level, ts, fields and message.

The parsing is processing/syslog.py's (the same as ``type: syslog``'s, so a line reads the same
in a file as over the network): PRI → the entry's level (severity + 1), the header's
timestamp → ``ts`` (an RFC 3164 one in the year nearest the read time), ``facility``,
``hostname``, ``app_name``, ``procid``, ``msgid`` and structured data (``sd.<id>.<param>``) →
fields, the MSG part → the message. A line without a valid ``<PRI>`` is left untouched and
counted (``not_syslog``); one whose header or structured data is partly wrong keeps what parsed,
gets a ``parse_error`` field saying what was wrong, and is counted (``syslog_malformed``). A
timestamp the ingestor would refuse (more than a year old, a minute ahead) keeps the read time
(``timestamp_out_of_range``). Nothing here raises.
"""

from __future__ import annotations

from logflux_agent.config.processors import SyslogProcessor
from logflux_agent.processing.fields import MAX_AGE, MAX_AHEAD
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Fields, Rows
from logflux_agent.processing.syslog import level_of, parse_syslog, syslog_fields


class SyslogStep:
    name = "syslog"

    def __init__(self, cfg: SyslogProcessor, reporter: Reporter) -> None:
        del cfg
        self.reporter = reporter

    def __call__(self, rows: Rows) -> Rows:
        invalid = malformed = out_of_range = 0
        fields, messages = rows.field_column(), rows.message_column()
        ts, levels = rows.ts, rows.level
        for i, text in enumerate(rows.text):
            read_at = ts[i]
            msg = parse_syslog(text, now=read_at)
            if msg.format == "invalid":
                invalid += 1
                continue
            found: Fields = dict(syslog_fields(msg))
            if msg.error is not None:
                malformed += 1
                found["parse_error"] = msg.error
            when = msg.timestamp
            if when is not None:
                if read_at - MAX_AGE <= when <= read_at + MAX_AHEAD:
                    ts[i] = when
                else:
                    out_of_range += 1
            levels[i] = level_of(msg)
            messages[i] = msg.message
            existing = fields[i]
            fields[i] = found if existing is None else {**existing, **found}
        self.reporter.problem(self.name, "not_syslog", invalid)
        self.reporter.problem(self.name, "syslog_malformed", malformed)
        self.reporter.problem(self.name, "timestamp_out_of_range", out_of_range)
        return rows
