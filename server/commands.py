"""The handlers of every command, registered in the command table.

Each handler gets the application (``app``), the connection (``conn``) and its
parsed arguments, and returns the success body (``None`` for 204) or raises a
``TchatatorError``. Only the connection loop turns either into a status line.

Writes run as jobs of the group-committing writer (``app.db.write``): a job
checks everything first and raises before writing anything, then writes, so a
refused request never leaves a trace (see ``storage.db``). The checks follow
the precedence of section 2: target (404), then rules (403), then the text
(400 empty, 413 too long).
"""

from __future__ import annotations

import asyncio
import hmac
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from protocol.codec import decode_text, is_blank_text
from protocol.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PageOutOfRange,
    PayloadTooLarge,
    Unauthorized,
)

from . import security
from .storage import queries
from .storage.models import utc_now
from .table import ADMIN, ANYONE, AUTHENTICATED, CLIENT_PRO, COMMANDS, command

if TYPE_CHECKING:
    from .app import App, ClientConnection

__all__ = ["COMMANDS", "Identity"]

ADMIN_ID = 0
# Seconds a failed /connexion waits for its 401 once its address is over
# max_failed_logins_per_minute.
FAILED_LOGIN_DELAY = 1.0
ADMIN_NAME = "admin"
PRO_ROLES = frozenset({"pro", "admin"})


class Identity:
    """Who a connection is logged in as."""

    __slots__ = ("id", "key_digest", "name", "role")

    def __init__(self, id: int, role: str, name: str, key_digest: str) -> None:
        self.id = id
        self.role = role
        self.name = name
        self.key_digest = key_digest

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "name": self.name}


def _user_json(row: Any) -> dict[str, Any]:
    return {"id": row[0], "role": row[1], "name": row[2]}


def _page_count(total: int, size: int) -> int:
    return math.ceil(total / size)


def _check_page(page: int, total: int, size: int) -> int:
    """204 for an empty list (whatever the page), 416 past the last page."""
    pages = _page_count(total, size)
    if page >= pages:
        raise PageOutOfRange(f"page {page} does not exist", pages=pages)
    return pages


def _check_text(escaped: str, limit: int) -> str:
    text = decode_text(escaped)
    if is_blank_text(text):
        raise BadRequest("the message is empty")
    if "\x00" in text:
        # PostgreSQL cannot store it; refused everywhere so both backends agree.
        raise BadRequest("the message contains a NUL character")
    if len(text) > limit:
        raise PayloadTooLarge(f"the message is longer than {limit} characters", max=limit)
    return text


# --- sessions ----------------------------------------------------------------------


@command(
    "/connexion {key}",
    roles=ANYONE,
    description="Log in with an API key, or resume a session with its token.",
)
async def cmd_connexion(app: App, conn: ClientConnection, key: str) -> dict[str, Any]:
    """Raises: Unauthorized (late, once this address failed too often)."""
    result = await _authenticate(app, key)
    if result is None:
        # Past max_failed_logins_per_minute, each further failure from this
        # address is answered late (a tarpit) rather than with a 429: the
        # answer stays the contract's 401, and a neighbour behind the same
        # address who has a good key still gets in at once.
        over_limit = app.failed_logins.wait_time(conn.peer) > 0
        app.failed_logins.record(conn.peer)
        if over_limit:
            await asyncio.sleep(FAILED_LOGIN_DELAY)
        raise Unauthorized("invalid key or token")
    identity, token, claims = result
    conn.login(identity, claims)
    return {"token": token, "user": identity.public()}


async def _authenticate(
    app: App, credential: str
) -> tuple[Identity, str, security.TokenClaims] | None:
    parsed = security.parse_token(credential)
    if parsed is not None:
        claims, payload, mac = parsed
        identity = await _identity(app, claims.user_id)
        if identity is None or not security.verify_token(
            app.secret,
            payload,
            mac,
            identity.key_digest,
            issued_at=claims.issued_at,
            ttl=app.settings.session_ttl,
        ):
            return None
        if await app.db.read(queries.is_revoked, claims.nonce_hex):
            return None
        return identity, credential, claims
    digest = security.digest_key(app.secret, credential)
    if hmac.compare_digest(digest, app.admin_digest):
        identity = Identity(ADMIN_ID, "admin", ADMIN_NAME, app.admin_digest)
    else:
        row = await app.db.read(queries.get_user_by_digest, digest)
        if row is None:
            return None
        identity = Identity(row[0], row[1], row[2], row[3])
    token = security.sign_token(app.secret, identity.id, identity.key_digest)
    parsed = security.parse_token(token)
    assert parsed is not None
    return identity, token, parsed[0]


async def _identity(app: App, user_id: int) -> Identity | None:
    if user_id == ADMIN_ID:
        return Identity(ADMIN_ID, "admin", ADMIN_NAME, app.admin_digest)
    row = await app.db.read(queries.get_user, user_id)
    return None if row is None else Identity(row[0], row[1], row[2], row[3])


