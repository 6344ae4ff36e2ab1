"""The server's request errors: each carries the HTTP status it is answered with.

Plain Python (no web framework), so the ``Environment`` can raise them whether it is reached over
HTTP (the status is the response's) or over OpenEnv's WebSocket (the message travels in an error
frame). Every message is one line naming the bad value.
"""

from __future__ import annotations


class ServeError(Exception):
    """A bad request; ``status`` is the HTTP status code it gets."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, always

    @property
    def message(self) -> str:
        return self.args[0]


class BadRequest(ServeError):
    """A field has a bad value (an unknown agent, a bad seed, a malformed prefix)."""

    status = 422


class NotFound(ServeError):
    """An unknown env id or session id."""

    status = 404


class Conflict(ServeError):
    """A request that the episode's state does not allow (an action out of turn, a step after the end)."""

    status = 409


class Gone(ServeError):
    """A session that was closed or reaped after its idle timeout."""

    status = 410


class TooLarge(ServeError):
    """A request body over the server's limit."""

    status = 413


class AtCapacity(ServeError):
    """Every session slot is taken (``--max-sessions``)."""

    status = 503


__all__ = ["AtCapacity", "BadRequest", "Conflict", "Gone", "NotFound", "ServeError", "TooLarge"]
