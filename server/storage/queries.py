"""Queries: keyword-free of HTTP-ish status, one function a question.

Each function takes an open SQLAlchemy ``Connection`` first and returns rows,
ids or ``None``; none of them knows about status codes (the command handlers
map ``None`` to ``NotFound``). They run inside the transactions of
``Database.read`` / ``Database.write``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from .commit import HOUSEKEEPING_LOCKS, locks_users, write_locks
from .fastsql import Statement, db_time, execute, first, iso_from_db, rows
from .models import (
    BUCKET,
    Conversation,
    Message,
    Restriction,
    RevokedToken,
    SharedSecret,
    User,
    utc_now,
)

__all__ = [
    "SQL_UNREAD_BUCKETS",
    "SQL_UNREAD_PAGE",
    "Discussion",
    "MessageRow",
    "Sanction",
    "SendContext",
    "UserListing",
    "UserRow",
    "UserSummary",
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
    "send_context",
    "sessions_state",
    "set_key_digest",
    "table_of",
    "tombstone_message",
    "unread_page",
    "update_message_text",
]


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a model, typed (SQLModel does not declare ``__table__``)."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


users = table_of(User)
conversations = table_of(Conversation)
messages = table_of(Message)
restrictions = table_of(Restriction)
revoked = table_of(RevokedToken)

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


# --- named rows: what the queries return -------------------------------------------------


class UserRow(NamedTuple):
    """A user as sessions and rules need one."""

    id: int
    role: str
    name: str
    key_digest: str


class UserSummary(NamedTuple):
    """A user as the contract shows one (``/annuaire``, partners of ``/discussions``)."""

    id: int
    role: str
    name: str


class UserListing(NamedTuple):
    """A user in the CLI's ``user list``."""

    id: int
    role: str
    name: str
    created_at: datetime


class MessageRow(NamedTuple):
    """A message, as stored (times as the database returns them: ``iso`` reads both).

    Pages of messages (``unread_page``, ``conversation_page``) stay plain tuples
    in this order: they go straight to ``message_json``, and building a named
    row for each of 20 rows would cost a page more than its query does.
    """

    id: int
    sender_id: int
    recipient_id: int
    text: str | None
    sent_at: Any
    modified_at: Any
    read_at: Any
    deleted_at: Any


class SendContext(NamedTuple):
    """What ``/message`` checks before it writes (see ``send_context``)."""

    recipient_role: str
    banned: bool
    blocked: bool
    conversation: tuple[int, int] | None  # (id, message count), if the pair has one


class Discussion(NamedTuple):
    """One of a user's conversations (``/discussions``)."""

    partner: UserSummary
    last_message: MessageRow | None
    unread: int


class Sanction(NamedTuple):
    """A block or ban in force (``/sanctions``)."""

    client_id: int
    client_name: str
    kind: str
    issuer_id: int
    since: datetime
    until: datetime | None


# ISO 8601 UTC with a ``Z`` (section 5: "ISO 8601 UTC strings or null"), from
# a datetime or from a time as the database returned it.
iso = iso_from_db


def message_json(row: MessageRow | Sequence[Any]) -> dict[str, Any]:
    """A message row (``MessageRow`` order) as the contract's message object."""
    message_id, sender, recipient, text, sent_at, modified_at, read_at, deleted_at = row
    return {
        "id": message_id,
        "sender": sender,
        "recipient": recipient,
        "text": text,
        "sent_at": iso_from_db(sent_at),
        # Most of these are null: no call for them (20 rows a page).
        "modified_at": None if modified_at is None else iso_from_db(modified_at),
        "read_at": None if read_at is None else iso_from_db(read_at),
        "deleted_at": None if deleted_at is None else iso_from_db(deleted_at),
    }


# --- the statements of the hot paths (fixed SQL, see fastsql) ----------------------