@command(
    "/deconnexion",
    roles=AUTHENTICATED,
    description="Log out; the session token stops working.",
)
async def cmd_deconnexion(app: App, conn: ClientConnection) -> dict[str, Any]:
    claims = conn.claims
    if claims is not None:
        expires = datetime.fromtimestamp(claims.issued_at, utc_now().tzinfo) + timedelta(
            seconds=app.settings.session_ttl
        )
        await app.db.write(queries.revoke_token, claims.nonce_hex, expires)
    conn.logout()
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
async def cmd_message(app: App, conn: ClientConnection, id: int, text: str) -> dict[str, Any]:
    """Raises: NotFound, Forbidden (rules, block, ban), BadRequest (empty), PayloadTooLarge."""
    me = conn.require_identity()
    message = await app.db.write(
        _send_job, me.id, me.role, id, text, app.settings.max_message_size, utc_now()
    )
    app.broker.publish((message["recipient"], me.id), "message", message, exclude=conn)
    return {"id": message["id"]}


def _send_job(
    connection: Connection,
    sender_id: int,
    sender_role: str,
    recipient_id: int,
    escaped: str,
    limit: int,
    now: datetime,
) -> dict[str, Any]:
    if recipient_id == ADMIN_ID:
        raise Forbidden("nobody writes to the admin")
    if recipient_id == sender_id:
        raise Forbidden("you cannot write to yourself")
    if sender_role == "pro":
        client_id, pro_id = recipient_id, sender_id
    else:
        client_id, pro_id = sender_id, recipient_id
    context = queries.send_context(connection, recipient_id, client_id, pro_id, ADMIN_ID, now)
    if context is None:
        raise NotFound(f"no user {recipient_id}")
    recipient_role, banned, blocked, conversation = context
    if recipient_role == sender_role:
        raise Forbidden("clients write to pros and pros to clients")
    if sender_role == "pro":
        if conversation is None:
            raise Forbidden("a pro may only answer a client who wrote first")
    else:
        if banned:
            raise Forbidden("you are banned from writing to this user")
        if blocked:
            raise Forbidden("you are blocked from writing to this user for now")
    text = _check_text(escaped, limit)
    message_id = queries.insert_message(
        connection,
        sender=sender_id,
        recipient=recipient_id,
        client_id=client_id,
        pro_id=pro_id,
        text=text,
        sent_at=now,
        conversation=conversation,
    )
    return queries.message_json((message_id, sender_id, recipient_id, text, now, None, None, None))


@command(
    "/liste {page=0}",
    roles=CLIENT_PRO,
    description="Unread messages you received, oldest first, one page at a time.",
)
async def cmd_liste(app: App, conn: ClientConnection, page: int) -> dict[str, Any] | None:
    """Raises: PageOutOfRange. Returns None (204) when nothing is unread."""
    me = conn.require_identity()
    size = app.settings.max_messages
    total, rows = await app.db.read(queries.unread_page, me.id, page, size)
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
    app: App, conn: ClientConnection, id: int, page: int
) -> dict[str, Any] | None:
    """Raises: NotFound (no such user), PageOutOfRange."""
    me = conn.require_identity()
    size = app.settings.max_messages
    exists, total, rows = await app.db.read(_conversation_read, me.id, me.role, id, page, size)
    if not exists:
        raise NotFound(f"no user {id}")
    if total == 0:
        return None
    pages = _check_page(page, total, size)
    messages = [queries.message_json(row) for row in rows]
    unread = [m["id"] for m in messages if m["recipient"] == me.id and m["read_at"] is None]
    if unread:
        now = utc_now()
        await app.db.write(queries.mark_read, me.id, unread, now)
        stamp = queries.iso(now)
        for message in messages:
            if message["id"] in unread:
                message["read_at"] = stamp
        app.broker.publish(
            (id, me.id), "lu", {"ids": unread, "reader": me.id, "read_at": stamp}, exclude=conn
        )
    return {"page": page, "pages": pages, "total": total, "messages": messages}


def _conversation_read(
    connection: Connection, my_id: int, my_role: str, other_id: int, page: int, size: int
) -> tuple[bool, int, list[Any]]:
    if other_id == ADMIN_ID:
        return True, 0, []
    # A removed user's history stays readable (and markable) by the other party.
    other = queries.get_user(connection, other_id, include_removed=True)
    if other is None:
        return False, 0, []
    if my_role == "client" and other[1] == "pro":
        client_id, pro_id = my_id, other_id
    elif my_role == "pro" and other[1] == "client":
        client_id, pro_id = other_id, my_id
    else:
        return True, 0, []  # no conversation can exist between these two
    total, rows = queries.conversation_page(connection, client_id, pro_id, page, size)
    return True, total, rows


