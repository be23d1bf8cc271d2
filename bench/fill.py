"""Fill a fresh database with users and (up to a million) messages, fast.

The schema is created by the server's own migrations (``Database.migrate``),
keys are digested with the server's secret (``security.digest_key``), and the
rows are then written with ``executemany`` in big transactions on a plain
``sqlite3`` connection: a million messages take seconds instead of the hours
that one ``insert_message`` per row would. The rows respect every invariant the
server relies on:

- ``messages.seq`` is 1..n inside each conversation, in id order, and
  ``conversations.message_count`` / ``last_message_id`` match;
- a client always wrote first (odd ``seq``: client to pro, even: pro to client);
- ``messages.recipient_seq`` is 1..n per recipient in id order, and the
  ``/liste`` counters (``users.received_count``, ``users.unread_count``,
  ``unread_buckets``) are counted on the way and written in bulk after the
  messages (``server.storage.counters.drift`` finds nothing to correct: see
  tests/test_unread_counters.py);
- timestamps are stored exactly as SQLAlchemy stores them on SQLite.

Messages of different conversations are interleaved (shuffled) as in real
life, so a conversation page is a range on ``(conversation_id, seq)`` that
points to rows scattered over the table, not one contiguous run.

The layout (``FillPlan``):

- ``msg_clients`` write to ``msg_pros`` during the ``/message`` scenarios
  (those pros have nothing else, so the writes do not disturb the reads);
- ``read_pros`` and ``fill_clients`` share the filled conversations; each
  conversation ends with ``unread_tail`` unread messages, which is what
  ``/liste`` returns;
- the big conversation (``big_share`` of all messages) between the first fill
  client and the first read pro serves ``/conversation`` page 0 and a deep
  page; the messages its client sent there are all unread, which gives that
  pro a very long ``/liste``;
- ``push_pros`` listen (``/push on``) and ``push_clients`` write to them in the
  live-delivery scenario.
"""

from __future__ import annotations

import math
import random
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server import security
from server.storage.db import Database
from server.storage.models import BUCKET

__all__ = ["FillPlan", "Population", "fill"]

# How SQLAlchemy's SQLite DateTime stores a (naive UTC) datetime.
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
CHUNK = 100_000


@dataclass(frozen=True)
class FillPlan:
    messages: int = 1_000_000
    msg_clients: int = 500
    msg_pros: int = 100
    read_pros: int = 100
    fill_clients: int = 2000
    push_pros: int = 500
    push_clients: int = 20
    big_share: float = 0.2
    conversation_length: int = 40
    unread_tail: int = 4
    seed: int = 4242


# Users of one group: (id, api key).
Users = list[tuple[int, str]]


@dataclass
class Population:
    groups: dict[str, Users]
    big_client: int
    big_pro: int
    big_length: int  # messages in the big conversation
    big_pro_unread: int  # unread messages of big_pro (its /liste)
    conversations: int
    messages: int
    seconds: float

    def keys(self, group: str) -> list[str]:
        return [key for _, key in self.groups[group]]

    def ids(self, group: str) -> list[int]:
        return [user_id for user_id, _ in self.groups[group]]

    def summary(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "conversations": self.conversations,
            "users": {group: len(users) for group, users in self.groups.items()},
            "big_conversation_messages": self.big_length,
            "big_pro_unread": self.big_pro_unread,
            "seconds": round(self.seconds, 2),
        }


def fill(database_url: str, data_dir: Path, plan: FillPlan) -> Population:
    """Create the schema, the users and the messages; return who is who."""
    started = time.perf_counter()
    database = Database(database_url, readers=1)
    try:
        database.migrate()
    finally:
        database.close()
    secret = security.load_or_create_secret(data_dir / "secret.key")
    path = database_url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        connection.execute("BEGIN")
        groups = _insert_users(connection, secret, plan)
        connection.execute("COMMIT")
        big_length, _, conversations = _insert_messages(connection, groups, plan)
        # Everything the big pro has unread (the big conversation and the others).
        big_unread = connection.execute(
            "SELECT count(*) FROM messages WHERE recipient_id = ? AND read_at IS NULL "
            "AND deleted_at IS NULL",
            (groups["read_pros"][0][0],),
        ).fetchone()[0]
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return Population(
        groups=groups,
        big_client=groups["fill_clients"][0][0],
        big_pro=groups["read_pros"][0][0],
        big_length=big_length,
        big_pro_unread=big_unread,
        conversations=conversations,
        messages=plan.messages,
        seconds=time.perf_counter() - started,
    )


