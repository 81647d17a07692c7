"""Every metric the agent exports, defined in one place (Prometheus naming, base units).

Label sets are bounded: ``input`` is a configured input id, ``reason`` and ``result`` come from
small fixed vocabularies. No file path is ever a label. Metrics live in a private registry so
an embedding process (the tests) never collides with the default one.

The ``*_created`` series prometheus_client adds to every counter and histogram are turned off:
they double the exposition and nobody graphs them (``rate()`` handles restarts without them).
"""

from __future__ import annotations

import platform

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from logflux_agent import __version__

disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)

BUILD_INFO = Gauge(
    "logflux_agent_build_info",
    "Build information; always 1.",
    ["version", "python"],
    registry=REGISTRY,
)
BUILD_INFO.labels(version=__version__, python=platform.python_version()).set(1)

# Inputs
INPUT_ENTRIES = Counter(
    "logflux_agent_input_entries_total", "Entries read, per input.", ["input"], registry=REGISTRY
)
INPUT_BYTES = Counter(
    "logflux_agent_input_bytes_total", "Bytes read, per input.", ["input"], registry=REGISTRY
)
INPUT_ERRORS = Counter(
    "logflux_agent_input_errors_total",
    "Read problems per input and cause (permission, vanished, io, binary, journalctl, ...).",
    ["input", "reason"],
    registry=REGISTRY,
)
LONG_LINES = Counter(
    "logflux_agent_long_lines_total",
    "Lines longer than max_line_bytes, per input and action (split, truncate).",
    ["input", "action"],
    registry=REGISTRY,
)
INVALID_UTF8 = Counter(
    "logflux_agent_invalid_utf8_total",
    "Entries with invalid UTF-8 decoded with replacement characters.",
    ["input"],
    registry=REGISTRY,
)
FILES_WATCHED = Gauge(
    "logflux_agent_files_watched",
    "Files matched and tracked, per input.",
    ["input"],
    registry=REGISTRY,
)
FILES_OPEN = Gauge(
    "logflux_agent_files_open", "Files currently open, per input.", ["input"], registry=REGISTRY
)
INPUT_RESTARTS = Counter(
    "logflux_agent_input_restarts_total",
    "Times an input task died unexpectedly and was restarted.",
    ["input"],
    registry=REGISTRY,
)

# Queue
QUEUE_ENTRIES = Gauge(
    "logflux_agent_queue_entries", "Entries waiting in the queue.", registry=REGISTRY
)
QUEUE_BYTES = Gauge("logflux_agent_queue_bytes", "Bytes waiting in the queue.", registry=REGISTRY)
QUEUE_CAPACITY_ENTRIES = Gauge(
    "logflux_agent_queue_capacity_entries", "Configured queue bound in entries.", registry=REGISTRY
)
QUEUE_CAPACITY_BYTES = Gauge(
    "logflux_agent_queue_capacity_bytes", "Configured queue bound in bytes.", registry=REGISTRY
)
DROPPED = Counter(
    "logflux_agent_dropped_entries_total",
    "Entries dropped on purpose, by reason (queue_full with on_full: drop_newest).",
    ["reason"],
    registry=REGISTRY,
)

# Sending
BATCHES_SENT = Counter(
    "logflux_agent_batches_sent_total", "Batches accepted by the ingestor.", registry=REGISTRY
)
ENTRIES_SENT = Counter(
    "logflux_agent_entries_sent_total", "Entries accepted by the ingestor.", registry=REGISTRY
)
WIRE_BYTES = Counter(
    "logflux_agent_sent_bytes_total",
    "Request body bytes sent to the ingestor (every attempt).",
    registry=REGISTRY,
)
REQUEST_DURATION = Histogram(
    "logflux_agent_request_duration_seconds",
    "Duration of ingest requests, any outcome.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SEND_FAILURES = Counter(
    "logflux_agent_send_failures_total",
    "Failed ingest requests by reason (4xx, 5xx, 429, 413, 401, 507, timeout, "
    "connection, partial).",
    ["reason"],
    registry=REGISTRY,
)
RETRIES = Counter("logflux_agent_retries_total", "Ingest request retries.", registry=REGISTRY)
HANDSHAKES = Counter(
    "logflux_agent_handshakes_total",
    "Handshakes by result (ok, failed, pin_mismatch).",
    ["result"],
    registry=REGISTRY,
)
RETRY_AFTER_PAUSES = Counter(
    "logflux_agent_retry_after_pauses_total",
    "Times sending paused for a 429 Retry-After.",
    registry=REGISTRY,
)
RETRY_AFTER_SECONDS = Counter(
    "logflux_agent_retry_after_seconds_total",
    "Seconds of Retry-After pauses requested.",
    registry=REGISTRY,
)
DEAD_LETTERED = Counter(
    "logflux_agent_dead_lettered_entries_total",
    "Entries written to the dead-letter file, by reason.",
    ["reason"],
    registry=REGISTRY,
)
BATCHES_SPLIT = Counter(
    "logflux_agent_batches_split_total", "Batches split after a 413.", registry=REGISTRY
)
SESSIONS_ROTATED = Counter(
    "logflux_agent_sessions_rotated_total",
    "Session keys replaced (age, entry count, or refused key).",
    ["reason"],
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "logflux_agent_requests_in_flight", "Ingest requests in flight.", registry=REGISTRY
)

