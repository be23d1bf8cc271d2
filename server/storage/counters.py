"""The ``/liste`` counters, recomputed from the messages themselves.

``users.received_count``, ``users.unread_count`` and ``unread_buckets`` are kept
up to date by every write that changes them (``queries.insert_message``,
``mark_read``, ``tombstone_message``). This module holds their definition as
a recount from ``messages``, for the writers that bypass those functions
(``bench.fill``'s bulk insert) and for the checks of the tests (``drift``).
``recipient_seq`` itself is not recomputed: it is given once, at arrival.

The SQL is plain text without parameters, the same on SQLite (3.33 or later:
``UPDATE ... FROM``) and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from .models import BUCKET

__all__ = ["RECOUNT", "drift", "recount"]

_UNREAD = "read_at IS NULL AND deleted_at IS NULL"
_PER_RECIPIENT = (
    "SELECT recipient_id, max(recipient_seq) AS received,"
    f" sum(CASE WHEN {_UNREAD} THEN 1 ELSE 0 END) AS unread"
    " FROM messages GROUP BY recipient_id"
)
_PER_BUCKET = (
    f"SELECT recipient_id, recipient_seq / {BUCKET} AS bucket, count(*) AS unread"
    f" FROM messages WHERE {_UNREAD} GROUP BY recipient_id, recipient_seq / {BUCKET}"
)

# Run in this order, in one transaction: the counters from scratch.
RECOUNT = (
    "UPDATE users SET received_count = 0, unread_count = 0"
    " WHERE received_count <> 0 OR unread_count <> 0",
    "UPDATE users SET received_count = counted.received, unread_count = counted.unread"
    f" FROM ({_PER_RECIPIENT}) AS counted WHERE users.id = counted.recipient_id",
    "DELETE FROM unread_buckets",
    f"INSERT INTO unread_buckets (recipient_id, bucket, unread) {_PER_BUCKET}",
)

_CHECKS = {
    "users counters differ from a recount (id, received, unread, recounted ...)": (
        "SELECT users.id, users.received_count, users.unread_count,"
        " coalesce(counted.received, 0), coalesce(counted.unread, 0)"
        f" FROM users LEFT JOIN ({_PER_RECIPIENT}) AS counted"
        " ON counted.recipient_id = users.id"
        " WHERE users.received_count <> coalesce(counted.received, 0)"
        " OR users.unread_count <> coalesce(counted.unread, 0)"
    ),
    "unread_buckets rows missing from a recount (recipient, bucket, unread)": (
        f"SELECT recipient_id, bucket, unread FROM unread_buckets EXCEPT {_PER_BUCKET}"
    ),
    "recounted buckets missing from unread_buckets (recipient, bucket, unread)": (
        f"{_PER_BUCKET} EXCEPT SELECT recipient_id, bucket, unread FROM unread_buckets"
    ),
    # 1, 2, 3... per recipient, in the order of the ids (the order of arrival).
    "recipient_seq is not the rank of the id at its recipient (id, recipient_seq, arrival)": (
        "SELECT id, recipient_seq, arrival FROM (SELECT id, recipient_seq,"
        " row_number() OVER (PARTITION BY recipient_id ORDER BY id) AS arrival"
        " FROM messages) AS ranked WHERE recipient_seq <> arrival"
    ),
}


def recount(connection: Connection) -> None:
    """Recompute every counter from ``messages`` (inside the caller's transaction)."""
    for statement in RECOUNT:
        connection.exec_driver_sql(statement)


def drift(connection: Connection, limit: int = 10) -> dict[str, list[tuple[Any, ...]]]:
    """Where the counters disagree with the messages: {problem: [rows]}, empty if none."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for problem, query in _CHECKS.items():
        wrong = [tuple(row) for row in connection.exec_driver_sql(query).fetchmany(limit)]
        if wrong:
            found[problem] = wrong
    return found
