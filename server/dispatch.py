"""One request in, one encoded reply out: the precedence of Pactocole section 2.

``process`` runs, in order: the rate limit (per user, per address before
login; the admin is exempt), the command lookup (404), a help flag (200 with
the usage), the login and the session check (401), the role (403), the
arguments (400), then the handler. It is the one place where an exception
becomes a status line (a ``TchatatorError`` its status, anything else a
logged 500), and where every request is logged (``RequestLog``, never keys
nor text).

Handlers come from the command table (``table.COMMANDS``, filled by
``commands``); a handler of a command with roles is called with the identity
the checks above established, after the session.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from protocol.codec import LineError, Request, encode_reply
from protocol.errors import Forbidden, NotFound, TchatatorError, TooManyRequests, Unauthorized

from .session import Session
from .table import COMMANDS, HELP_FLAGS, Server

__all__ = ["process", "refuse"]

log = logging.getLogger("tchatator.server")


async def process(server: Server, session: Session, event: Request | LineError) -> bytes:
    """One request (or a framing error) in, one encoded reply out."""
    started = time.perf_counter()
    word = "?"
    body: dict[str, Any] | None
    identity = session.identity
    try:
        if identity is None or identity.role != "admin":
            key = ("user", identity.id) if identity else ("peer", session.peer)
            wait = await server.check_rate(key)  # no suspension without Redis
            if wait > 0:
                raise TooManyRequests("too many requests", retry_after=wait)
        if isinstance(event, LineError):
            code, body = event.code, {"error": event.error, **event.extra}
        else:
            entry = COMMANDS.get(event.command)
            if entry is None:
                names = " ".join(sorted(COMMANDS))
                raise NotFound(f"unknown command; the commands are: {names}")
            word = entry.name
            # One argument that is a help flag (flags hold no space).
            if event.arguments.strip(" ") in HELP_FLAGS:
                code, body = 200, entry.help_body()
            elif entry.roles is None:
                result = await entry.handler(server, session, **entry.parse(event.arguments))
                code, body = (204, None) if result is None else (200, result)
            else:
                if identity is None:
                    raise Unauthorized("log in first: /connexion {api_key}")
                if session.check_due() and not await session.still_valid(
                    server.db,
                    session_ttl=server.settings.session_ttl,
                    admin_digest=server.admin_digest,
                ):
                    raise Unauthorized("your session has ended: log in again")
                if identity.role not in entry.roles:
                    raise Forbidden(f"{entry.name} is not for the {identity.role} role")
                values = entry.parse(event.arguments)
                result = await entry.handler(server, session, identity, **values)
                code, body = (204, None) if result is None else (200, result)
    except TchatatorError as error:
        code, body = error.status, error.body()
    except Exception:
        log.exception("unexpected error in %s", word)
        code, body = 500, {"error": "internal server error; the request may not have run"}
    identity = session.identity or identity  # /connexion logged in, /deconnexion out
    server.request_log.record(
        peer=session.peer,
        user=identity.id if identity else None,
        command=word,
        code=code,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    return encode_reply(code, body, server.settings.label(code))


def refuse(
    server: Server, session: Session, event: Request | LineError, error: TchatatorError
) -> bytes:
    """A request answered without being run (the server is stopping): its status
    line, logged as every request is."""
    entry = COMMANDS.get(event.command) if isinstance(event, Request) else None
    identity = session.identity
    server.request_log.record(
        peer=session.peer,
        user=identity.id if identity else None,
        command=entry.name if entry is not None else "?",
        code=error.status,
        duration_ms=0.0,
    )
    return encode_reply(error.status, error.body(), server.settings.label(error.status))
