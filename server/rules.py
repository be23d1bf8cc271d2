"""The rules of messages and sanctions, as they run inside a transaction.

Each function takes an open ``Connection`` first and keyword arguments (plain
values: on SQLite the write jobs are pickled to the writer process, which
imports this module and the storage it uses, nothing of the server around
them). A write job checks everything first and raises a ``TchatatorError``
before writing anything, then writes: a refused request never leaves a trace
and the rest of its group commit goes on (``storage.commit``). The checks
follow the precedence of section 2: target (404), then rules (403), then the
text (400 empty, 413 too long).

The command handlers (``commands``) call them through ``app.db.write`` /
``app.db.read`` and turn their results into reply bodies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

from protocol.codec import decode_text, is_blank_text
from protocol.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge

from .storage import queries
from .storage.commit import locks_users
from .storage.queries import MessageRow

__all__ = [
    "ADMIN_ID",
    "BAN",
    "BLOCK",
    "ConversationPage",
    "PeekedPage",
    "ReadUpTo",
    "check_text",
    "conversation_pair",
    "delete_message",
    "edit_message",
    "implied_pair",
    "impose_sanction",
    "lift_sanction",
    "mark_read_up_to",
    "peek_conversation",
    "read_conversation",
    "send_message",
]

# The admin is no row of ``users``; no user has id 0.
ADMIN_ID = 0
# The two kinds of sanction (``restrictions.kind``).
BLOCK = "block"
BAN = "ban"


def implied_pair(role: str, me: int, other: int) -> tuple[int, int]:
    """(client, pro) of a conversation between ``me``, of ``role``, and ``other``,
    if ``other`` has the opposite role (the caller checks that, or relies on
    a conversation only ever joining a client and a pro)."""
    return (other, me) if role == "pro" else (me, other)


def check_text(escaped: str, *, limit: int) -> str:
    """The text of a message as stored, from its escaped form on the request line.

    Raises: BadRequest (empty, or a NUL), PayloadTooLarge (over ``limit`` characters).
    """
    text = decode_text(escaped)
    if is_blank_text(text):
        raise BadRequest("the message is empty")
    if "\x00" in text:
        # PostgreSQL cannot store it; refused everywhere so both backends agree.
        raise BadRequest("the message contains a NUL character")
    if len(text) > limit:
        raise PayloadTooLarge(f"the message is longer than {limit} characters", max=limit)
    return text


# --- messages ------------------------------------------------------------------------


@locks_users(lambda _connection, *, sender_id, recipient_id, **_: (sender_id, recipient_id))
def send_message(
    connection: Connection,
    *,
    sender_id: int,
    sender_role: str,
    recipient_id: int,
    escaped: str,
    limit: int,
    now: datetime,
) -> dict[str, Any]:
    """``/message``: a client to any pro, a pro to a client who wrote first.

    Returns the message as the contract shows it.
    Raises: NotFound, Forbidden (rules, block, ban), BadRequest, PayloadTooLarge.
    """
    if recipient_id == ADMIN_ID:
        raise Forbidden("nobody writes to the admin")
    if recipient_id == sender_id:
        raise Forbidden("you cannot write to yourself")
    client_id, pro_id = implied_pair(sender_role, sender_id, recipient_id)
    context = queries.send_context(connection, recipient_id, client_id, pro_id, ADMIN_ID, now)
    if context is None:
        raise NotFound(f"no user {recipient_id}")
    if context.recipient_role == sender_role:
        raise Forbidden("clients write to pros and pros to clients")
    if sender_role == "pro":
        if context.conversation is None:
            raise Forbidden("a pro may only answer a client who wrote first")
    else:
        if context.banned:
            raise Forbidden("you are banned from writing to this user")
        if context.blocked:
            raise Forbidden("you are blocked from writing to this user for now")
    text = check_text(escaped, limit=limit)
    message_id = queries.insert_message(
        connection,
        sender=sender_id,
        recipient=recipient_id,
        client_id=client_id,
        pro_id=pro_id,
        text=text,
        sent_at=now,
        conversation=context.conversation,
    )
    return queries.message_json(
        MessageRow(message_id, sender_id, recipient_id, text, now, None, None, None)
    )


@locks_users(lambda connection, *, message_id, **_: queries.message_parties(connection, message_id))
def edit_message(
    connection: Connection,
    *,
    editor_id: int,
    message_id: int,
    escaped: str,
    limit: int,
    now: datetime,
) -> dict[str, Any]:
    """``/modifie``: its sender replaces the text. Returns the message.

    Raises: NotFound (also for a deleted message), Forbidden, BadRequest, PayloadTooLarge.
    """
    row = queries.get_message(connection, message_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"no message {message_id}")
    if row.sender_id != editor_id:
        raise Forbidden("only the sender may modify a message")
    text = check_text(escaped, limit=limit)
    queries.update_message_text(connection, message_id, text, now)
    return queries.message_json(row._replace(text=text, modified_at=now))


@locks_users(lambda connection, *, message_id, **_: queries.message_parties(connection, message_id))
def delete_message(
    connection: Connection, *, deleter_id: int, is_admin: bool, message_id: int, now: datetime
) -> dict[str, Any]:
    """``/supprime``: its sender or the admin erases the text. Returns the tombstone.

    Raises: NotFound (also when already deleted), Forbidden.
    """
    row = queries.get_message(connection, message_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"no message {message_id}")
    if not is_admin and row.sender_id != deleter_id:
        raise Forbidden("only the sender or the admin may delete a message")
    queries.tombstone_message(connection, message_id, now)
    return queries.message_json(row._replace(text=None, deleted_at=now))


class ConversationPage(NamedTuple):
    exists: bool  # False: no such user (404)
    total: int  # messages between the two (0: none, or no conversation can exist)
    rows: list[Any]  # the page's messages in MessageRow order, oldest first


def conversation_pair(
    connection: Connection, *, reader_id: int, reader_role: str, other_id: int
) -> tuple[bool, tuple[int, int] | None]:
    """Whether ``other_id`` exists, and (client, pro) when a conversation may exist."""
    if other_id == ADMIN_ID:
        return True, None
    # A removed user's history stays readable (and markable) by the other party.
    other = queries.get_user(connection, other_id, include_removed=True)
    if other is None:
        return False, None
    if reader_role == "client" and other.role == "pro":
        return True, (reader_id, other_id)
    if reader_role == "pro" and other.role == "client":
        return True, (other_id, reader_id)
    return True, None  # no conversation can exist between these two


def read_conversation(
    connection: Connection, *, reader_id: int, reader_role: str, other_id: int, page: int, size: int
) -> ConversationPage:
    """``/conversation``'s read: page ``page`` of the messages between two users."""
    if other_id != ADMIN_ID and reader_role in ("client", "pro"):
        # Usually the pair the reader's role implies has that page: one statement.
        # (A conversation only ever joins a client and a pro, so the other's role
        # fits; a removed other stays readable, as below.)
        implied = implied_pair(reader_role, reader_id, other_id)
        found = queries.page_of_pair(connection, *implied, page, size)
        if found is not None:
            return ConversationPage(True, *found)
    exists, pair = conversation_pair(
        connection, reader_id=reader_id, reader_role=reader_role, other_id=other_id
    )
    if pair is None:
        return ConversationPage(exists, 0, [])
    total, rows = queries.conversation_page(connection, *pair, page, size)
    return ConversationPage(True, total, rows)


