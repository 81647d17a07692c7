"""Inputs: the sources of records (file, stdin, journald). Each kind lives in its own module."""
