"""The parts of the journald input: journalctl command lines, the managed subprocess, and the
mapping of journal entries to records. ``inputs/journald.py`` assembles them."""
