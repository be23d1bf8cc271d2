"""Queries: keyword-free of HTTP-ish status, one function a question.

Each function takes an open SQLAlchemy ``Connection`` first and returns rows,
ids or ``None``; none of them knows about status codes (the command handlers
map ``None`` to ``NotFound``). They run inside the transactions of
``Database.read`` / ``Database.write``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .models import Conversation, Message, Restriction, RevokedToken, User

__all__ = [
    "active_restriction_kinds",
    "add_restriction",
    "conversation_page",
    "conversations_of",
    "create_user",
    "directory_page",
    "find_active_restriction",
    "get_conversation",
    "get_message",
    "get_user",
    "get_user_by_digest",
    "insert_message",
    "is_revoked",
    "lift_restrictions",
    "list_restrictions",
    "list_users",
    "mark_read",
    "message_json",
    "purge_revoked",
    "remove_user",
    "rename_user",
    "revoke_token",
    "set_key_digest",
    "tombstone_message",
    "unread_page",
    "update_message_text",
]

users = User.__table__  # type: ignore[attr-defined]
conversations = Conversation.__table__  # type: ignore[attr-defined]
messages = Message.__table__  # type: ignore[attr-defined]
restrictions = Restriction.__table__  # type: ignore[attr-defined]
revoked = RevokedToken.__table__  # type: ignore[attr-defined]

_MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.sender_id,
    messages.c.recipient_id,
    messages.c.text,
    messages.c.sent_at,
    messages.c.modified_at,
    messages.c.read_at,
    messages.c.deleted_at,
)
_USER_COLUMNS = (users.c.id, users.c.role, users.c.name, users.c.key_digest)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z`` (section 5: "ISO 8601 UTC strings or null")."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_json(row: Row[Any] | Sequence[Any]) -> dict[str, Any]:
    """A message row (``_MESSAGE_COLUMNS`` order) as the contract's message object."""
    return {
        "id": row[0],
        "sender": row[1],
        "recipient": row[2],
        "text": row[3],
        "sent_at": iso(row[4]),
        "modified_at": iso(row[5]),
        "read_at": iso(row[6]),
        "deleted_at": iso(row[7]),
    }


# --- users ----------------------------------------------------------------------


def get_user(
    connection: Connection, user_id: int, *, include_removed: bool = False
) -> Row[Any] | None:
    """An active user (id, role, name, key_digest), or None."""
    query = sa.select(*_USER_COLUMNS).where(users.c.id == user_id)
    if not include_removed:
        query = query.where(users.c.removed_at.is_(None))
    return connection.execute(query).first()


def get_user_by_digest(connection: Connection, digest: str) -> Row[Any] | None:
    return connection.execute(
        sa.select(*_USER_COLUMNS).where(users.c.key_digest == digest, users.c.removed_at.is_(None))
    ).first()


def create_user(connection: Connection, *, role: str, name: str, key_digest: str) -> int:
    result = connection.execute(
        sa.insert(users).values(role=role, name=name, key_digest=key_digest, created_at=_now())
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def list_users(connection: Connection, *, include_removed: bool = False) -> list[Row[Any]]:
    query = sa.select(users.c.id, users.c.role, users.c.name, users.c.created_at).order_by(
        users.c.id
    )
    if not include_removed:
        query = query.where(users.c.removed_at.is_(None))
    return list(connection.execute(query))


def rename_user(connection: Connection, user_id: int, name: str) -> bool:
    result = connection.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.removed_at.is_(None))
        .values(name=name)
    )
    return result.rowcount == 1


def set_key_digest(connection: Connection, user_id: int, key_digest: str) -> bool:
    result = connection.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.removed_at.is_(None))
        .values(key_digest=key_digest)
    )
    return result.rowcount == 1


def remove_user(connection: Connection, user_id: int, unusable_digest: str) -> bool:
    """Soft removal: the history stays for the other party, the key dies."""
    result = connection.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.removed_at.is_(None))
        .values(removed_at=_now(), key_digest=unusable_digest)
    )
    return result.rowcount == 1


def directory_page(
    connection: Connection, roles: Iterable[str], page: int, size: int
) -> tuple[int, list[Row[Any]]]:
    condition = sa.and_(users.c.role.in_(list(roles)), users.c.removed_at.is_(None))
    total = connection.execute(sa.select(sa.func.count()).where(condition)).scalar_one()
    if page * size >= total:
        return int(total), []
    rows = connection.execute(
        sa.select(users.c.id, users.c.role, users.c.name)
        .where(condition)
        .order_by(users.c.name, users.c.id)
        .limit(size)
        .offset(page * size)
    )
    return int(total), list(rows)


# --- conversations and messages -------------------------------------------------------