def _insert_users(
    connection: sqlite3.Connection, secret: bytes, plan: FillPlan
) -> dict[str, Users]:
    layout = [
        ("msg_clients", "client", plan.msg_clients),
        ("msg_pros", "pro", plan.msg_pros),
        ("read_pros", "pro", plan.read_pros),
        ("fill_clients", "client", plan.fill_clients),
        ("push_pros", "pro", plan.push_pros),
        ("push_clients", "client", plan.push_clients),
    ]
    first = (connection.execute("SELECT max(id) FROM users").fetchone()[0] or 0) + 1
    created = datetime.now(UTC).replace(tzinfo=None).strftime(STAMP_FORMAT)
    rows = []
    groups: dict[str, Users] = {}
    next_id = first
    for group, role, count in layout:
        users: Users = []
        for index in range(count):
            key = secrets.token_urlsafe(32)
            digest = security.digest_key(secret, key)
            rows.append((next_id, role, f"bench {group} {index}", digest, created))
            users.append((next_id, key))
            next_id += 1
        groups[group] = users
    connection.executemany(
        "INSERT INTO users (id, role, name, key_digest, created_at) VALUES (?, ?, ?, ?, ?)", rows
    )
    return groups


def _insert_messages(
    connection: sqlite3.Connection, groups: dict[str, Users], plan: FillPlan
) -> tuple[int, int, int]:
    """Returns (messages in the big conversation, unread of its pro, conversations)."""
    clients = [user_id for user_id, _ in groups["fill_clients"]]
    pros = [user_id for user_id, _ in groups["read_pros"]]
    big_length = max(2, int(plan.messages * plan.big_share))
    rest = plan.messages - big_length
    length = plan.conversation_length
    count = math.ceil(rest / length) if rest > 0 else 0
    if count > len(clients) * (len(pros) - 1):
        raise ValueError("not enough fill users for that many conversations")
    # Conversation 0 is the big one; the others pair clients and pros so that
    # no pair repeats and (clients[0], pros[0]) stays the big one alone.
    pairs = [(clients[0], pros[0])]
    lengths = [big_length]
    for index in range(count):
        client = index % len(clients)
        pro = (client + index // len(clients) + 1) % len(pros)
        pairs.append((clients[client], pros[pro]))
        lengths.append(min(length, rest - index * length))
    first_conversation = (
        connection.execute("SELECT max(id) FROM conversations").fetchone()[0] or 0
    ) + 1
    first_message = (connection.execute("SELECT max(id) FROM messages").fetchone()[0] or 0) + 1

    order: list[int] = []
    for conversation, size in enumerate(lengths):
        order.extend([conversation] * size)
    random.Random(plan.seed).shuffle(order)
    last_index = [0] * len(lengths)
    for index, conversation in enumerate(order):
        last_index[conversation] = index

    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO conversations (id, client_id, pro_id, message_count, last_message_id) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (
                first_conversation + conversation,
                client,
                pro,
                lengths[conversation],
                first_message + last_index[conversation],
            )
            for conversation, (client, pro) in enumerate(pairs)
        ],
    )
    statement = (
        "INSERT INTO messages (id, conversation_id, seq, sender_id, recipient_id, "
        "recipient_seq, text, sent_at, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    # Oldest message a little over ``messages`` seconds ago, one a second since.
    start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(
        seconds=len(order) + 3600
    )
    minute_prefix = ""
    minute = -1
    seq = [0] * len(lengths)
    # The users are new (see _insert_users): their arrival numbers start at 1.
    received: dict[int, int] = {}
    unread_of: dict[int, int] = {}
    buckets: dict[tuple[int, int], int] = {}
    big_unread = 0
    batch: list[tuple[Any, ...]] = []
    for index, conversation in enumerate(order):
        if index // 60 != minute:
            minute = index // 60
            minute_prefix = (start + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:")
        stamp = f"{minute_prefix}{index % 60:02d}.000000"
        position = seq[conversation] = seq[conversation] + 1
        client, pro = pairs[conversation]
        from_client = position % 2 == 1
        recipient = pro if from_client else client
        received[recipient] = arrival = received.get(recipient, 0) + 1
        if conversation == 0:
            # The big conversation: everything the client sent is unread.
            unread = from_client
            big_unread += unread
        else:
            unread = position > lengths[conversation] - plan.unread_tail
        if unread:
            unread_of[recipient] = unread_of.get(recipient, 0) + 1
            bucket = (recipient, arrival // BUCKET)
            buckets[bucket] = buckets.get(bucket, 0) + 1
        batch.append(
            (
                first_message + index,
                first_conversation + conversation,
                position,
                client if from_client else pro,
                recipient,
                arrival,
                f"Message {position} de la conversation {conversation} : "
                "bonjour, c'est un texte de démonstration du banc d'essai.",
                stamp,
                None if unread else stamp,
            )
        )
        if len(batch) >= CHUNK:
            connection.executemany(statement, batch)
            batch.clear()
    if batch:
        connection.executemany(statement, batch)
    connection.executemany(
        "UPDATE users SET received_count = ?, unread_count = ? WHERE id = ?",
        [(count, unread_of.get(user, 0), user) for user, count in received.items()],
    )
    connection.executemany(
        "INSERT INTO unread_buckets (recipient_id, bucket, unread) VALUES (?, ?, ?)",
        [(user, bucket, count) for (user, bucket), count in buckets.items()],
    )
    connection.execute("COMMIT")
    return big_length, big_unread, len(pairs)


def plan_summary(plan: FillPlan) -> dict[str, Any]:
    return asdict(plan)
