"""The /liste counters at the storage level: migration, bulk fill, random changes.

``users.received_count`` / ``unread_count``, ``messages.recipient_seq`` and
``unread_buckets`` (docs/protocol.md, "Storage") must always equal a recount
from the messages (``server.storage.counters.drift``), and ``unread_page``
must always cut the same pages as a plain ``ORDER BY id`` over the unread
messages. Checked after revision 0002 migrates a database made by 0001 (on
SQLite, and on PostgreSQL when it is reachable), after ``bench.fill``'s bulk
insert, and after long random runs of the writes the server makes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from bench.fill import FillPlan, fill
from server.storage import counters
from server.storage import queries as q
from server.storage.commit import make_engine
from server.storage.db import MIGRATIONS, Database
from server.storage.models import BUCKET, utc_now

from .support import scratch_postgres_database

PAGE_SIZES = (3, 20, BUCKET - 1, BUCKET + 1)


def _alembic(engine: Engine, target: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)


def _unread_ids(connection: Connection, recipient: int) -> list[int]:
    return [
        row[0]
        for row in connection.exec_driver_sql(
            f"SELECT id FROM messages WHERE recipient_id = {int(recipient)} AND read_at IS NULL"
            " AND deleted_at IS NULL ORDER BY id"
        )
    ]


def _check_pages(connection: Connection, recipients: list[int]) -> None:
    """unread_page against the plain query, every page of every page size."""
    for recipient in recipients:
        expected = _unread_ids(connection, recipient)
        for size in PAGE_SIZES:
            pages = -(-len(expected) // size)
            for page in range(pages + 2):
                total, rows = q.unread_page(connection, recipient, page, size)
                assert total == len(expected), (recipient, size, page)
                assert [row[0] for row in rows] == expected[page * size : (page + 1) * size], (
                    recipient,
                    size,
                    page,
                )
                if rows:
                    connection.rollback()  # a fresh read transaction, as the server's


def _check(engine: Engine, recipients: list[int]) -> None:
    with engine.connect() as connection:
        assert counters.drift(connection) == {}
        _check_pages(connection, recipients)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'counters.db'}"
        return
    with scratch_postgres_database("tchatator_counters") as url:
        yield url


# --- revision 0002 on a database made by 0001 --------------------------------------------------


def _fill_at_0001(connection: Connection, rng: random.Random) -> list[int]:
    """Users, conversations and messages as revision 0001 stores them; the recipients."""
    stamp = utc_now()
    users = sa.table(
        "users",
        sa.column("id"),
        sa.column("role"),
        sa.column("name"),
        sa.column("key_digest"),
        sa.column("created_at"),
    )
    conversations = sa.table(
        "conversations",
        sa.column("id"),
        sa.column("client_id"),
        sa.column("pro_id"),
        sa.column("message_count"),
        sa.column("last_message_id"),
    )
    messages = sa.table(
        "messages",
        *map(sa.column, ("id", "conversation_id", "seq", "sender_id", "recipient_id")),
        *map(sa.column, ("text", "sent_at", "read_at", "deleted_at")),
    )
    clients, pros = [1, 2, 3], [4, 5]
    connection.execute(
        users.insert(),
        [
            {"id": i, "role": "client" if i in clients else "pro", "name": f"u{i}",
             "key_digest": f"digest-{i}", "created_at": stamp}
            for i in clients + pros + [6]  # 6: a pro who never receives anything
        ],
    )  # fmt: skip
    pairs = [(c, p) for c in clients for p in pros]
    connection.execute(
        conversations.insert(),
        [
            {"id": n + 1, "client_id": c, "pro_id": p, "message_count": 0}
            for n, (c, p) in enumerate(pairs)
        ],
    )
    seq = [0] * len(pairs)
    rows = []
    for message_id in range(1, 1401):
        # Pro 4 gets most of them (several buckets); clients get the answers.
        n = rng.choice([0, 0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5])
        client, pro = pairs[n]
        seq[n] += 1
        to_pro = seq[n] == 1 or rng.random() < 0.8
        rows.append(
            {
                "id": message_id,
                "conversation_id": n + 1,
                "seq": seq[n],
                "sender_id": client if to_pro else pro,
                "recipient_id": pro if to_pro else client,
                "text": None if rng.random() < 0.1 else f"texte {message_id}",
                "sent_at": stamp,
                "read_at": stamp if rng.random() < 0.3 else None,
                "deleted_at": None,
            }
        )
        if rows[-1]["text"] is None:
            rows[-1]["deleted_at"] = stamp
    connection.execute(messages.insert(), rows)
    for n in range(len(pairs)):
        connection.execute(
            conversations.update()
            .where(conversations.c.id == n + 1)
            .values(
                message_count=seq[n],
                last_message_id=max(
                    (r["id"] for r in rows if r["conversation_id"] == n + 1), default=None
                ),
            )
        )
    return clients + pros + [6]


def _schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def test_revision_0002_fills_the_counters_of_an_existing_database(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, writer=True)
    try:
        _alembic(engine, "0001")
        with engine.begin() as connection:
            recipients = _fill_at_0001(connection, random.Random(2))
        _alembic(engine, "head")
        with engine.connect() as connection:
            received = dict(
                connection.exec_driver_sql("SELECT id, received_count FROM users").fetchall()
            )
            assert received[4] > 2 * BUCKET and received[6] == 0
        _check(engine, recipients)
        # The migrated schema is the models' schema.
        assert _schema_differences(engine) == []

        # Back to 0001 and up again: the same counters.
        _alembic(engine, "0001", down=True)
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("messages")}
            assert "recipient_seq" not in columns
            indexes = {i["name"] for i in sa.inspect(connection).get_indexes("messages")}
            assert "ix_messages_unread" in indexes
        _alembic(engine, "head")
        _check(engine, recipients)
    finally:
        engine.dispose()


def test_a_fresh_database_has_the_models_schema(database_url: str) -> None:
    database = Database(database_url, readers=1)
    try:
        database.migrate()
        assert _schema_differences(database.engine) == []
    finally:
        database.close()


# --- the writes of the server, at random --------------------------------------------------------


def test_random_writes_keep_counters_and_pages_exact(database_url: str) -> None:
    """Messages both ways, reads and deletions in random order, some in one transaction."""
    database = Database(database_url, readers=1)
    rng = random.Random(7)
    try:
        database.migrate()
        pros = [
            database.run_sync(q.create_user, role="pro", name=f"p{n}", key_digest=f"p-{n}")
            for n in range(2)
        ]
        clients = [
            database.run_sync(q.create_user, role="client", name=f"c{n}", key_digest=f"c-{n}")
            for n in range(3)
        ]
        sent: dict[int, list[int]] = {user: [] for user in pros + clients}
        alive: set[int] = set()

        def send(connection: Connection, count: int) -> None:
            for _ in range(count):
                client, pro = rng.choice(clients), rng.choice(pros)
                to_pro = rng.random() < 0.85
                sender, recipient = (client, pro) if to_pro else (pro, client)
                message_id = q.insert_message(
                    connection,
                    sender=sender,
                    recipient=recipient,
                    client_id=client,
                    pro_id=pro,
                    text="x",
                    sent_at=utc_now(),
                )
                sent[recipient].append(message_id)
                alive.add(message_id)

        def read(connection: Connection) -> None:
            recipient = rng.choice(pros + clients)
            if sent[recipient]:
                start = rng.randrange(len(sent[recipient]))
                # Now and then a long run, which empties whole buckets.
                length = rng.randint(1, 400 if rng.random() < 0.3 else 40)
                ids = sent[recipient][start : start + length]
                q.mark_read(connection, recipient, ids, utc_now())

        def delete(connection: Connection) -> None:
            if alive:
                message_id = rng.choice(sorted(alive))
                alive.discard(message_id)
                q.tombstone_message(connection, message_id, utc_now())

        def one_transaction(connection: Connection) -> None:
            for _ in range(rng.randint(1, 6)):
                action = rng.random()
                if action < 0.5:
                    send(connection, rng.randint(1, 60))
                elif action < 0.8:
                    read(connection)
                else:
                    delete(connection)

        # A recipient with nothing read yet: full buckets, where the page's
        # first message is as close to the lower bound as it gets.
        dense = database.run_sync(q.create_user, role="pro", name="dense", key_digest="dense")

        def fill_dense(connection: Connection) -> None:
            for _ in range(3 * BUCKET):
                q.insert_message(
                    connection, sender=clients[0], recipient=dense, client_id=clients[0],
                    pro_id=dense, text="x", sent_at=utc_now(),
                )  # fmt: skip

        database.run_sync(fill_dense)
        _check(database.engine, [dense])

        for round_ in range(40):
            database.run_sync(one_transaction)
            if round_ % 8 == 7:
                _check(database.engine, pros + clients)
        assert max(len(ids) for ids in sent.values()) > 2 * BUCKET
        _check(database.engine, pros + clients)
        # One recipient reads everything: every bucket row of theirs goes.
        database.run_sync(q.mark_read, pros[0], sent[pros[0]], utc_now())
        _check(database.engine, pros + clients)
        with database.engine.connect() as connection:
            assert q.unread_page(connection, pros[0], 0, 20) == (0, [])
    finally:
        database.close()


def test_rollback_leaves_no_count(tmp_path: Path) -> None:
    """A write job that fails is rolled back whole, counters included."""
    database = Database(f"sqlite:///{tmp_path / 'rollback.db'}", readers=1)
    try:
        database.migrate()
        pro = database.run_sync(q.create_user, role="pro", name="p", key_digest="p")
        client = database.run_sync(q.create_user, role="client", name="c", key_digest="c")

        def send_then_fail(connection: Connection) -> None:
            q.insert_message(
                connection, sender=client, recipient=pro, client_id=client, pro_id=pro,
                text="perdu", sent_at=utc_now(),
            )  # fmt: skip
            raise RuntimeError("the job fails after its insert")

        with pytest.raises(RuntimeError):
            database.run_sync(send_then_fail)
        with database.engine.connect() as connection:
            assert q.unread_page(connection, pro, 0, 20) == (0, [])
            assert counters.drift(connection) == {}
    finally:
        database.close()


# --- the bulk fill of the benchmark, and the check itself ---------------------------------------


def test_bench_fill_keeps_the_counters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fill.db'}"
    population = fill(
        url, tmp_path / "data", FillPlan(messages=6000, read_pros=60, fill_clients=60, msg_pros=20)
    )
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            assert q.unread_page(connection, population.big_pro, 0, 20)[0] == (
                population.big_pro_unread
            )
        _check(engine, [population.big_pro, population.big_client, *population.ids("read_pros")])
    finally:
        engine.dispose()


def test_drift_reports_every_kind_of_disagreement(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'drift.db'}", readers=1)
    try:
        database.migrate()
        pro = database.run_sync(q.create_user, role="pro", name="p", key_digest="p")
        client = database.run_sync(q.create_user, role="client", name="c", key_digest="c")

        def send(connection: Connection) -> None:
            for _ in range(3):
                q.insert_message(
                    connection, sender=client, recipient=pro, client_id=client, pro_id=pro,
                    text="x", sent_at=utc_now(),
                )  # fmt: skip

        database.run_sync(send)
        with database.engine.connect() as connection:
            assert counters.drift(connection) == {}
        breakages = {
            "users counters": f"UPDATE users SET unread_count = 2 WHERE id = {pro}",
            "rows missing from a recount": "UPDATE unread_buckets SET unread = 4",
            "missing from unread_buckets": "DELETE FROM unread_buckets",
            "recipient_seq": "UPDATE messages SET recipient_seq = 4 - recipient_seq",
        }
        for expected, breakage in breakages.items():
            with database.write_engine.connect() as connection:
                connection.exec_driver_sql(breakage)
                found = counters.drift(connection)
                assert [problem for problem in found if expected in problem], (expected, found)
                connection.rollback()
        with database.write_engine.begin() as connection:
            connection.exec_driver_sql(breakages["users counters"])
            connection.exec_driver_sql(breakages["missing from unread_buckets"])
            counters.recount(connection)
            assert counters.drift(connection) == {}
    finally:
        database.close()