_MESSAGE_FIELDS = "id, sender_id, recipient_id, text, sent_at, modified_at, read_at, deleted_at"
_SQL_USER = Statement("SELECT id, role, name, key_digest FROM users WHERE id = :id")
_SQL_ACTIVE_USER = Statement(
    "SELECT id, role, name, key_digest FROM users WHERE id = :id AND removed_at IS NULL"
)
_SQL_USER_BY_DIGEST = Statement(
    "SELECT id, role, name, key_digest FROM users WHERE key_digest = :digest AND removed_at IS NULL"
)
_SQL_CONVERSATION = Statement(
    "SELECT id, message_count, last_message_id FROM conversations"
    " WHERE client_id = :client AND pro_id = :pro"
)
# Several servers may share one PostgreSQL database: the conversation row is
# locked while its next seq is taken, and two first messages racing to create
# it both end up on the one row. (SQLite has a single writer and no FOR UPDATE.)
_SQL_LOCK_CONVERSATION = Statement(
    "SELECT id, message_count, last_message_id FROM conversations"
    " WHERE client_id = :client AND pro_id = :pro FOR UPDATE"
)
_SQL_NEW_CONVERSATION = Statement(
    "INSERT INTO conversations (client_id, pro_id, message_count)"
    " VALUES (:client, :pro, 0) ON CONFLICT (client_id, pro_id) DO NOTHING"
)
# A message's first write: its recipient's next arrival number (recipient_seq)
# and one more unread. The user row then stays locked until the commit, so
# with several servers on one PostgreSQL database a recipient's messages still
# get their recipient_seq, and their id (taken after it), in commit order.
_SQL_RECEIVE = Statement(
    "UPDATE users SET received_count = received_count + 1, unread_count = unread_count + 1"
    " WHERE id = :recipient RETURNING received_count"
)
_SQL_NEW_MESSAGE = Statement(
    "INSERT INTO messages"
    " (conversation_id, seq, sender_id, recipient_id, recipient_seq, text, sent_at)"
    " VALUES (:conversation, :seq, :sender, :recipient, :recipient_seq, :text, :sent_at)"
    " RETURNING id"
)
_SQL_BUCKET_UP = Statement(
    "INSERT INTO unread_buckets (recipient_id, bucket, unread) VALUES (:recipient, :bucket, 1)"
    " ON CONFLICT (recipient_id, bucket) DO UPDATE SET unread = unread_buckets.unread + 1"
)
# _SQL_RECEIVE and _SQL_BUCKET_UP in one statement, for PostgreSQL, where each
# statement is a round trip (the INSERT reads what the UPDATE returns, so the
# user row is locked first).
_ARRIVAL = (
    "WITH arrival AS ("
    " UPDATE users SET received_count = received_count + 1, unread_count = unread_count + 1"
    " WHERE id = :recipient RETURNING received_count"
    "), counted AS ("
    " INSERT INTO unread_buckets (recipient_id, bucket, unread)"
    f" SELECT :recipient, received_count / {BUCKET}, 1 FROM arrival"
    " ON CONFLICT (recipient_id, bucket) DO UPDATE SET unread = unread_buckets.unread + 1"
    ")"
)
_SQL_RECEIVE_AND_COUNT = Statement(_ARRIVAL + " SELECT received_count FROM arrival")
# PostgreSQL, a message to a conversation that exists, in one statement (one
# round trip instead of four): the recipient's counters (_SQL_RECEIVE_AND_COUNT),
# the message, then the conversation's count. The conversation row was read in
# this transaction after the batch took both users' advisory locks, which
# every write of a conversation takes (commit.take_writers_turn): its count is
# current without FOR UPDATE. The INSERT reads what the UPDATE of the user row
# returns, so that row is locked, and recipient_seq taken, before the id.
_SQL_PG_ADD_MESSAGE = Statement(
    _ARRIVAL + ", added AS ("
    " INSERT INTO messages"
    " (conversation_id, seq, sender_id, recipient_id, recipient_seq, text, sent_at)"
    " SELECT :conversation, :seq, :sender, :recipient, received_count, :text, :sent_at"
    " FROM arrival RETURNING id"
    "), counted_message AS ("
    " UPDATE conversations SET message_count = :seq, last_message_id = added.id"
    " FROM added WHERE conversations.id = :conversation"
    ") SELECT id FROM added"
)
# A message leaves its recipient's unread set (read, or deleted while unread).
_SQL_UNREAD_DOWN = Statement(
    "UPDATE users SET unread_count = unread_count - :count WHERE id = :recipient"
)
_SQL_BUCKET_DOWN = Statement(
    "UPDATE unread_buckets SET unread = unread - :count"
    " WHERE recipient_id = :recipient AND bucket = :bucket RETURNING unread"
)
_SQL_BUCKET_DROP = Statement(
    "DELETE FROM unread_buckets WHERE recipient_id = :recipient AND bucket = :bucket"
)
_SQL_COUNT_MESSAGE = Statement(
    "UPDATE conversations SET message_count = :seq, last_message_id = :message"
    " WHERE id = :conversation"
)
_SQL_MESSAGE = Statement(f"SELECT {_MESSAGE_FIELDS} FROM messages WHERE id = :id")
_SQL_MESSAGE_PARTIES = Statement("SELECT sender_id, recipient_id FROM messages WHERE id = :id")
_SQL_EDIT = Statement("UPDATE messages SET text = :text, modified_at = :at WHERE id = :id")
_SQL_TOMBSTONE = Statement(
    "UPDATE messages SET text = NULL, deleted_at = :at WHERE id = :id AND deleted_at IS NULL"
    " RETURNING recipient_id, recipient_seq, read_at"
)
# /liste: the bucket holding the page's first message, then at most BUCKET - 1
# index entries skipped inside it. The total is the user row's counter; the
# unread messages before bucket ``low`` are summed over the bucket rows on
# whichever side of ``low`` is shorter (at most half of the recipient's bucket
# numbers, one per BUCKET arrivals), and the bucket rows from ``low`` on are
# read in order until the page's first message is reached: a few rows when
# little has been read (buckets nearly full), more when the unread messages
# are spread thin over a long history. With no bucket from ``low`` on, one row
# with a NULL bucket still carries the total: the buckets and the total come
# from one statement, so from one snapshot. (Public, with SQL_UNREAD_PAGE: the
# benchmark times /liste's two statements on the bare cursor.)
SQL_UNREAD_BUCKETS = Statement(
    "SELECT unread_buckets.bucket, unread_buckets.unread, users.unread_count,"
    f" CASE WHEN 2 * :low <= users.received_count / {BUCKET} THEN ("
    "  SELECT coalesce(sum(unread), 0) FROM unread_buckets"
    "  WHERE recipient_id = :me AND bucket < :low"
    " ) ELSE users.unread_count - ("
    "  SELECT coalesce(sum(unread), 0) FROM unread_buckets"
    "  WHERE recipient_id = :me AND bucket >= :low"
    " ) END"
    " FROM users LEFT JOIN unread_buckets"
    " ON unread_buckets.recipient_id = users.id AND unread_buckets.bucket >= :low"
    " WHERE users.id = :me ORDER BY unread_buckets.bucket"
)
_SQL_UNREAD_TOTAL = Statement("SELECT unread_count FROM users WHERE id = :me")
SQL_UNREAD_PAGE = Statement(
    f"SELECT {_MESSAGE_FIELDS} FROM messages"
    " WHERE recipient_id = :me AND read_at IS NULL AND deleted_at IS NULL"
    " AND recipient_seq >= :start ORDER BY recipient_seq LIMIT :size OFFSET :within"
)
_SQL_CONVERSATION_RANGE = Statement(
    f"SELECT {_MESSAGE_FIELDS} FROM messages"
    " WHERE conversation_id = :conversation AND seq BETWEEN :low AND :high ORDER BY seq"
)
# /conversation's usual case in one statement: a page of the pair's messages
# and the conversation's total, found from the pair (conversation_page takes
# two: the conversation, then the range).
_SQL_PAGE_OF_PAIR = Statement(
    "SELECT "
    + ", ".join(f"m.{field}" for field in _MESSAGE_FIELDS.split(", "))
    + ", c.message_count FROM conversations c JOIN messages m ON m.conversation_id = c.id"
    " WHERE c.client_id = :client AND c.pro_id = :pro"
    " AND m.seq BETWEEN c.message_count - :newer - :size + 1 AND c.message_count - :newer"
    " ORDER BY m.seq"
)
_SQL_REVOKED = Statement("SELECT 1 FROM revoked_tokens WHERE nonce = :nonce")
# What /message checks before it writes, in one statement instead of three:
# the recipient's role (None: no such active user), whether the client is
# banned or blocked (by the pro or the admin), and the conversation if any.
_ACTIVE_RESTRICTION = (
    "SELECT 1 FROM restrictions WHERE client_id = :client AND issuer_id IN (:pro, :admin)"
    " AND kind = '{kind}' AND lifted_at IS NULL AND (until IS NULL OR until > :now)"
)
_SQL_SEND_CONTEXT = Statement(
    "SELECT users.role,"
    f" EXISTS ({_ACTIVE_RESTRICTION.format(kind='ban')}),"
    f" EXISTS ({_ACTIVE_RESTRICTION.format(kind='block')}),"
    " conversations.id, conversations.message_count"
    " FROM users LEFT JOIN conversations"
    " ON conversations.client_id = :client AND conversations.pro_id = :pro"
    " WHERE users.id = :recipient AND users.removed_at IS NULL"
)