class PeekedPage(NamedTuple):
    page: ConversationPage
    first_unread: tuple[int, int] | None  # (id, seq) of the reader's oldest unread there
    unread: int  # unread messages to the reader there


def peek_conversation(
    connection: Connection, *, reader_id: int, reader_role: str, other_id: int, page: int, size: int
) -> PeekedPage:
    """``/apercu``'s read: ``/conversation``'s page, marking nothing, and where the
    reader's oldest unread message is."""
    read = read_conversation(
        connection,
        reader_id=reader_id,
        reader_role=reader_role,
        other_id=other_id,
        page=page,
        size=size,
    )
    if read.total == 0:
        return PeekedPage(read, None, 0)
    _, pair = conversation_pair(
        connection, reader_id=reader_id, reader_role=reader_role, other_id=other_id
    )
    assert pair is not None
    conversation = queries.get_conversation(connection, *pair)
    oldest = queries.first_unread(connection, reader_id, conversation[0])
    unread, _ = queries.unread_counts(connection, reader_id, conversation[0])
    first = None if oldest is None else (int(oldest[0]), int(oldest[1]))
    return PeekedPage(read, first, unread)


class ReadUpTo(NamedTuple):
    exists: bool  # False: no such user (404)
    ids: list[int]  # the messages marked read, oldest first
    unread: int  # unread messages to the reader left in that conversation
    total_unread: int  # and in all (``/liste``'s total)


