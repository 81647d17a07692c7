"""The pipeline between inputs and the ingest client: queue, batcher, acks."""
