"""The handlers of every command, registered in the command table.

Each handler gets the server (``table.Server``: settings, database, broker,
keys), the connection's ``Session`` and, for a command with roles, the
``Identity`` the dispatcher checked (``me``), then its parsed arguments. It
returns the success body (``None`` for 204) or raises a ``TchatatorError``;
only the dispatcher (``dispatch.process``) turns either into a status line.

Handlers are thin: the rules of messages and sanctions run inside the
database transaction, as write jobs of the group-committing writer
(``server.db.write``), and live in ``rules``; a handler passes them the caller
and the settings, then publishes what changed and shapes the reply.
"""

from __future__ import annotations

import functools
import hmac
import math
from datetime import datetime, timedelta
from typing import Any

from protocol.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PageOutOfRange,
    TooManyRequests,
    Unauthorized,
)

from . import rules, security
from .rules import ADMIN_ID, BAN, BLOCK
from .session import Identity, Session
from .storage import queries
from .storage.models import utc_now
from .table import ADMIN, ANYONE, AUTHENTICATED, CLIENT_PRO, COMMANDS, Server, command

__all__ = ["COMMANDS"]

ADMIN_NAME = "admin"
PRO_ROLES = frozenset({"pro", "admin"})


def _user_json(user: queries.UserSummary) -> dict[str, Any]:
    return {"id": user.id, "role": user.role, "name": user.name}


def _page_count(total: int, size: int) -> int:
    return math.ceil(total / size)


def _check_page(page: int, total: int, size: int) -> int:
    """204 for an empty list (whatever the page), 416 past the last page."""
    pages = _page_count(total, size)
    if page >= pages:
        raise PageOutOfRange(f"page {page} does not exist", pages=pages)
    return pages


# --- sessions ----------------------------------------------------------------------


@command(
    "/connexion {key}",
    roles=ANYONE,
    description="Log in with an API key, or resume a session with its token.",
)
async def cmd_connexion(server: Server, session: Session, key: str) -> dict[str, Any]:
    """Raises: Unauthorized, TooManyRequests (this address failed too often).

    Past ``max_failed_logins_per_minute`` failures from an address, every
    ``/connexion`` from it is refused with 429 without trying the key, until
    the oldest failure leaves the minute: however many connections it opens
    and whoever is logged in on them, an address gets that many guesses a
    minute. Each attempt is counted before its key is tried (and taken back
    if it succeeds), so attempts in parallel cannot all slip under the limit.
    """
    peer = session.peer
    wait, attempt = await server.reserve_login_attempt(peer)
    if wait > 0:
        raise TooManyRequests("too many failed logins from your address", retry_after=wait)
    result = await _authenticate(server, key)
    if result is None:
        raise Unauthorized("invalid key or token")
    await server.take_back_login_attempt(peer, attempt)
    identity, token, claims = result
    session.login(identity, claims)
    return {"token": token, "user": identity.public()}


async def _authenticate(
    server: Server, credential: str
) -> tuple[Identity, str, security.TokenClaims] | None:
    parsed = security.parse_token(credential)
    if parsed is not None:
        claims, payload, mac = parsed
        identity = await _identity(server, claims.user_id)
        if identity is None or not security.verify_token(
            server.secret,
            payload,
            mac,
            identity.key_digest,
            issued_at=claims.issued_at,
            ttl=server.settings.session_ttl,
        ):
            return None
        if await server.db.read(queries.is_revoked, claims.nonce_hex):
            return None
        return identity, credential, claims
    digest = security.digest_key(server.secret, credential)
    if hmac.compare_digest(digest, server.admin_digest):
        identity = Identity(ADMIN_ID, "admin", ADMIN_NAME, server.admin_digest)
    else:
        row = await server.db.read(queries.get_user_by_digest, digest)
        if row is None:
            return None
        identity = Identity(row.id, row.role, row.name, row.key_digest)
    token = security.sign_token(server.secret, identity.id, identity.key_digest)
    parsed = security.parse_token(token)
    assert parsed is not None
    return identity, token, parsed[0]


async def _identity(server: Server, user_id: int) -> Identity | None:
    if user_id == ADMIN_ID:
        return Identity(ADMIN_ID, "admin", ADMIN_NAME, server.admin_digest)
    row = await server.db.read(queries.get_user, user_id)
    return None if row is None else Identity(row.id, row.role, row.name, row.key_digest)


