"""Everything that speaks the LogFlux ingest protocol (shared/protocol.md §§1-6).

discovery → handshake (crypto) → session → encode → client (retry, dead letters). The
pipeline uses only ``client.IngestClient``; the reference ingestor never imports this package.
"""
