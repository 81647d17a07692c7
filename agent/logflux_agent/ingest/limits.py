"""The ingestor's limits the encoder applies itself (protocol.md §4), in a module of its own.

The encode worker process imports the encoder and nothing of the configuration: the config
model pulls in every config module (~50 ms of start-up and a few MiB per worker) for one number.
The config model checks the same limit on the configured labels; a unit test keeps both equal.
"""

from __future__ import annotations

MAX_LABELS = 20  # attributes per entry