# --- users ----------------------------------------------------------------------


def send_context(
    connection: Connection,
    recipient: int,
    client_id: int,
    pro_id: int,
    admin_id: int,
    now: datetime,
) -> SendContext | None:
    """For /message: the recipient's role, banned, blocked, and the conversation.

    None when ``recipient`` is no active user. The pair is the one the
    sender's role implies; if the recipient's role does not fit, the caller
    refuses before looking at the rest.
    """
    row = first(
        connection,
        _SQL_SEND_CONTEXT,
        {
            "recipient": recipient,
            "client": client_id,
            "pro": pro_id,
            "admin": admin_id,
            "now": db_time(connection, now),
        },
    )
    if row is None:
        return None
    conversation = None if row[3] is None else (int(row[3]), int(row[4]))
    return SendContext(str(row[0]), bool(row[1]), bool(row[2]), conversation)


def get_user(
    connection: Connection, user_id: int, *, include_removed: bool = False
) -> UserRow | None:
    """An active user (or a removed one too, with ``include_removed``), or None."""
    statement = _SQL_USER if include_removed else _SQL_ACTIVE_USER
    row = first(connection, statement, {"id": user_id})
    return None if row is None else UserRow._make(row)


def get_user_by_digest(connection: Connection, digest: str) -> UserRow | None:
    row = first(connection, _SQL_USER_BY_DIGEST, {"digest": digest})
    return None if row is None else UserRow._make(row)


