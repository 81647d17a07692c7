"""The LogFlux local-agent socket input (protocol.md §10): listeners, entry mapping, secret."""