@locks_users(lambda _connection, *, reader_id, **_: (reader_id,))
def mark_read_up_to(
    connection: Connection,
    *,
    reader_id: int,
    reader_role: str,
    other_id: int,
    up_to: int,
    now: datetime,
) -> ReadUpTo:
    """``/lu``: what ``other_id`` sent the reader, up to message ``up_to``, is read."""
    exists, pair = conversation_pair(
        connection, reader_id=reader_id, reader_role=reader_role, other_id=other_id
    )
    conversation = None if pair is None else queries.get_conversation(connection, *pair)
    if conversation is None:
        total = queries.unread_counts(connection, reader_id, -1)[1] if exists else 0
        return ReadUpTo(exists, [], 0, total)
    ids = queries.mark_read_up_to(connection, reader_id, conversation[0], up_to, now)
    unread, total = queries.unread_counts(connection, reader_id, conversation[0])
    return ReadUpTo(True, ids, unread, total)


# --- sanctions ---------------------------------------------------------------------------


def _require_client(connection: Connection, client_id: int, issuer_id: int) -> None:
    """404 unless ``client_id`` is an active client the issuer may sanction.

    A pro may sanction only a client who has a conversation with them, the
    admin anyone. The others get the very answer a non-existent id gets, so
    a pro cannot probe ids for customers (whose names ``/sanctions`` would
    then show; ``/annuaire`` hides them).
    """
    row = queries.get_user(connection, client_id) if client_id != ADMIN_ID else None
    if (
        row is None
        or row.role != "client"
        or (
            issuer_id != ADMIN_ID
            and queries.get_conversation(connection, client_id, issuer_id) is None
        )
    ):
        raise NotFound(f"no client {client_id}")


# A sanction's rows are the client's: two issuers' sanctions on one client, or
# a check-then-insert racing with its twin on another instance, take turns.
@locks_users(lambda _connection, *, client_id, **_: (client_id,))
def impose_sanction(
    connection: Connection,
    *,
    issuer_id: int,
    client_id: int,
    kind: str,
    now: datetime,
    until: datetime | None,
) -> None:
    """``/bloque`` (``BLOCK`` until ``until``) and ``/ban`` (``BAN``, no end).

    Raises: NotFound (no such client), Conflict (already in force from this issuer).
    """
    _require_client(connection, client_id, issuer_id)
    if queries.find_active_restriction(connection, client_id, issuer_id, kind, now) is not None:
        word = "blocked" if kind == BLOCK else "banned"
        raise Conflict(f"you already {word} client {client_id}")
    queries.add_restriction(
        connection, client_id=client_id, issuer_id=issuer_id, kind=kind, created_at=now, until=until
    )


@locks_users(lambda _connection, *, client_id, **_: (client_id,))
def lift_sanction(
    connection: Connection,
    *,
    issuer_id: int,
    is_admin: bool,
    client_id: int,
    kind: str,
    now: datetime,
) -> None:
    """``/debloque`` and ``/deban``: the issuer's own (the admin: every one on that client).

    Raises: NotFound (no such client, or none to lift).
    """
    _require_client(connection, client_id, issuer_id)
    lifted = queries.lift_restrictions(
        connection,
        client_id=client_id,
        issuer_id=None if is_admin else issuer_id,
        kind=kind,
        now=now,
    )
    if lifted == 0:
        raise NotFound(f"no active {kind} on client {client_id} to lift")
