"""Tables, as SQLModel classes: the same models on SQLite and PostgreSQL.

Indexes are chosen for the hot paths (docs/protocol.md, "Storage"):

- ``/conversation`` pages are cut by ``(conversation_id, seq)``: every message
  carries its position in its conversation, so page ``p`` is a range on that
  index whatever ``p`` is (no OFFSET scan, no count: the conversation row keeps
  ``message_count``).
- ``/liste`` pages are found without a count or a long OFFSET: every message
  carries ``recipient_seq``, its arrival number at its recipient; the user row
  keeps ``unread_count`` (the list's total) and ``unread_buckets`` counts the
  unread messages of each run of ``BUCKET`` arrival numbers, so a page starts
  at most one bucket into a partial index on ``(recipient_id, recipient_seq)``
  of the unread, undeleted messages (``queries.unread_page``).
- Unread badges (``/discussions``) use a partial index on the unread, undeleted
  messages of a recipient by conversation, which stays small however long the
  history.
- A conversation row exists only once its client has written (pros cannot
  write first), which is the "may a pro answer?" rule in one lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

__all__ = [
    "BUCKET",
    "Conversation",
    "Message",
    "Restriction",
    "RevokedToken",
    "UnreadBucket",
    "User",
    "UtcDateTime",
    "utc_now",
]


# Arrival numbers per ``unread_buckets`` row: bucket = recipient_seq // BUCKET.
# Changing it needs a migration that rebuilds the table (see 0002).
BUCKET = 256


def utc_now() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no zone: store naive UTC and re-attach the zone on reading.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time_column(nullable: bool = True, index: bool = False) -> sa.Column:
    return sa.Column(UtcDateTime(), nullable=nullable, index=index)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=10, index=True)  # "client" or "pro"
    name: str = Field(max_length=100)
    key_digest: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column(False))
    removed_at: datetime | None = Field(default=None, sa_column=_time_column())
    # The last recipient_seq given to a message to this user.
    received_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Messages to this user neither read nor deleted: the total of their /liste.
    unread_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.UniqueConstraint("client_id", "pro_id", name="uq_conversations_pair"),
        sa.Index("ix_conversations_pro_activity", "pro_id", "last_message_id"),
        sa.Index("ix_conversations_client_activity", "client_id", "last_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="users.id")
    pro_id: int = Field(foreign_key="users.id")
    message_count: int = 0
    last_message_id: int | None = None


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        sa.Index(
            "ix_messages_unread_by_seq",
            "recipient_id",
            "recipient_seq",
            sqlite_where=sa.text("read_at IS NULL AND deleted_at IS NULL"),
            postgresql_where=sa.text("read_at IS NULL AND deleted_at IS NULL"),
        ),
        sa.Index(
            "ix_messages_unread_by_conversation",
            "recipient_id",
            "conversation_id",
            sqlite_where=sa.text("read_at IS NULL AND deleted_at IS NULL"),
            postgresql_where=sa.text("read_at IS NULL AND deleted_at IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id")
    seq: int  # 1-based position inside the conversation
    sender_id: int = Field(foreign_key="users.id")
    recipient_id: int = Field(foreign_key="users.id")
    text: str | None = None  # NULL once deleted: the text is erased
    sent_at: datetime = Field(default_factory=utc_now, sa_column=_time_column(False))
    modified_at: datetime | None = Field(default=None, sa_column=_time_column())
    read_at: datetime | None = Field(default=None, sa_column=_time_column())
    deleted_at: datetime | None = Field(default=None, sa_column=_time_column())
    # 1-based arrival number at the recipient (see users.received_count).
    recipient_seq: int


class UnreadBucket(SQLModel, table=True):
    """How many of a recipient's messages with ``recipient_seq // BUCKET == bucket``
    are unread and undeleted; a row exists only while that number is above 0."""

    __tablename__ = "unread_buckets"
    # On SQLite, the rows live in the primary key's b-tree (one b-tree to
    # update, and a recipient's buckets are read in one sweep).
    __table_args__ = {"sqlite_with_rowid": False}

    recipient_id: int = Field(primary_key=True, foreign_key="users.id")
    bucket: int = Field(primary_key=True)
    unread: int


class Restriction(SQLModel, table=True):
    """A block (with an end) or a ban (until lifted) on a client."""

    __tablename__ = "restrictions"
    __table_args__ = (
        sa.Index("ix_restrictions_client_active", "client_id", "kind", "lifted_at"),
        sa.Index("ix_restrictions_issuer_active", "issuer_id", "lifted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="users.id")
    issuer_id: int  # a pro's id, or 0 for the admin (who has no row)
    kind: str = Field(max_length=10)  # "block" or "ban"
    created_at: datetime = Field(default_factory=utc_now, sa_column=_time_column(False))
    until: datetime | None = Field(default=None, sa_column=_time_column())
    lifted_at: datetime | None = Field(default=None, sa_column=_time_column())


class RevokedToken(SQLModel, table=True):
    """Session tokens ended by ``/deconnexion`` (tokens are otherwise stateless)."""

    __tablename__ = "revoked_tokens"

    nonce: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=_time_column(False, index=True))


class SharedSecret(SQLModel, table=True):
    """Secrets every instance on one PostgreSQL database shares (the server
    secret that keys digests and tokens), created once by the first to start.
    Unused on SQLite, where the secret stays in ``data_dir`` (one instance)."""

    __tablename__ = "shared_secrets"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=512)