@command(
    "/deconnexion",
    roles=AUTHENTICATED,
    description="Log out; the session token stops working.",
)
async def cmd_deconnexion(server: Server, session: Session, me: Identity) -> dict[str, Any]:
    claims = session.claims
    if claims is not None:
        expires = datetime.fromtimestamp(claims.issued_at, utc_now().tzinfo) + timedelta(
            seconds=server.settings.session_ttl
        )
        await server.db.write(queries.revoke_token, claims.nonce_hex, expires)
    session.logout()
    if claims is not None:
        server.end_listeners_of(claims)  # its other connections here, at once
    return {}


# --- messages ------------------------------------------------------------------------


@command(
    "/message {id} {text}",
    roles=CLIENT_PRO,
    description=(
        "Send a message to user {id}: a client to any pro, a pro to a client who wrote "
        "first. In the text, \\n is a newline and \\\\ a backslash."
    ),
)
async def cmd_message(
    server: Server, session: Session, me: Identity, id: int, text: str
) -> dict[str, Any]:
    """Raises: NotFound, Forbidden (rules, block, ban), BadRequest (empty), PayloadTooLarge."""
    message = await server.db.write(
        rules.send_message,
        sender_id=me.id,
        sender_role=me.role,
        recipient_id=id,
        escaped=text,
        limit=server.settings.max_message_size,
        now=utc_now(),
    )
    server.broker.publish(
        (message["recipient"], me.id), "message", message, exclude=session.listener
    )
    return {"id": message["id"]}


@command(
    "/liste {page=0}",
    roles=CLIENT_PRO,
    description="Unread messages you received, oldest first, one page at a time.",
)
async def cmd_liste(
    server: Server, session: Session, me: Identity, page: int
) -> dict[str, Any] | None:
    """Raises: PageOutOfRange. Returns None (204) when nothing is unread."""
    size = server.settings.max_messages
    total, rows = await server.db.read(queries.unread_page, me.id, page, size)
    if total == 0:
        return None
    pages = _check_page(page, total, size)
    return {
        "page": page,
        "pages": pages,
        "total": total,
        "messages": [queries.message_json(row) for row in rows],
    }


@command(
    "/conversation {id} {page=0}",
    roles=CLIENT_PRO,
    description=(
        "Messages between you and user {id}; page 0 is the newest. "
        "Marks the messages you received on that page as read."
    ),
)
async def cmd_conversation(
    server: Server, session: Session, me: Identity, id: int, page: int
) -> dict[str, Any] | None:
    """Raises: NotFound (no such user), PageOutOfRange."""
    size = server.settings.max_messages
    exists, total, rows = await server.db.read(
        rules.read_conversation,
        reader_id=me.id,
        reader_role=me.role,
        other_id=id,
        page=page,
        size=size,
    )
    if not exists:
        raise NotFound(f"no user {id}")
    if total == 0:
        return None
    pages = _check_page(page, total, size)
    messages = [queries.message_json(row) for row in rows]
    unread = [m["id"] for m in messages if m["recipient"] == me.id and m["read_at"] is None]
    if unread:
        now = utc_now()
        await server.db.write(queries.mark_read, me.id, unread, now)
        stamp = queries.iso(now)
        for message in messages:
            if message["id"] in unread:
                message["read_at"] = stamp
        server.broker.publish(
            (id, me.id),
            "lu",
            {"ids": unread, "reader": me.id, "sender": id, "read_at": stamp},
            exclude=session.listener,
        )
    return {"page": page, "pages": pages, "total": total, "messages": messages}


