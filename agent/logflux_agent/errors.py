"""The agent's error tree: every exception a user may see, with a message they can act on.

    AgentError                      base; ``exit_code`` tells the CLI how to exit
    ├── ConfigError                 bad configuration (exit 2); carries every problem found
    ├── CredentialError             malformed API key, a PAT where an API key belongs (exit 2)
    ├── ProtocolError               the ingestor answered something the protocol does not allow
    │   ├── DiscoveryError          no ingestor URL could be found
    │   ├── HandshakeError          key exchange failed (bad PEM, non-RSA, status, pin mismatch)
    │   │   └── PinMismatchError    the account key does not match the configured pin
    │   └── AuthError               401/403: the key was refused
    └── StateError                  the state directory cannot be used

Library exceptions (aiohttp, cryptography, yaml, OSError) are translated into these at the
module that calls the library, so no raw traceback reaches a user for a user mistake.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""

    exit_code: int = EXIT_RUNTIME


class ConfigError(AgentError):
    """The configuration cannot be used; ``problems`` lists every issue found, one line each."""

    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def report(self, prog: str, path: str) -> str:
        """What a command prints: which file, then one problem per line."""
        lines = [f"{prog}: configuration error in {path}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


class CredentialError(AgentError):
    """An API key is malformed or is the wrong kind of credential."""

    exit_code = EXIT_CONFIG


class ProtocolError(AgentError):
    """The ingestor's answer broke the LogFlux protocol, or a protocol step failed."""


class DiscoveryError(ProtocolError):
    """No ingestor URL could be discovered."""


class HandshakeError(ProtocolError):
    """The session key exchange failed."""


class PinMismatchError(HandshakeError):
    """The ingestor's public key does not match the configured fingerprint."""


class AuthError(ProtocolError):
    """The ingestor refused the API key (401/403)."""


class StateError(AgentError):
    """The state directory (checkpoints, dead letters) cannot be used."""