# Acks and checkpoints
CHECKPOINT_WRITES = Counter(
    "logflux_agent_checkpoint_writes_total", "Checkpoint documents persisted.", registry=REGISTRY
)
CHECKPOINT_FAILURES = Counter(
    "logflux_agent_checkpoint_failures_total",
    "Checkpoint writes that failed (disk full, permissions).",
    registry=REGISTRY,
)
E2E_LATENCY = Histogram(
    "logflux_agent_e2e_latency_seconds",
    "Time from an entry being read to its batch being accepted.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)

# The agent's own log
LOG_LINES_DROPPED = Counter(
    "logflux_agent_log_lines_dropped_total",
    "Lines of the agent's own log that could not be written, by reason (closed: the stream "
    "is gone; full: its reader is not keeping up).",
    ["reason"],
    registry=REGISTRY,
)

# Socket (local-agent protocol) and syslog inputs: they cannot re-read, so what is not yet
# acknowledged is visible; reasons come from fixed vocabularies (docs/socket-syslog.md).
UNACKED_ENTRIES = Gauge(
    "logflux_agent_unacked_entries",
    "Entries read by an input that cannot re-read (socket, syslog) and not yet accepted by the "
    "ingestor; they are lost if the agent is killed.",
    ["input"],
    registry=REGISTRY,
)
SOCKET_OPEN_CONNECTIONS = Gauge(
    "logflux_agent_socket_open_connections",
    "Open client connections, per input and transport (unix, tcp).",
    ["input", "transport"],
    registry=REGISTRY,
)
SOCKET_CONNECTIONS_TOTAL = Counter(
    "logflux_agent_socket_connections_total",
    "Client connections by result (accepted, over_limit: closed at once, max_connections).",
    ["input", "transport", "result"],
    registry=REGISTRY,
)
SOCKET_ENTRY_PROBLEMS = Counter(
    "logflux_agent_socket_entry_problems_total",
    "Entries shipped with a problem, by reason (parse_error, recovered, truncated, "
    "continuation, level_clamped, bad_level, bad_timestamp, bad_entry_type, bad_labels, "
    "attributes_dropped, attributes_truncated).",
    ["input", "reason"],
    registry=REGISTRY,
)
SOCKET_REFUSED_ENTRIES = Counter(
    "logflux_agent_socket_refused_entries_total",
    "Entries refused and not shipped, by reason (wrong_secret, no_secret, long_line).",
    ["input", "reason"],
    registry=REGISTRY,
)
SYSLOG_MALFORMED = Counter(
    "logflux_agent_syslog_malformed_total",
    "Syslog messages not well formed, shipped as text (invalid: no PRI; partial: a header "
    "field or structured data did not parse; long: cut at max_message_bytes).",
    ["input", "reason"],
    registry=REGISTRY,
)
SYSLOG_DROPPED_DATAGRAMS = Counter(
    "logflux_agent_syslog_dropped_datagrams_total",
    "UDP/unix datagrams dropped because the input's buffer was full (the queue stayed full).",
    ["input"],
    registry=REGISTRY,
)

# Processing (per-input processor chains, docs/processing.md). ``processor`` is a processor
# name and ``reason`` comes from a fixed vocabulary in processing/report.py: both bounded.
PARSE_ERRORS = Counter(
    "logflux_agent_parse_errors_total",
    "Lines a processor could not handle (left as they were and shipped), per input, "
    "processor and reason.",
    ["input", "processor", "reason"],
    registry=REGISTRY,
)
ATTRIBUTES_TRUNCATED = Counter(
    "logflux_agent_attributes_truncated_total",
    "Fields that did not fit the attribute limits (name dropped or value cut; the entry then "
    "keeps the whole line as its message), per input and reason.",
    ["input", "reason"],
    registry=REGISTRY,
)
PARTIALS_JOINED = Counter(
    "logflux_agent_partials_joined_total",
    "Container runtime partial lines (CRI P, docker pieces) joined into entries, per input.",
    ["input"],
    registry=REGISTRY,
)
MULTILINE_SPLITS = Counter(
    "logflux_agent_multiline_splits_total",
    "Entries the multiline processor completed because they reached max_lines or max_bytes "
    "(the next line began a new entry: nothing dropped), per input and reason.",
    ["input", "reason"],
    registry=REGISTRY,
)

# Freshness: is logging keeping up? (observe/freshness.py updates the gauges on every scrape)
READ_TO_ACCEPTED = Histogram(
    "logflux_agent_read_to_accepted_seconds",
    "Time from a chunk of entries being read by an input to the ingestor accepting it, "
    "per input (one observation per read chunk).",
    ["input"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
OLDEST_UNACKED_AGE = Gauge(
    "logflux_agent_oldest_unacked_age_seconds",
    "Age of the oldest entry read but not yet accepted by the ingestor, per input (0: none).",
    ["input"],
    registry=REGISTRY,
)
FILE_LAG_BYTES = Gauge(
    "logflux_agent_file_lag_bytes",
    "Bytes between the committed (accepted) offset and the size of each tracked file, "
    "summed per file input.",
    ["input"],
    registry=REGISTRY,
)
LAST_ACCEPTED = Gauge(
    "logflux_agent_last_accepted_timestamp_seconds",
    "Unix time the ingestor last accepted entries (0: not yet).",
    registry=REGISTRY,
)

# Filters, redaction, search tokens (processing/filter.py, redact.py, tokens.py). Labels are
# bounded: input ids and processor names come from the config, reasons from a fixed list, rule
# names are the built-in detectors' or the config's custom rule names — never matched text.
PROCESSING_DROPPED = Counter(
    "logflux_agent_processing_dropped_entries_total",
    "Entries a processor dropped on purpose, by input, processor and reason (excluded, "
    "not_included, below_min_level, sampled_out, throttled, redact_failed).",
    ["input", "processor", "reason"],
    registry=REGISTRY,
)
REDACTIONS = Counter(
    "logflux_agent_redactions_total",
    "Values replaced by redact, by input and rule (a built-in detector or a custom rule).",
    ["input", "rule"],
    registry=REGISTRY,
)
SEARCH_TOKENS_REJECTED = Counter(
    "logflux_agent_search_tokens_rejected_total",
    "Search tokens not sent, by input and reason (invalid_chars, too_long, too_many).",
    ["input", "reason"],
    registry=REGISTRY,
)

# Disk spool (delivery/): ciphertext of stdin/socket/syslog batches waiting for the ingestor
SPOOL_BYTES = Gauge(
    "logflux_agent_spool_bytes",
    "Bytes of spool segment files on disk (including records already accepted).",
    registry=REGISTRY,
)
SPOOL_SEGMENTS = Gauge(
    "logflux_agent_spool_segments", "Spool segment files on disk.", registry=REGISTRY
)
SPOOL_OLDEST_AGE = Gauge(
    "logflux_agent_spool_oldest_age_seconds",
    "Age of the oldest spooled request not yet accepted (0: the spool is drained).",
    registry=REGISTRY,
)
SPOOL_WRITTEN_ENTRIES = Counter(
    "logflux_agent_spool_written_entries_total",
    "Entries written durably to the spool.",
    registry=REGISTRY,
)
SPOOL_WRITTEN_BYTES = Counter(
    "logflux_agent_spool_written_bytes_total", "Bytes written to the spool.", registry=REGISTRY
)
SPOOL_REPLAYED_ENTRIES = Counter(
    "logflux_agent_spool_replayed_entries_total",
    "Spooled entries the ingestor accepted.",
    registry=REGISTRY,
)
SPOOL_CORRUPT_RECORDS = Counter(
    "logflux_agent_spool_corrupt_records_total",
    "Spool tails cut at start (torn or CRC mismatch), by reason.",
    ["reason"],
    registry=REGISTRY,
)
SPOOL_ASIDE_SEGMENTS = Counter(
    "logflux_agent_spool_aside_segments_total",
    "Spool files of an unknown format moved aside (kept, not read).",
    registry=REGISTRY,
)
SPOOL_FULL = Counter(
    "logflux_agent_spool_full_total",
    "Times a batch found the spool full (max_bytes or the filesystem) and waited.",
    ["reason"],
    registry=REGISTRY,
)
SPOOL_REKEYED = Counter(
    "logflux_agent_spool_rekeyed_total",
    "Spooled requests whose key id was refused and re-registered, by result.",
    ["result"],
    registry=REGISTRY,
)
SPOOL_DEAD_LETTERED = Counter(
    "logflux_agent_spool_dead_lettered_entries_total",
    "Spooled entries kept as ciphertext in spool/dead/ (never sent), by reason.",
    ["reason"],
    registry=REGISTRY,
)

# Receipt ledger (ledger/): evidence of what was accepted, never on the ack path
LEDGER_BYTES = Gauge(
    "logflux_agent_ledger_bytes", "Bytes of receipt ledger segments on disk.", registry=REGISTRY
)
LEDGER_RECORDS = Counter(
    "logflux_agent_ledger_records_total",
    "Receipt ledger records written, by kind (batch, drop, gap, replay, start).",
    ["kind"],
    registry=REGISTRY,
)
LEDGER_WRITE_FAILURES = Counter(
    "logflux_agent_ledger_write_failures_total",
    "Ledger records that could not be written (disk full, I/O error); delivery went on.",
    registry=REGISTRY,
)
LEDGER_TORN = Counter(
    "logflux_agent_ledger_torn_tails_total",
    "Ledger segment tails cut at start (torn by a crash or a CRC mismatch).",
    registry=REGISTRY,
)
