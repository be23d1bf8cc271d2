"""The command table: one entry per command word, its usage, roles and handler.

``@command("/message {id} {text}", roles=CLIENT_PRO, description=...)``
registers a handler and its usage (which ``-h`` serves), as aiosmtpd's
``@syntax`` does. The usage string is also the argument grammar:

- ``{name}``: a required argument; ``{name=default}``: an optional one;
- ids, pages and counts (``id``, ``message_id``, ``page``, ``n``) are ASCII
  digits only (section 2);
- ``{text}`` as the last argument is "the rest of the line".

A handler is called as ``handler(server, session, **arguments)``; for a
command with roles, as ``handler(server, session, me, **arguments)``, ``me``
being the ``Identity`` the dispatcher checked (``dispatch``). ``server`` is
what a handler may use of the running server (``Server``, which ``app.App``
implements); ``session`` its connection's ``session.Session``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from protocol.codec import parse_number, split_arguments
from protocol.errors import BadRequest

if TYPE_CHECKING:
    from .config import Settings
    from .limits import RateLimiter, SlidingWindow
    from .push import Broker
    from .requestlog import RequestLog
    from .security import TokenClaims
    from .storage.db import Database

__all__ = [
    "ADMIN",
    "ANYONE",
    "AUTHENTICATED",
    "CLIENT_PRO",
    "COMMANDS",
    "HELP_FLAGS",
    "Command",
    "Param",
    "Server",
    "command",
]

ANYONE = None  # no login needed
AUTHENTICATED = frozenset({"client", "pro", "admin"})
CLIENT_PRO = frozenset({"client", "pro"})
ADMIN = frozenset({"admin"})
HELP_FLAGS = frozenset({"-h", "--help", "-n"})  # "-n": the spelling of the original brief

_NUMBER_PARAMS = frozenset({"id", "message_id", "page", "n"})
_PARAM = re.compile(r"\{([a-z_]+)(?:=([0-9]+))?\}")


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    number: bool
    rest_of_line: bool
    default: int | None
    required: bool


class Server(Protocol):
    """What the dispatcher and the handlers use of the running server (``app.App``)."""

    settings: Settings
    db: Database
    broker: Broker
    limiter: RateLimiter
    failed_logins: SlidingWindow
    request_log: RequestLog
    secret: bytes
    admin_digest: str
    ca_pem: str  # the CA a client may pin (/ca), generated or the top of tls_cert_file's chain
    ca_fingerprint: str

    async def sync_everywhere(self) -> dict[str, Any]: ...

    async def latest_logs(self, count: int) -> list[dict[str, Any]]: ...

    async def check_rate(self, key: tuple[str, object]) -> float: ...

    async def reserve_login_attempt(self, peer: str) -> tuple[float, Any]: ...

    async def take_back_login_attempt(self, peer: str, attempt: Any) -> None: ...

    def end_listeners_of(self, claims: TokenClaims) -> None: ...


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    description: str
    roles: frozenset[str] | None
    params: tuple[Param, ...]
    handler: Handler

    def help_body(self) -> dict[str, str]:
        return {"usage": self.usage, "description": self.description}

    def parse(self, arguments: str) -> dict[str, Any]:
        """Cut and check the arguments; 400 with the usage when they do not fit."""
        params = self.params
        takes_rest = bool(params) and params[-1].rest_of_line
        if takes_rest:
            tokens = split_arguments(arguments, len(params) - 1, rest=True)
        else:
            tokens = split_arguments(arguments, 0)
        required = sum(1 for param in params if param.required)
        if len(tokens) < required:
            raise BadRequest(f"missing argument; usage: {self.usage}")
        if len(tokens) > len(params):
            raise BadRequest(f"too many arguments; usage: {self.usage}")
        values: dict[str, Any] = {}
        for index, param in enumerate(params):
            if index >= len(tokens):
                values[param.name] = param.default
                continue
            token = tokens[index]
            if param.number:
                number = parse_number(token)
                if number is None:
                    raise BadRequest(
                        f"{param.name} must be a whole number in ASCII digits; usage: {self.usage}"
                    )
                values[param.name] = number  # clamped to MAX_NUMBER by the codec
            else:
                values[param.name] = token
        return values


COMMANDS: dict[str, Command] = {}


def _params(usage: str) -> tuple[Param, ...]:
    params = []
    found = _PARAM.findall(usage)
    for index, (name, default) in enumerate(found):
        params.append(
            Param(
                name=name,
                number=name in _NUMBER_PARAMS,
                rest_of_line=name == "text" and index == len(found) - 1,
                default=int(default) if default else None,
                required=not default,
            )
        )
    return tuple(params)


def command(
    usage: str, *, roles: frozenset[str] | None, description: str
) -> Callable[[Handler], Handler]:
    name = usage.split(" ", 1)[0]

    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"{name} registered twice")
        COMMANDS[name] = Command(name, usage, description, roles, _params(usage), handler)
        return handler

    return register
