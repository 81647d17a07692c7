"""The reference ingestor: a strict, independent stand-in for the LogFlux ingestor (protocol §8).

It shares no code with ``logflux_agent.ingest`` on purpose: it parses multipart with its own
parser and decrypts with ``cryptography`` directly, so a mistake in the client cannot be
mirrored here and go unnoticed. Modules:

    options     every setting, with the CLI defaults (``DevServerOptions``)
    multipart   strict RFC 2046 parser (+ the lenient JS-framing mode)
    keys        the server's RSA keys: generate/load, fingerprint, OAEP-SHA256 unwrap
    sessions    key id -> AES key, and the bounded (key id, nonce) memory
    payload     one part: AES-GCM, gunzip with a bomb guard, §5 JSON validation
    faults      fault-injection rules and how requests consume them
    recording   accepted entries (file + bounded memory) and the counters
    envelopes   response bodies, error codes, request ids, rate-limit headers
    transport   reading bodies within limits (or slowly), dropping/resetting connections
    ingest      POST /v1/ingest
    routes      discovery, handshake, /health, /info and the /_ref admin API
    app         ``DevServer``: the state and the aiohttp application
    server      listening (TCP/TLS), the ready file, signals
"""