def get_conversation(connection: Connection, client_id: int, pro_id: int) -> Row[Any] | None:
    """(id, message_count, last_message_id) of a client-pro pair, or None."""
    return connection.execute(
        sa.select(
            conversations.c.id, conversations.c.message_count, conversations.c.last_message_id
        ).where(conversations.c.client_id == client_id, conversations.c.pro_id == pro_id)
    ).first()


def insert_message(
    connection: Connection,
    *,
    sender: int,
    recipient: int,
    client_id: int,
    pro_id: int,
    text: str,
    sent_at: datetime,
) -> int:
    conversation = get_conversation(connection, client_id, pro_id)
    if conversation is None:
        result = connection.execute(
            sa.insert(conversations).values(client_id=client_id, pro_id=pro_id, message_count=0)
        )
        conversation_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        seq = 1
    else:
        conversation_id, seq = conversation[0], conversation[1] + 1
    result = connection.execute(
        sa.insert(messages).values(
            conversation_id=conversation_id,
            seq=seq,
            sender_id=sender,
            recipient_id=recipient,
            text=text,
            sent_at=sent_at,
        )
    )
    message_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    connection.execute(
        sa.update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(message_count=seq, last_message_id=message_id)
    )
    return message_id


def get_message(connection: Connection, message_id: int) -> Row[Any] | None:
    return connection.execute(
        sa.select(*_MESSAGE_COLUMNS).where(messages.c.id == message_id)
    ).first()


def update_message_text(
    connection: Connection, message_id: int, text: str, modified_at: datetime
) -> None:
    connection.execute(
        sa.update(messages)
        .where(messages.c.id == message_id)
        .values(text=text, modified_at=modified_at)
    )


def tombstone_message(connection: Connection, message_id: int, deleted_at: datetime) -> None:
    """Erase the text (section 5); the row stays as a tombstone."""
    connection.execute(
        sa.update(messages)
        .where(messages.c.id == message_id)
        .values(text=None, deleted_at=deleted_at)
    )


def _unread_condition(recipient: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        messages.c.recipient_id == recipient,
        messages.c.read_at.is_(None),
        messages.c.deleted_at.is_(None),
    )


def unread_page(
    connection: Connection, recipient: int, page: int, size: int
) -> tuple[int, list[Row[Any]]]:
    """Unread, undeleted messages to ``recipient``, oldest first, page ``page``."""
    condition = _unread_condition(recipient)
    total = connection.execute(sa.select(sa.func.count()).where(condition)).scalar_one()
    if total == 0 or page * size >= total:
        return int(total), []
    rows = connection.execute(
        sa.select(*_MESSAGE_COLUMNS)
        .where(condition)
        .order_by(messages.c.id)
        .limit(size)
        .offset(page * size)
    )
    return int(total), list(rows)


def conversation_page(
    connection: Connection, client_id: int, pro_id: int, page: int, size: int
) -> tuple[int, list[Row[Any]]]:
    """Page ``page`` counted from the newest message backwards, oldest first inside.

    A range on ``(conversation_id, seq)``: as fast for page 10,000 as for page 0.
    """
    conversation = get_conversation(connection, client_id, pro_id)
    if conversation is None:
        return 0, []
    conversation_id, total = conversation[0], int(conversation[1])
    high = total - page * size  # seq of the newest message on the page
    if high <= 0:
        return total, []
    low = max(1, high - size + 1)
    rows = connection.execute(
        sa.select(*_MESSAGE_COLUMNS)
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.seq.between(low, high),
        )
        .order_by(messages.c.seq)
    )
    return total, list(rows)


def mark_read(connection: Connection, message_ids: Sequence[int], read_at: datetime) -> None:
    connection.execute(
        sa.update(messages)
        .where(messages.c.id.in_(list(message_ids)), messages.c.read_at.is_(None))
        .values(read_at=read_at)
    )


def conversations_of(
    connection: Connection, user_id: int, role: str, page: int, size: int
) -> tuple[int, list[tuple[Row[Any], Row[Any] | None, int]]]:
    """My conversations, latest activity first: (partner, last message, unread)."""
    mine, partner_column = (
        (conversations.c.client_id, conversations.c.pro_id)
        if role == "client"
        else (conversations.c.pro_id, conversations.c.client_id)
    )
    total = connection.execute(sa.select(sa.func.count()).where(mine == user_id)).scalar_one()
    if page * size >= total:
        return int(total), []
    rows = list(
        connection.execute(
            sa.select(conversations.c.id, partner_column, conversations.c.last_message_id)
            .where(mine == user_id)
            .order_by(conversations.c.last_message_id.desc())
            .limit(size)
            .offset(page * size)
        )
    )
    if not rows:
        return int(total), []
    partner_ids = [row[1] for row in rows]
    partners = {
        row[0]: row
        for row in connection.execute(
            sa.select(users.c.id, users.c.role, users.c.name).where(users.c.id.in_(partner_ids))
        )
    }
    last_ids = [row[2] for row in rows if row[2] is not None]
    last_messages = {
        row[0]: row
        for row in connection.execute(
            sa.select(*_MESSAGE_COLUMNS).where(messages.c.id.in_(last_ids))
        )
    }
    unread = dict(
        connection.execute(
            sa.select(messages.c.conversation_id, sa.func.count())
            .where(
                _unread_condition(user_id),
                messages.c.conversation_id.in_([row[0] for row in rows]),
            )
            .group_by(messages.c.conversation_id)
        ).all()
    )
    result = [
        (partners[row[1]], last_messages.get(row[2]), int(unread.get(row[0], 0)))
        for row in rows
        if row[1] in partners
    ]
    return int(total), result