@command(
    "/apercu {id} {page=0}",
    roles=CLIENT_PRO,
    description=(
        "Like /conversation, but marks nothing read; also says where your oldest "
        "unread message of that conversation is."
    ),
)
async def cmd_apercu(
    server: Server, session: Session, me: Identity, id: int, page: int
) -> dict[str, Any] | None:
    """Raises: NotFound (no such user), PageOutOfRange."""
    size = server.settings.max_messages
    peeked = await server.db.read(
        rules.peek_conversation,
        reader_id=me.id,
        reader_role=me.role,
        other_id=id,
        page=page,
        size=size,
    )
    exists, total, rows = peeked.page
    if not exists:
        raise NotFound(f"no user {id}")
    if total == 0:
        return None
    pages = _check_page(page, total, size)
    first_unread = None
    if peeked.first_unread is not None:
        oldest_id, oldest_seq = peeked.first_unread
        first_unread = {"id": oldest_id, "page": (total - oldest_seq) // size}
    return {
        "page": page,
        "pages": pages,
        "total": total,
        "messages": [queries.message_json(row) for row in rows],
        "unread": peeked.unread,
        "first_unread": first_unread,
    }


@command(
    "/lu {id} {message_id}",
    roles=CLIENT_PRO,
    description=(
        "Mark read the messages user {id} sent you, up to message {message_id} "
        "(what you have seen); answers how many stay unread."
    ),
)
async def cmd_lu(
    server: Server, session: Session, me: Identity, id: int, message_id: int
) -> dict[str, Any]:
    """Raises: NotFound (no such user)."""
    now = utc_now()
    marked = await server.db.write(
        rules.mark_read_up_to,
        reader_id=me.id,
        reader_role=me.role,
        other_id=id,
        up_to=message_id,
        now=now,
    )
    if not marked.exists:
        raise NotFound(f"no user {id}")
    stamp = queries.iso(now) if marked.ids else None
    if marked.ids:
        server.broker.publish(
            (id, me.id),
            "lu",
            {"ids": marked.ids, "reader": me.id, "sender": id, "read_at": stamp},
            exclude=session.listener,
        )
    return {
        "ids": marked.ids,
        "read_at": stamp,
        "unread": marked.unread,
        "total_unread": marked.total_unread,
    }


@command(
    "/info {message_id}",
    roles=AUTHENTICATED,
    description="One message, with its times; for its sender, its recipient and the admin.",
)
async def cmd_info(
    server: Server, session: Session, me: Identity, message_id: int
) -> dict[str, Any]:
    """Raises: NotFound, Forbidden (not a party)."""
    row = await server.db.read(queries.get_message, message_id)
    if row is None:
        raise NotFound(f"no message {message_id}")
    if me.role != "admin" and me.id not in (row.sender_id, row.recipient_id):
        raise Forbidden("you are neither the sender nor the recipient of this message")
    return queries.message_json(row)


@command(
    "/modifie {message_id} {text}",
    roles=CLIENT_PRO,
    description="Replace the text of a message you sent.",
)
async def cmd_modifie(
    server: Server, session: Session, me: Identity, message_id: int, text: str
) -> dict[str, Any]:
    """Raises: NotFound (also for a deleted message), Forbidden, BadRequest, PayloadTooLarge."""
    message = await server.db.write(
        rules.edit_message,
        editor_id=me.id,
        message_id=message_id,
        escaped=text,
        limit=server.settings.max_message_size,
        now=utc_now(),
    )
    server.broker.publish(
        (message["recipient"], me.id), "modifie", message, exclude=session.listener
    )
    return message


@command(
    "/supprime {message_id}",
    roles=AUTHENTICATED,
    description="Delete a message you sent (the admin: any message); its text is erased.",
)
async def cmd_supprime(
    server: Server, session: Session, me: Identity, message_id: int
) -> dict[str, Any]:
    """Raises: NotFound (also when already deleted), Forbidden."""
    tombstone = await server.db.write(
        rules.delete_message,
        deleter_id=me.id,
        is_admin=me.role == "admin",
        message_id=message_id,
        now=utc_now(),
        erase=True,
    )
    server.broker.publish(
        (tombstone["sender"], tombstone["recipient"]),
        "supprime",
        tombstone,
        exclude=session.listener,
    )
    return {}


# --- moderation -------------------------------------------------------------------------
# /bloque and /ban impose a sanction, /debloque and /deban lift one: one handler
# each way, registered once per command word with the kind it deals with.


async def cmd_impose_sanction(
    server: Server, session: Session, me: Identity, id: int, *, kind: str
) -> dict[str, Any]:
    """Raises: NotFound (no such client), Conflict (already in force from you)."""
    now = utc_now()
    until = now + timedelta(seconds=server.settings.block_duration) if kind == BLOCK else None
    await server.db.write(
        rules.impose_sanction, issuer_id=me.id, client_id=id, kind=kind, now=now, until=until
    )
    return {} if until is None else {"until": queries.iso(until)}


async def cmd_lift_sanction(
    server: Server, session: Session, me: Identity, id: int, *, kind: str
) -> dict[str, Any]:
    """Raises: NotFound (no such client, or none to lift)."""
    await server.db.write(
        rules.lift_sanction,
        issuer_id=me.id,
        is_admin=me.role == "admin",
        client_id=id,
        kind=kind,
        now=utc_now(),
    )
    return {}


command(
    "/bloque {id}",
    roles=PRO_ROLES,
    description=(
        "Stop client {id} writing to you (the admin: to anyone) for block_duration seconds."
    ),
)(functools.partial(cmd_impose_sanction, kind=BLOCK))
command(
    "/ban {id}",
    roles=PRO_ROLES,
    description="Stop client {id} writing to you (the admin: to anyone) until /deban.",
)(functools.partial(cmd_impose_sanction, kind=BAN))
command(
    "/debloque {id}",
    roles=PRO_ROLES,
    description="Lift your block on client {id} (the admin: every block on that client).",
)(functools.partial(cmd_lift_sanction, kind=BLOCK))
command(
    "/deban {id}",
    roles=PRO_ROLES,
    description="Lift your ban on client {id} (the admin: every ban on that client).",
)(functools.partial(cmd_lift_sanction, kind=BAN))


@command(
    "/sanctions",
    roles=PRO_ROLES,
    description="The blocks and bans in force that you issued (the admin: all of them).",
)
async def cmd_sanctions(server: Server, session: Session, me: Identity) -> dict[str, Any] | None:
    issuer = None if me.role == "admin" else me.id
    rows = await server.db.read(queries.list_restrictions, issuer, utc_now())
    if not rows:
        return None
    return {
        "sanctions": [
            {
                "client": {"id": row.client_id, "role": "client", "name": row.client_name},
                "kind": row.kind,
                "issuer": row.issuer_id,
                "since": queries.iso(row.since),
                "until": queries.iso(row.until),
            }
            for row in rows
        ]
    }


# --- administration -----------------------------------------------------------------------


@command(
    "/sync",
    roles=ADMIN,
    description="Re-read the configuration file; an invalid file changes nothing.",
)
async def cmd_sync(server: Server, session: Session, me: Identity) -> dict[str, Any]:
    """Raises: NotFound (file missing), BadRequest (invalid file)."""
    return await server.sync_everywhere()


@command(
    "/logs {n=50}",
    roles=ADMIN,
    description="The last {n} request log entries, newest last.",
)
async def cmd_logs(server: Server, session: Session, me: Identity, n: int) -> dict[str, Any] | None:
    """Raises: BadRequest (n < 1)."""
    if n < 1:
        raise BadRequest("n must be at least 1")
    entries = await server.latest_logs(n)
    return {"logs": entries} if entries else None


# --- extensions for the desktop apps (docs/protocol.md) ------------------------------------------


@command(
    "/annuaire {page=0}",
    roles=AUTHENTICATED,
    description="The pros you can write to (the admin: every client and pro), by name.",
)
async def cmd_annuaire(
    server: Server, session: Session, me: Identity, page: int
) -> dict[str, Any] | None:
    """Raises: PageOutOfRange."""
    roles = ("client", "pro") if me.role == "admin" else ("pro",)
    size = server.settings.directory_page_size
    total, rows = await server.db.read(queries.directory_page, roles, page, size)
    if total == 0:
        return None
    pages = _check_page(page, total, size)
    return {
        "page": page,
        "pages": pages,
        "total": total,
        "users": [_user_json(row) for row in rows],
    }


@command(
    "/discussions {page=0}",
    roles=CLIENT_PRO,
    description="Your conversations, latest first: partner, last message, unread count.",
)
async def cmd_discussions(
    server: Server, session: Session, me: Identity, page: int
) -> dict[str, Any] | None:
    """Raises: PageOutOfRange."""
    size = server.settings.directory_page_size
    total, rows = await server.db.read(queries.conversations_of, me.id, me.role, page, size)
    if total == 0:
        return None
    pages = _check_page(page, total, size)
    return {
        "page": page,
        "pages": pages,
        "total": total,
        "conversations": [
            {
                "partner": _user_json(row.partner),
                "last_message": None
                if row.last_message is None
                else queries.message_json(row.last_message),
                "unread": row.unread,
            }
            for row in rows
        ],
    }


@command(
    "/push {mode}",
    roles=AUTHENTICATED,
    description=(
        "on: receive '* <event> <json>' lines when something happens to your messages; off: stop."
    ),
)
async def cmd_push(server: Server, session: Session, me: Identity, mode: str) -> dict[str, Any]:
    """Raises: BadRequest (mode other than on/off)."""
    if mode not in ("on", "off"):
        raise BadRequest("mode must be on or off")
    session.set_push(mode == "on")
    return {"push": mode == "on"}


@command(
    "/limites",
    roles=ANYONE,
    description="The limits this server applies: sizes, page sizes, request budgets.",
)
async def cmd_limites(server: Server, session: Session) -> dict[str, Any]:
    settings = server.settings
    return {
        "max_message_size": settings.max_message_size,
        "max_messages": settings.max_messages,
        "max_line": settings.max_line,
        "max_requests_per_minute": settings.max_requests_per_minute,
        "max_requests_per_hour": settings.max_requests_per_hour,
        "block_duration": settings.block_duration,
        "session_ttl": settings.session_ttl,
    }


@command(
    "/ca",
    roles=ANYONE,
    description="The certificate authority of this server (PEM) and its SHA-256 fingerprint.",
)
async def cmd_ca(server: Server, session: Session) -> dict[str, Any]:
    return {"pem": server.ca_pem, "fingerprint": server.ca_fingerprint}