@command(
    "/info {message_id}",
    roles=AUTHENTICATED,
    description="One message, with its times; for its sender, its recipient and the admin.",
)
async def cmd_info(app: App, conn: ClientConnection, message_id: int) -> dict[str, Any]:
    """Raises: NotFound, Forbidden (not a party)."""
    me = conn.require_identity()
    row = await app.db.read(queries.get_message, message_id)
    if row is None:
        raise NotFound(f"no message {message_id}")
    if me.role != "admin" and me.id not in (row[1], row[2]):
        raise Forbidden("you are neither the sender nor the recipient of this message")
    return queries.message_json(row)


@command(
    "/modifie {message_id} {text}",
    roles=CLIENT_PRO,
    description="Replace the text of a message you sent.",
)
async def cmd_modifie(
    app: App, conn: ClientConnection, message_id: int, text: str
) -> dict[str, Any]:
    """Raises: NotFound (also for a deleted message), Forbidden, BadRequest, PayloadTooLarge."""
    me = conn.require_identity()
    message = await app.db.write(
        _edit_job, me.id, message_id, text, app.settings.max_message_size, utc_now()
    )
    app.broker.publish((message["recipient"], me.id), "modifie", message, exclude=conn)
    return message


def _edit_job(
    connection: Connection, my_id: int, message_id: int, escaped: str, limit: int, now: datetime
) -> dict[str, Any]:
    row = queries.get_message(connection, message_id)
    if row is None or row[7] is not None:
        raise NotFound(f"no message {message_id}")
    if row[1] != my_id:
        raise Forbidden("only the sender may modify a message")
    text = _check_text(escaped, limit)
    queries.update_message_text(connection, message_id, text, now)
    return queries.message_json((*row[:3], text, row[4], now, row[6], None))


@command(
    "/supprime {message_id}",
    roles=AUTHENTICATED,
    description="Delete a message you sent (the admin: any message); its text is erased.",
)
async def cmd_supprime(app: App, conn: ClientConnection, message_id: int) -> dict[str, Any]:
    """Raises: NotFound (also when already deleted), Forbidden."""
    me = conn.require_identity()
    tombstone = await app.db.write(
        _delete_job, me.id, me.role == "admin", message_id, utc_now(), erase=True
    )
    app.broker.publish(
        (tombstone["sender"], tombstone["recipient"]), "supprime", tombstone, exclude=conn
    )
    return {}


def _delete_job(
    connection: Connection, my_id: int, is_admin: bool, message_id: int, now: datetime
) -> dict[str, Any]:
    row = queries.get_message(connection, message_id)
    if row is None or row[7] is not None:
        raise NotFound(f"no message {message_id}")
    if not is_admin and row[1] != my_id:
        raise Forbidden("only the sender or the admin may delete a message")
    queries.tombstone_message(connection, message_id, now)
    return queries.message_json((*row[:3], None, row[4], row[5], row[6], now))


# --- moderation -------------------------------------------------------------------------


@command(
    "/bloque {id}",
    roles=PRO_ROLES,
    description=(
        "Stop client {id} writing to you (the admin: to anyone) for block_duration seconds."
    ),
)
async def cmd_bloque(app: App, conn: ClientConnection, id: int) -> dict[str, Any]:
    """Raises: NotFound (no such client), Conflict (already blocked by you)."""
    me = conn.require_identity()
    now = utc_now()
    until = now + timedelta(seconds=app.settings.block_duration)
    await app.db.write(_restrict_job, me.id, id, "block", now, until)
    return {"until": queries.iso(until)}


@command(
    "/ban {id}",
    roles=PRO_ROLES,
    description="Stop client {id} writing to you (the admin: to anyone) until /deban.",
)
async def cmd_ban(app: App, conn: ClientConnection, id: int) -> dict[str, Any]:
    """Raises: NotFound (no such client), Conflict (already banned by you)."""
    me = conn.require_identity()
    await app.db.write(_restrict_job, me.id, id, "ban", utc_now(), None)
    return {}


def _require_client(connection: Connection, client_id: int) -> None:
    row = queries.get_user(connection, client_id) if client_id != ADMIN_ID else None
    if row is None or row[1] != "client":
        raise NotFound(f"no client {client_id}")


def _restrict_job(
    connection: Connection,
    issuer_id: int,
    client_id: int,
    kind: str,
    now: datetime,
    until: datetime | None,
) -> None:
    _require_client(connection, client_id)
    if queries.find_active_restriction(connection, client_id, issuer_id, kind, now) is not None:
        word = "blocked" if kind == "block" else "banned"
        raise Conflict(f"you already {word} client {client_id}")
    queries.add_restriction(
        connection, client_id=client_id, issuer_id=issuer_id, kind=kind, created_at=now, until=until
    )