@write_locks(lambda *_, **__: ())  # one new row: nobody else can be writing it
def create_user(connection: Connection, *, role: str, name: str, key_digest: str) -> int:
    result = connection.execute(
        sa.insert(users).values(role=role, name=name, key_digest=key_digest, created_at=utc_now())
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def list_users(connection: Connection, *, include_removed: bool = False) -> list[UserListing]:
    query = sa.select(users.c.id, users.c.role, users.c.name, users.c.created_at).order_by(
        users.c.id
    )
    if not include_removed:
        query = query.where(users.c.removed_at.is_(None))
    return [UserListing._make(row) for row in connection.execute(query)]


@locks_users(lambda _connection, user_id, *_, **__: (user_id,))
def rename_user(connection: Connection, user_id: int, name: str) -> bool:
    result = connection.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.removed_at.is_(None))
        .values(name=name)
    )
    return result.rowcount == 1


@locks_users(lambda _connection, user_id, *_, **__: (user_id,))
def set_key_digest(connection: Connection, user_id: int, key_digest: str) -> bool:
    result = connection.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.removed_at.is_(None))
        .values(key_digest=key_digest)
    )
    return result.rowcount == 1


@locks_users(lambda _connection, user_id, *_, **__: (user_id,))
def remove_user(connection: Connection, user_id: int, unusable_digest: str) -> bool:
    """Soft removal: the history stays for the other party, the key dies."""
    result = connection.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.removed_at.is_(None))
        .values(removed_at=utc_now(), key_digest=unusable_digest)
    )
    return result.rowcount == 1