# --- blocks and bans ---------------------------------------------------------------------


def _active(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        restrictions.c.lifted_at.is_(None),
        sa.or_(restrictions.c.until.is_(None), restrictions.c.until > now),
    )


def active_restriction_kinds(
    connection: Connection, client_id: int, issuers: Sequence[int], now: datetime
) -> set[str]:
    """Kinds ("block", "ban") any of ``issuers`` holds on the client now."""
    rows = connection.execute(
        sa.select(restrictions.c.kind)
        .where(
            restrictions.c.client_id == client_id,
            restrictions.c.issuer_id.in_(list(issuers)),
            _active(now),
        )
        .distinct()
    )
    return {row[0] for row in rows}


def find_active_restriction(
    connection: Connection, client_id: int, issuer_id: int, kind: str, now: datetime
) -> Row[Any] | None:
    return connection.execute(
        sa.select(restrictions.c.id, restrictions.c.until).where(
            restrictions.c.client_id == client_id,
            restrictions.c.issuer_id == issuer_id,
            restrictions.c.kind == kind,
            _active(now),
        )
    ).first()


def add_restriction(
    connection: Connection,
    *,
    client_id: int,
    issuer_id: int,
    kind: str,
    created_at: datetime,
    until: datetime | None,
) -> None:
    connection.execute(
        sa.insert(restrictions).values(
            client_id=client_id, issuer_id=issuer_id, kind=kind, created_at=created_at, until=until
        )
    )


def lift_restrictions(
    connection: Connection, *, client_id: int, issuer_id: int | None, kind: str, now: datetime
) -> int:
    """Lift active restrictions of ``kind`` (of one issuer, or all); how many."""
    condition = sa.and_(
        restrictions.c.client_id == client_id, restrictions.c.kind == kind, _active(now)
    )
    if issuer_id is not None:
        condition = sa.and_(condition, restrictions.c.issuer_id == issuer_id)
    result = connection.execute(sa.update(restrictions).where(condition).values(lifted_at=now))
    return int(result.rowcount)


def list_restrictions(
    connection: Connection, issuer_id: int | None, now: datetime
) -> list[Row[Any]]:
    """Active restrictions (of one issuer, or all) with the client's name."""
    query = (
        sa.select(
            restrictions.c.client_id,
            users.c.name,
            restrictions.c.kind,
            restrictions.c.issuer_id,
            restrictions.c.created_at,
            restrictions.c.until,
        )
        .join(users, users.c.id == restrictions.c.client_id)
        .where(_active(now))
        .order_by(restrictions.c.created_at, restrictions.c.id)
    )
    if issuer_id is not None:
        query = query.where(restrictions.c.issuer_id == issuer_id)
    return list(connection.execute(query))


# --- sessions ------------------------------------------------------------------------------


def revoke_token(connection: Connection, nonce: str, expires_at: datetime) -> None:
    exists = connection.execute(sa.select(revoked.c.nonce).where(revoked.c.nonce == nonce)).first()
    if exists is None:
        connection.execute(sa.insert(revoked).values(nonce=nonce, expires_at=expires_at))


def session_state(
    connection: Connection, user_id: int | None, nonce: str
) -> tuple[str | None, bool]:
    """(current key digest of an active user or None, is the token revoked)."""
    digest = None
    if user_id is not None:
        row = get_user(connection, user_id)
        digest = None if row is None else row[3]
    return digest, is_revoked(connection, nonce)


def is_revoked(connection: Connection, nonce: str) -> bool:
    return (
        connection.execute(sa.select(revoked.c.nonce).where(revoked.c.nonce == nonce)).first()
        is not None
    )


def purge_revoked(connection: Connection, now: datetime) -> int:
    result = connection.execute(sa.delete(revoked).where(revoked.c.expires_at <= now))
    return int(result.rowcount)


def _now() -> datetime:
    from .models import utc_now

    return utc_now()