@command(
    "/deban {id}",
    roles=PRO_ROLES,
    description="Lift your ban on client {id} (the admin: every ban on that client).",
)
async def cmd_deban(app: App, conn: ClientConnection, id: int) -> dict[str, Any]:
    """Raises: NotFound (no such client, or no ban to lift)."""
    me = conn.require_identity()
    await app.db.write(_lift_job, me.id, me.role == "admin", id, "ban", utc_now())
    return {}


@command(
    "/debloque {id}",
    roles=PRO_ROLES,
    description="Lift your block on client {id} (the admin: every block on that client).",
)
async def cmd_debloque(app: App, conn: ClientConnection, id: int) -> dict[str, Any]:
    """Raises: NotFound (no such client, or no block to lift)."""
    me = conn.require_identity()
    await app.db.write(_lift_job, me.id, me.role == "admin", id, "block", utc_now())
    return {}


def _lift_job(
    connection: Connection, my_id: int, is_admin: bool, client_id: int, kind: str, now: datetime
) -> None:
    _require_client(connection, client_id)
    lifted = queries.lift_restrictions(
        connection, client_id=client_id, issuer_id=None if is_admin else my_id, kind=kind, now=now
    )
    if lifted == 0:
        word = "block" if kind == "block" else "ban"
        raise NotFound(f"no active {word} on client {client_id} to lift")


@command(
    "/sanctions",
    roles=PRO_ROLES,
    description="The blocks and bans in force that you issued (the admin: all of them).",
)
async def cmd_sanctions(app: App, conn: ClientConnection) -> dict[str, Any] | None:
    me = conn.require_identity()
    issuer = None if me.role == "admin" else me.id
    rows = await app.db.read(queries.list_restrictions, issuer, utc_now())
    if not rows:
        return None
    return {
        "sanctions": [
            {
                "client": {"id": row[0], "role": "client", "name": row[1]},
                "kind": row[2],
                "issuer": row[3],
                "since": queries.iso(row[4]),
                "until": queries.iso(row[5]),
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
async def cmd_sync(app: App, conn: ClientConnection) -> dict[str, Any]:
    """Raises: NotFound (file missing), BadRequest (invalid file)."""
    return await app.sync_everywhere()


@command(
    "/logs {n=50}",
    roles=ADMIN,
    description="The last {n} request log entries, newest last.",
)
async def cmd_logs(app: App, conn: ClientConnection, n: int) -> dict[str, Any] | None:
    """Raises: BadRequest (n < 1)."""
    if n < 1:
        raise BadRequest("n must be at least 1")
    entries = await app.latest_logs(n)
    return {"logs": entries} if entries else None


# --- extensions for the desktop apps (docs/protocol.md) ------------------------------------------


@command(
    "/annuaire {page=0}",
    roles=AUTHENTICATED,
    description="The pros you can write to (the admin: every client and pro), by name.",
)
async def cmd_annuaire(app: App, conn: ClientConnection, page: int) -> dict[str, Any] | None:
    """Raises: PageOutOfRange."""
    me = conn.require_identity()
    roles = ("client", "pro") if me.role == "admin" else ("pro",)
    size = app.settings.directory_page_size
    total, rows = await app.db.read(queries.directory_page, roles, page, size)
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
async def cmd_discussions(app: App, conn: ClientConnection, page: int) -> dict[str, Any] | None:
    """Raises: PageOutOfRange."""
    me = conn.require_identity()
    size = app.settings.directory_page_size
    total, rows = await app.db.read(queries.conversations_of, me.id, me.role, page, size)
    if total == 0:
        return None
    pages = _check_page(page, total, size)
    return {
        "page": page,
        "pages": pages,
        "total": total,
        "conversations": [
            {
                "partner": _user_json(partner),
                "last_message": queries.message_json(last) if last is not None else None,
                "unread": unread,
            }
            for partner, last, unread in rows
        ],
    }


@command(
    "/push {mode}",
    roles=AUTHENTICATED,
    description=(
        "on: receive '* <event> <json>' lines when something happens to your messages; off: stop."
    ),
)
async def cmd_push(app: App, conn: ClientConnection, mode: str) -> dict[str, Any]:
    """Raises: BadRequest (mode other than on/off)."""
    if mode not in ("on", "off"):
        raise BadRequest("mode must be on or off")
    conn.set_push(mode == "on")
    return {"push": mode == "on"}


@command(
    "/limites",
    roles=ANYONE,
    description="The limits this server applies: sizes, page sizes, request budgets.",
)
async def cmd_limites(app: App, conn: ClientConnection) -> dict[str, Any]:
    settings = app.settings
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
async def cmd_ca(app: App, conn: ClientConnection) -> dict[str, Any]:
    return {"pem": app.ca_pem, "fingerprint": app.certificates.ca_fingerprint}