def directory_page(
    connection: Connection, roles: Iterable[str], page: int, size: int
) -> tuple[int, list[UserSummary]]:
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
    return int(total), [UserSummary._make(row) for row in rows]


# --- conversations and messages -------------------------------------------------------


def get_conversation(connection: Connection, client_id: int, pro_id: int) -> Any:
    """(id, message_count, last_message_id) of a client-pro pair, or None."""
    return first(connection, _SQL_CONVERSATION, {"client": client_id, "pro": pro_id})


def insert_message(
    connection: Connection,
    *,
    sender: int,
    recipient: int,
    client_id: int,
    pro_id: int,
    text: str,
    sent_at: datetime,
    conversation: tuple[int, int] | None = None,
) -> int:
    """Store a message; ``conversation`` (id, message count), when the caller
    just read it in this transaction, saves a lookup on SQLite (one writer) and,
    on PostgreSQL, three round trips (``_SQL_PG_ADD_MESSAGE``: the caller holds
    both users' advisory locks, ``rules.send_message``). Without it, PostgreSQL
    reads the conversation under a row lock (the CLI, the benchmarks' fills)."""
    # The recipient's counters first (see _SQL_RECEIVE), then the conversation's.
    sqlite = connection.dialect.name == "sqlite"
    if not sqlite and conversation is not None:
        added = first(
            connection,
            _SQL_PG_ADD_MESSAGE,
            {
                "recipient": recipient,
                "conversation": conversation[0],
                "seq": conversation[1] + 1,
                "sender": sender,
                "text": text,
                "sent_at": sent_at,
            },
        )
        return int(added[0])
    receive = _SQL_RECEIVE if sqlite else _SQL_RECEIVE_AND_COUNT
    recipient_seq = int(first(connection, receive, {"recipient": recipient})[0])
    if sqlite:
        bucket = {"recipient": recipient, "bucket": recipient_seq // BUCKET}
        execute(connection, _SQL_BUCKET_UP, bucket)
    pair = {"client": client_id, "pro": pro_id}
    lock = _SQL_CONVERSATION if sqlite else _SQL_LOCK_CONVERSATION
    if conversation is None or not sqlite:
        conversation = first(connection, lock, pair)
    if conversation is None:
        execute(connection, _SQL_NEW_CONVERSATION, pair)
        conversation = first(connection, lock, pair)
    conversation_id, seq = conversation[0], conversation[1] + 1
    inserted = first(
        connection,
        _SQL_NEW_MESSAGE,
        {
            "conversation": conversation_id,
            "seq": seq,
            "sender": sender,
            "recipient": recipient,
            "recipient_seq": recipient_seq,
            "text": text,
            "sent_at": db_time(connection, sent_at),
        },
    )
    message_id = int(inserted[0])
    execute(
        connection,
        _SQL_COUNT_MESSAGE,
        {"seq": seq, "message": message_id, "conversation": conversation_id},
    )
    return message_id


def message_parties(connection: Connection, message_id: int) -> tuple[int, ...]:
    """(sender, recipient) of a message, () if there is none: what ``/modifie`` and
    ``/supprime`` lock (they never change, so they may be read before the lock)."""
    row = first(connection, _SQL_MESSAGE_PARTIES, {"id": message_id})
    return () if row is None else (int(row[0]), int(row[1]))


def get_message(connection: Connection, message_id: int) -> MessageRow | None:
    row = first(connection, _SQL_MESSAGE, {"id": message_id})
    return None if row is None else MessageRow._make(row)


def update_message_text(
    connection: Connection, message_id: int, text: str, modified_at: datetime
) -> None:
    execute(
        connection,
        _SQL_EDIT,
        {"text": text, "at": db_time(connection, modified_at), "id": message_id},
    )


def tombstone_message(connection: Connection, message_id: int, deleted_at: datetime) -> None:
    """Erase the text (section 5); the row stays as a tombstone."""
    row = first(
        connection, _SQL_TOMBSTONE, {"at": db_time(connection, deleted_at), "id": message_id}
    )
    if row is not None and row[2] is None:  # it was unread: it leaves the /liste
        _leave_unread(connection, row[0], [row[1]])


def _leave_unread(connection: Connection, recipient: int, recipient_seqs: Sequence[int]) -> None:
    """Count down the messages ``recipient_seqs`` that just left ``recipient``'s
    unread set (they were unread and undeleted before this transaction's change)."""
    if not recipient_seqs:
        return
    execute(connection, _SQL_UNREAD_DOWN, {"recipient": recipient, "count": len(recipient_seqs)})
    per_bucket: dict[int, int] = {}
    for recipient_seq in recipient_seqs:
        bucket = recipient_seq // BUCKET
        per_bucket[bucket] = per_bucket.get(bucket, 0) + 1
    for bucket in sorted(per_bucket):  # one lock order for every writer
        key = {"recipient": recipient, "bucket": bucket}
        left = first(connection, _SQL_BUCKET_DOWN, {**key, "count": per_bucket[bucket]})
        if left is not None and left[0] <= 0:
            execute(connection, _SQL_BUCKET_DROP, key)


def _unread_condition(recipient: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        messages.c.recipient_id == recipient,
        messages.c.read_at.is_(None),
        messages.c.deleted_at.is_(None),
    )


def unread_page(
    connection: Connection, recipient: int, page: int, size: int
) -> tuple[int, list[Any]]:
    """Unread, undeleted messages to ``recipient``, oldest first, page ``page``.

    No count and no long OFFSET: see ``SQL_UNREAD_BUCKETS``.
    """
    skip = page * size  # unread messages before the page
    # A bucket holds at most BUCKET of them: none below this one holds the page's first.
    low = skip // BUCKET
    cursor = execute(connection, SQL_UNREAD_BUCKETS, {"me": recipient, "low": low})
    try:
        head = cursor.fetchone()
        if head is None:  # no such user
            return 0, []
        if head[0] is None:  # nothing unread from bucket ``low`` on: past the end, or empty
            return int(head[2]), []
        bucket, unread, total, earlier = head[0], head[1], int(head[2]), int(head[3])
        if skip >= total:
            return total, []
        while earlier + unread <= skip:
            earlier += unread
            following = cursor.fetchone()
            if following is None:
                raise RuntimeError(f"unread counters of user {recipient} out of step")
            bucket, unread = following[0], following[1]
    finally:
        cursor.close()
    page_rows = rows(
        connection,
        SQL_UNREAD_PAGE,
        {"me": recipient, "start": bucket * BUCKET, "size": size, "within": skip - earlier},
    )
    return total, page_rows


def conversation_page(
    connection: Connection, client_id: int, pro_id: int, page: int, size: int
) -> tuple[int, list[Any]]:
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
    page_rows = rows(
        connection,
        _SQL_CONVERSATION_RANGE,
        {"conversation": conversation_id, "low": low, "high": high},
    )
    return total, page_rows


def page_of_pair(
    connection: Connection, client_id: int, pro_id: int, page: int, size: int
) -> tuple[int, list[Any]] | None:
    """``conversation_page`` in one statement when the page has messages; None
    otherwise (no conversation, or past its first page: ask ``conversation_page``)."""
    found = rows(
        connection,
        _SQL_PAGE_OF_PAIR,
        {"client": client_id, "pro": pro_id, "newer": page * size, "size": size},
    )
    if not found:
        return None
    return int(found[0][-1]), [row[:-1] for row in found]


@locks_users(lambda _connection, recipient, *_: (recipient,))
def mark_read(
    connection: Connection, recipient: int, message_ids: Sequence[int], read_at: datetime
) -> None:
    """Set ``read_at`` on those of ``message_ids`` sent to ``recipient`` not read yet."""
    if not message_ids:
        return
    names = [f"m{index}" for index in range(len(message_ids))]
    statement = Statement(
        f"UPDATE messages SET read_at = :at WHERE recipient_id = :me AND read_at IS NULL"
        f" AND id IN ({', '.join(':' + name for name in names)})"
        f" RETURNING recipient_seq, deleted_at"
    )
    params: dict[str, Any] = dict(zip(names, message_ids, strict=True))
    params["at"] = db_time(connection, read_at)
    params["me"] = recipient
    marked = rows(connection, statement, params)
    # A tombstone gets its read_at too, but it had left the unread set already.
    _leave_unread(connection, recipient, [row[0] for row in marked if row[1] is None])


_SQL_FIRST_UNREAD = Statement(
    "SELECT id, seq FROM messages WHERE recipient_id = :me AND conversation_id = :conversation"
    " AND read_at IS NULL AND deleted_at IS NULL ORDER BY seq LIMIT 1"
)
_SQL_UNREAD_IN_CONVERSATION = Statement(
    "SELECT count(*) FROM messages WHERE recipient_id = :me AND conversation_id = :conversation"
    " AND read_at IS NULL AND deleted_at IS NULL"
)
_SQL_MARK_READ_UP_TO = Statement(
    "UPDATE messages SET read_at = :at WHERE recipient_id = :me AND conversation_id = :conversation"
    " AND read_at IS NULL AND deleted_at IS NULL AND id <= :up_to"
    " RETURNING id, recipient_seq"
)


def first_unread(connection: Connection, recipient: int, conversation_id: int) -> Any:
    """(id, seq) of the oldest unread, undeleted message to ``recipient`` there, or None."""
    return first(connection, _SQL_FIRST_UNREAD, {"me": recipient, "conversation": conversation_id})


def unread_counts(connection: Connection, recipient: int, conversation_id: int) -> tuple[int, int]:
    """Unread messages to ``recipient``: in that conversation, and in all."""
    here = first(
        connection,
        _SQL_UNREAD_IN_CONVERSATION,
        {"me": recipient, "conversation": conversation_id},
    )
    total = first(connection, _SQL_UNREAD_TOTAL, {"me": recipient})
    return (0 if here is None else int(here[0])), (0 if total is None else int(total[0]))


def mark_read_up_to(
    connection: Connection,
    recipient: int,
    conversation_id: int,
    up_to: int,
    read_at: datetime,
) -> list[int]:
    """Mark read every unread message to ``recipient`` in the conversation with an
    id up to ``up_to``; returns their ids, oldest first."""
    marked = rows(
        connection,
        _SQL_MARK_READ_UP_TO,
        {
            "me": recipient,
            "conversation": conversation_id,
            "up_to": up_to,
            "at": db_time(connection, read_at),
        },
    )
    _leave_unread(connection, recipient, [row[1] for row in marked])
    return sorted(int(row[0]) for row in marked)


def conversations_of(
    connection: Connection, user_id: int, role: str, page: int, size: int
) -> tuple[int, list[Discussion]]:
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
    unread: dict[int, int] = dict(
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
        Discussion(
            UserSummary._make(partners[row[1]]),
            None if row[2] not in last_messages else MessageRow._make(last_messages[row[2]]),
            int(unread.get(row[0], 0)),
        )
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


def find_active_restriction(
    connection: Connection, client_id: int, issuer_id: int, kind: str, now: datetime
) -> Any:
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
) -> list[Sanction]:
    """Active restrictions (of one issuer, or all) with the client's name.

    A pro's list names only clients who have a conversation with that pro
    (restrictions issued before that rule held must not reveal other names).
    """
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
        query = query.where(
            restrictions.c.issuer_id == issuer_id,
            sa.exists().where(
                conversations.c.client_id == restrictions.c.client_id,
                conversations.c.pro_id == issuer_id,
            ),
        )
    return [Sanction._make(row) for row in connection.execute(query)]


# --- sessions ------------------------------------------------------------------------------


_SQL_REVOKE = Statement(
    "INSERT INTO revoked_tokens (nonce, expires_at) VALUES (:nonce, :expires_at)"
    " ON CONFLICT (nonce) DO NOTHING"
)


# No lock: the same token revoked through two instances at once is one row, inserted once.
@write_locks(lambda *_, **__: ())
def revoke_token(connection: Connection, nonce: str, expires_at: datetime) -> None:
    execute(
        connection,
        _SQL_REVOKE,
        {"nonce": nonce, "expires_at": db_time(connection, expires_at)},
    )


def session_state(
    connection: Connection, user_id: int | None, nonce: str
) -> tuple[str | None, bool]:
    """(current key digest of an active user or None, is the token revoked)."""
    digest = None
    if user_id is not None:
        row = get_user(connection, user_id)
        digest = None if row is None else row.key_digest
    return digest, is_revoked(connection, nonce)


# Values per IN list: far below any backend's limit on bound parameters.
_IN_CHUNK = 500


def sessions_state(
    connection: Connection, user_ids: Collection[int], nonces: Collection[str]
) -> tuple[dict[int, str], set[str]]:
    """``session_state`` for many sessions at once (the sweep of push listeners):
    the key digest of each active user among ``user_ids``, and which ``nonces``
    are revoked."""
    digests: dict[int, str] = {}
    ids = sorted(user_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        rows = connection.execute(
            sa.select(users.c.id, users.c.key_digest).where(
                users.c.id.in_(ids[start : start + _IN_CHUNK]), users.c.removed_at.is_(None)
            )
        )
        digests.update((int(row[0]), str(row[1])) for row in rows)
    revoked_nonces: set[str] = set()
    wanted = sorted(nonces)
    for start in range(0, len(wanted), _IN_CHUNK):
        rows = connection.execute(
            sa.select(revoked.c.nonce).where(revoked.c.nonce.in_(wanted[start : start + _IN_CHUNK]))
        )
        revoked_nonces.update(str(row[0]) for row in rows)
    return digests, revoked_nonces


def is_revoked(connection: Connection, nonce: str) -> bool:
    return first(connection, _SQL_REVOKED, {"nonce": nonce}) is not None


# Two instances' purges would delete the same rows, perhaps in different orders.
@write_locks(lambda *_, **__: ((HOUSEKEEPING_LOCKS, 0),))
def purge_revoked(connection: Connection, now: datetime) -> int:
    result = connection.execute(sa.delete(revoked).where(revoked.c.expires_at <= now))
    return int(result.rowcount)


# --- secrets shared by the instances of one PostgreSQL database -------------------------------


@write_locks(lambda *_, **__: ())  # INSERT ... ON CONFLICT DO NOTHING: no lock needed
def shared_secret(connection: Connection, name: str, candidate: str) -> str:
    """The value stored under ``name``, storing ``candidate`` if there is none
    yet: whichever instance comes first sets it, the others read it."""
    table = table_of(SharedSecret)
    connection.execute(
        sa.text(
            "INSERT INTO shared_secrets (name, value) VALUES (:name, :value)"
            " ON CONFLICT (name) DO NOTHING"
        ),
        {"name": name, "value": candidate},
    )
    return str(
        connection.execute(sa.select(table.c.value).where(table.c.name == name)).scalar_one()
    )
