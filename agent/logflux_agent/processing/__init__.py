"""Processing: what the agent does to an entry's content before it is encrypted (no I/O)."""
