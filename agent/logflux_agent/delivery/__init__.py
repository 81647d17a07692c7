"""The disk spool for inputs that cannot be read again (stdin, socket, syslog): ciphertext only.

``segment.py`` owns the on-disk format, ``spool.py`` the directory (append, replay cursor,
deletion, bounds), ``replayer.py`` sending spooled requests oldest first. docs/spool.md.
"""
