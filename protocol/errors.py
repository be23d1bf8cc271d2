"""Errors of the Pactocole, each carrying the status code it is answered with.

TchatatorError              any error with a status (server side: raised by
 |                          handlers, turned into a reply in one place)
 +-- BadRequest          400
 +-- Unauthorized        401
 +-- Forbidden           403
 +-- NotFound            404
 +-- Conflict            409
 +-- PayloadTooLarge     413
 +-- PageOutOfRange      416
 +-- TooManyRequests     429  (retry_after)
 +-- ServiceUnavailable  503

ClientError                 client side
 +-- StatusError             a non-2xx reply (code, label, body)
 +-- ConnectionLost          the connection broke or was closed
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "BadRequest",
    "ClientError",
    "Conflict",
    "ConnectionLost",
    "Forbidden",
    "NotFound",
    "PageOutOfRange",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "StatusError",
    "TchatatorError",
    "TooManyRequests",
    "Unauthorized",
]


class TchatatorError(Exception):
    """A failure the client is told about: ``{"error": reason, **extra}``."""

    status = 500

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.error, **self.extra}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole (the database writer process sends them back); the
        # default would call ``cls(*args)`` and lose ``extra`` or fail on
        # subclasses with other constructors.
        return (_restore, (type(self), self.error, self.__dict__))


def _restore(cls: type[TchatatorError], error: str, state: dict[str, Any]) -> TchatatorError:
    restored = cls.__new__(cls)
    Exception.__init__(restored, error)
    restored.__dict__.update(state)
    return restored


class BadRequest(TchatatorError):
    status = 400


class Unauthorized(TchatatorError):
    status = 401


class Forbidden(TchatatorError):
    status = 403


class NotFound(TchatatorError):
    status = 404


class Conflict(TchatatorError):
    status = 409


class PayloadTooLarge(TchatatorError):
    status = 413


class PageOutOfRange(TchatatorError):
    status = 416


class TooManyRequests(TchatatorError):
    status = 429

    def __init__(self, error: str, retry_after: float, **extra: Any) -> None:
        # Section 3: whole seconds, rounded up, at least 1.
        super().__init__(error, retry_after=max(1, math.ceil(retry_after)), **extra)


class ServiceUnavailable(TchatatorError):
    status = 503


class ClientError(Exception):
    """Base of what the client library raises."""


class StatusError(ClientError):
    """The server answered with a non-2xx status."""

    def __init__(self, code: int, label: str, body: dict[str, Any] | None) -> None:
        self.code = code
        self.label = label
        self.body = body or {}
        super().__init__(f"{code}/{label}: {self.body.get('error', '')}")

    @property
    def error(self) -> str:
        return str(self.body.get("error", self.label))

    @property
    def retry_after(self) -> int | None:
        """Seconds to wait (a 429), or None; whatever the server sent, never raises."""
        value = self.body.get("retry_after")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            return None  # absent, or not a number (a string of 5,000 digits included)
        return int(min(max(value, 0), 86400))


class ConnectionLost(ClientError):
    """The connection to the server is gone (closed, reset, timed out)."""
