"""unread counters: recipient_seq, users.received_count/unread_count, unread_buckets

/liste without count(*) or a long OFFSET (see server/storage/queries.py,
unread_page). Existing messages get their recipient_seq in id order, and the
counters and buckets are computed from them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# models.BUCKET when this revision was written. A later change of BUCKET
# needs a revision of its own that rebuilds unread_buckets.
BUCKET = 256
UNREAD = "read_at IS NULL AND deleted_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('unread_count', sa.Integer(), server_default='0', nullable=False))

    # recipient_seq: 1, 2, 3... per recipient in id order, then NOT NULL.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_seq', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE messages SET recipient_seq = ranked.arrival FROM ("
        " SELECT id, row_number() OVER (PARTITION BY recipient_id ORDER BY id) AS arrival"
        " FROM messages) AS ranked WHERE messages.id = ranked.id"
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_unread', sqlite_where=sa.text(UNREAD), postgresql_where=sa.text(UNREAD))
    with op.batch_alter_table('messages', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('recipient_seq', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_unread_by_seq', ['recipient_id', 'recipient_seq'], unique=False, sqlite_where=sa.text(UNREAD), postgresql_where=sa.text(UNREAD))

    op.create_table('unread_buckets',
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('unread', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('recipient_id', 'bucket'),
    sqlite_with_rowid=False
    )

    op.execute(
        "UPDATE users SET received_count = counted.received, unread_count = counted.unread"
        " FROM (SELECT recipient_id, max(recipient_seq) AS received,"
        f" sum(CASE WHEN {UNREAD} THEN 1 ELSE 0 END) AS unread"
        " FROM messages GROUP BY recipient_id) AS counted"
        " WHERE users.id = counted.recipient_id"
    )
    op.execute(
        "INSERT INTO unread_buckets (recipient_id, bucket, unread)"
        f" SELECT recipient_id, recipient_seq / {BUCKET}, count(*) FROM messages"
        f" WHERE {UNREAD} GROUP BY recipient_id, recipient_seq / {BUCKET}"
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 or later): a batch copy of users would
    # trip the foreign keys that point at it.
    op.drop_table('unread_buckets')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_unread_by_seq', sqlite_where=sa.text(UNREAD), postgresql_where=sa.text(UNREAD))
    op.drop_column('messages', 'recipient_seq')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_unread', ['recipient_id', 'id'], unique=False, sqlite_where=sa.text(UNREAD), postgresql_where=sa.text(UNREAD))
    op.drop_column('users', 'unread_count')
    op.drop_column('users', 'received_count')
