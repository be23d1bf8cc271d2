"""Micro-benchmarks of the server's hot paths, to back the recommendations.

    python -m bench.hotpaths [--messages 200000] [--repeat 2000]

Single thread, no network, no contention: what one call of the server's own
functions costs on a filled database, next to the same SQL run in cheaper
ways. The page docs/benchmarks.md quotes these figures in its analysis.

- ``/message``'s write job (``rules.send_message``) as the server runs it, then
  its seven statements built once (``bindparam``), through
  ``exec_driver_sql``, and on the bare ``sqlite3`` cursor;
- the read path (``Database.read_sync``: pool check-out, ``BEGIN``, query,
  ``ROLLBACK``) for ``/liste`` page 0 and a deep page, and for
  ``/conversation``, against the bare cursor;
- the encoding of a 20-message reply (``codec.encode_reply``);
- ``/connexion``'s key check, the request log line, and ``asyncio.wait_for``
  (which wraps every socket read and drain of the server) against
  ``asyncio.timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from protocol.codec import encode_reply
from server import rules, security
from server.requestlog import RequestLog
from server.storage import queries as q
from server.storage.db import Database
from server.storage.models import BUCKET, UnreadBucket, utc_now

from .fill import FillPlan, fill


def per_call(function: Callable[[int], Any], repeat: int, runs: int = 3) -> float:
    """Microseconds per call (best of ``runs`` runs of ``repeat`` calls)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for index in range(repeat):
            function(index)
        best = min(best, (time.perf_counter() - started) / repeat)
    return best * 1e6


def run(messages: int, repeat: int) -> list[tuple[str, str, float]]:
    rows: list[tuple[str, str, float]] = []
    folder = Path(tempfile.mkdtemp(prefix="tchatator-hotpaths-"))
    url = f"sqlite:///{folder / 'hot.db'}"
    plan = FillPlan(messages=messages, fill_clients=max(100, messages // 400))
    population = fill(url, folder / "data", plan)
    database = Database(url, readers=1)
    secret = security.load_or_create_secret(folder / "data" / "secret.key")
    clients = population.ids("msg_clients")
    pros = population.ids("msg_pros")
    raw = sqlite3.connect(str(folder / "hot.db"), isolation_level=None, check_same_thread=False)
    raw.execute("PRAGMA journal_mode=WAL")

    # --- /message: the write job ---------------------------------------------------------
    def in_transaction(body: Callable[[Any, int], Any]) -> float:
        def job(connection: Any) -> float:
            return per_call(lambda i: body(connection, i), repeat)

        return database.run_sync(job)

    def current(connection: Any, i: int) -> None:
        rules.send_message(
            connection, sender_id=clients[i % len(clients)], sender_role="client",
            recipient_id=pros[i % len(pros)], escaped="Bonjour", limit=1000, now=utc_now(),
        )  # fmt: skip

    users, conversations, messages_t, restrictions = (
        q.users, q.conversations, q.messages, q.restrictions,
    )  # fmt: skip
    buckets = q.table_of(UnreadBucket)
    get_user = sa.select(users.c.id, users.c.role, users.c.name, users.c.key_digest).where(
        users.c.id == sa.bindparam("id"), users.c.removed_at.is_(None)
    )
    receive = (
        sa.update(users)
        .where(users.c.id == sa.bindparam("uid"))
        .values(received_count=users.c.received_count + 1, unread_count=users.c.unread_count + 1)
        .returning(users.c.received_count)
    )
    count_in = sqlite_insert(buckets).values(
        recipient_id=sa.bindparam("rid"), bucket=sa.bindparam("b"), unread=1
    )
    count_in = count_in.on_conflict_do_update(
        index_elements=["recipient_id", "bucket"], set_={"unread": buckets.c.unread + 1}
    )
    kinds = (
        sa.select(restrictions.c.kind)
        .where(
            restrictions.c.client_id == sa.bindparam("client"),
            restrictions.c.issuer_id.in_(sa.bindparam("issuers", expanding=True)),
            restrictions.c.lifted_at.is_(None),
            sa.or_(
                restrictions.c.until.is_(None),
                restrictions.c.until > sa.bindparam("now", type_=restrictions.c.until.type),
            ),
        )
        .distinct()
    )
    get_conversation = sa.select(
        conversations.c.id, conversations.c.message_count, conversations.c.last_message_id
    ).where(
        conversations.c.client_id == sa.bindparam("client"),
        conversations.c.pro_id == sa.bindparam("pro"),
    )
    insert = sa.insert(messages_t)
    update = (
        sa.update(conversations)
        .where(conversations.c.id == sa.bindparam("cid"))
        .values(message_count=sa.bindparam("n"), last_message_id=sa.bindparam("last"))
    )
    stamp = "2026-01-01 00:00:00.000000"

    def prebuilt(connection: Any, i: int) -> None:
        client, pro, now = clients[i % len(clients)], pros[i % len(pros)], utc_now()
        connection.execute(get_user, {"id": pro}).first()
        connection.execute(kinds, {"client": client, "issuers": [pro, 0], "now": now}).all()
        arrival = connection.execute(receive, {"uid": pro}).scalar_one()
        connection.execute(count_in, {"rid": pro, "b": arrival // BUCKET})
        row = connection.execute(get_conversation, {"client": client, "pro": pro}).first()
        if row is None:
            return
        result = connection.execute(
            insert,
            {"conversation_id": row[0], "seq": row[1] + 1, "sender_id": client,
             "recipient_id": pro, "recipient_seq": arrival, "text": "Bonjour",
             "sent_at": now},
        )  # fmt: skip
        connection.execute(
            update, {"cid": row[0], "n": row[1] + 1, "last": result.inserted_primary_key[0]}
        )

    sql = {
        "user": "SELECT id, role, name, key_digest FROM users WHERE id = ? AND removed_at IS NULL",
        "kinds": "SELECT DISTINCT kind FROM restrictions WHERE client_id = ? AND issuer_id IN "
        "(?, 0) AND lifted_at IS NULL AND (until IS NULL OR until > ?)",
        "conversation": "SELECT id, message_count, last_message_id FROM conversations "
        "WHERE client_id = ? AND pro_id = ?",
        "receive": "UPDATE users SET received_count = received_count + 1, "
        "unread_count = unread_count + 1 WHERE id = ? RETURNING received_count",
        "count_in": "INSERT INTO unread_buckets (recipient_id, bucket, unread) VALUES (?, ?, 1) "
        "ON CONFLICT (recipient_id, bucket) DO UPDATE SET unread = unread_buckets.unread + 1",
        "insert": "INSERT INTO messages (conversation_id, seq, sender_id, recipient_id, "
        "recipient_seq, text, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "update": "UPDATE conversations SET message_count = ?, last_message_id = ? WHERE id = ?",
    }

    def driver(connection: Any, i: int) -> None:
        client, pro = clients[i % len(clients)], pros[i % len(pros)]
        connection.exec_driver_sql(sql["user"], (pro,)).first()
        connection.exec_driver_sql(sql["kinds"], (client, pro, stamp)).all()
        arrival = connection.exec_driver_sql(sql["receive"], (pro,)).scalar_one()
        connection.exec_driver_sql(sql["count_in"], (pro, arrival // BUCKET))
        row = connection.exec_driver_sql(sql["conversation"], (client, pro)).first()
        if row is None:
            return
        cursor = connection.exec_driver_sql(
            sql["insert"], (row[0], row[1] + 1, client, pro, arrival, "Bonjour", stamp)
        )
        connection.exec_driver_sql(sql["update"], (row[1] + 1, cursor.lastrowid, row[0]))

    def bare(connection: Any, i: int) -> None:
        cursor = connection.connection.driver_connection
        client, pro = clients[i % len(clients)], pros[i % len(pros)]
        cursor.execute(sql["user"], (pro,)).fetchone()
        cursor.execute(sql["kinds"], (client, pro, stamp)).fetchall()
        arrival = cursor.execute(sql["receive"], (pro,)).fetchone()[0]
        cursor.execute(sql["count_in"], (pro, arrival // BUCKET))
        row = cursor.execute(sql["conversation"], (client, pro)).fetchone()
        if row is None:
            return
        inserted = cursor.execute(
            sql["insert"], (row[0], row[1] + 1, client, pro, arrival, "Bonjour", stamp)
        )
        cursor.execute(sql["update"], (row[1] + 1, inserted.lastrowid, row[0]))

    # A first message from every client to every pro, so that the variants
    # below all find the conversation (the server's job creates it).
    database.run_sync(lambda c: [current(c, i) for i in range(len(clients) * 2)])
    for label, body in (
        ("server: `rules.send_message` (fixed SQL on the cursor, 5 statements)", current),
        ("the former 7 statements built once, `bindparam`, Core `execute`", prebuilt),
        ("the former 7 statements, `Connection.exec_driver_sql`", driver),
        ("the former 7 statements, bare `sqlite3` cursor", bare),
    ):
        rows.append(("/message write job, per message", label, in_transaction(body)))

    # --- reads --------------------------------------------------------------------------------
    big_pro = population.big_pro
    big_client = population.big_client
    deep_liste = int(population.big_pro_unread / 20 * 0.9)
    deep_conversation = int(population.big_length / 20 * 0.9)
    typical_pro = population.ids("read_pros")[1]
    reads = [
        (f"/liste page 0 (a pro with {_unread(raw, typical_pro):,} unread)", typical_pro, 0),
        (f"/liste page 0 (the pro with {population.big_pro_unread:,} unread)", big_pro, 0),
        (f"/liste page {deep_liste:,} (same pro)", big_pro, deep_liste),
    ]
    for label, pro, page in reads:
        rows.append(
            (label, "server: `Database.read_sync(queries.unread_page)`",
             per_call(lambda i, pro=pro, page=page: database.read_sync(
                 q.unread_page, pro, page, 20), max(20, repeat // 20)))
        )  # fmt: skip
        # The same two statements, the bucket rows read as far as the server reads them.
        skip = page * 20
        params = {"me": pro, "low": skip // BUCKET}
        walked = raw.execute(q.SQL_UNREAD_BUCKETS.named, params).fetchall()
        earlier, needed = walked[0][3], 0
        while earlier + walked[needed][1] <= skip:
            earlier += walked[needed][1]
            needed += 1
        page_params = {"me": pro, "start": walked[needed][0] * BUCKET, "size": 20,
                       "within": skip - earlier}  # fmt: skip
        rows.append(
            (label, "bare cursor: the bucket rows, then the page (same SQL)",
             per_call(lambda i, params=params, needed=needed, page_params=page_params: (
                 raw.execute(q.SQL_UNREAD_BUCKETS.named, params).fetchmany(needed + 1),
                 raw.execute(q.SQL_UNREAD_PAGE.named, page_params).fetchall()),
                 max(20, repeat // 20)))
        )  # fmt: skip
    conversation_sql = (
        "SELECT id, sender_id, recipient_id, text, sent_at, modified_at, read_at, deleted_at "
        "FROM messages WHERE conversation_id = ? AND seq BETWEEN ? AND ? ORDER BY seq"
    )
    conversation_id, total = raw.execute(
        "SELECT id, message_count FROM conversations WHERE client_id = ? AND pro_id = ?",
        (big_client, big_pro),
    ).fetchone()
    for page in (0, deep_conversation):
        label = f"/conversation page {page:,} of {total:,}"
        rows.append(
            (label, "server: `Database.read_sync(rules.read_conversation)`",
             per_call(lambda i, page=page: database.read_sync(
                 rules.read_conversation, reader_id=big_client, reader_role="client",
                 other_id=big_pro, page=page, size=20), repeat // 4))
        )  # fmt: skip
        high = total - page * 20
        rows.append(
            (label, "bare cursor: user, conversation, range (same SQL)",
             per_call(lambda i, high=high: (
                 raw.execute(sql["user"], (big_pro,)).fetchone(),
                 raw.execute("SELECT id, message_count FROM conversations WHERE client_id = ? "
                             "AND pro_id = ?", (big_client, big_pro)).fetchone(),
                 raw.execute(conversation_sql, (conversation_id, high - 19, high)).fetchall()),
                 repeat // 4))
        )  # fmt: skip

    # --- /connexion, the request log, timeouts ------------------------------------------------
    key = population.groups["msg_clients"][0][1]
    rows.append(
        ("/connexion key check", "server: digest + `Database.read_sync(get_user_by_digest)`",
         per_call(lambda i: database.read_sync(
             q.get_user_by_digest, security.digest_key(secret, key)), repeat))
    )  # fmt: skip
    rows.append(
        ("/connexion key check", "bare cursor: digest + select",
         per_call(lambda i: raw.execute(
             "SELECT id, role, name, key_digest FROM users WHERE key_digest = ? "
             "AND removed_at IS NULL", (security.digest_key(secret, key),)).fetchone(), repeat))
    )  # fmt: skip
    page = database.read_sync(
        rules.read_conversation,
        reader_id=big_client,
        reader_role="client",
        other_id=big_pro,
        page=0,
        size=20,
    ).rows
    body = {"page": 0, "pages": 1, "total": 20, "messages": [q.message_json(r) for r in page]}
    rows.append(
        ("reply of a 20-message page", "server: `codec.encode_reply` (orjson)",
         per_call(lambda i: encode_reply(200, body), repeat))
    )  # fmt: skip
    rows.append(
        ("reply of a 20-message page", "`json.dumps` alone (translate only if a break is there)",
         per_call(lambda i: json.dumps(body, ensure_ascii=False, separators=(", ", ": "))
                   .encode(), repeat))
    )  # fmt: skip
    log = RequestLog(folder / "requests.log", max_bytes=1 << 30, backups=1)

    async def record_in_a_loop() -> float:
        # As in the server: inside a running loop, which batches the flushes
        # (without one, every call would format and hand over its line).
        return per_call(lambda i: log.record(peer="127.0.0.1", user=7, command="/message",
                                             code=200, duration_ms=1.234), repeat)  # fmt: skip

    rows.append(
        ("request log, per request", "server: `RequestLog.record` (the caller's share)",
         asyncio.run(record_in_a_loop()))
    )  # fmt: skip
    log.close()
    waits = asyncio.run(_timeouts(repeat))
    read = "one awaited read with a timeout"
    rows.append((read, "`asyncio.wait_for` (the server before the protocol rewrite)", waits[0]))
    rows.append((read, "`async with asyncio.timeout()`", waits[1]))
    rows.append((read, "server: no timeout per read (one idle timer per connection)", waits[2]))
    database.close()
    raw.close()
    return rows


def _unread(raw: sqlite3.Connection, user: int) -> int:
    return int(
        raw.execute(
            "SELECT count(*) FROM messages WHERE recipient_id = ? AND read_at IS NULL "
            "AND deleted_at IS NULL",
            (user,),
        ).fetchone()[0]
    )


async def _timeouts(repeat: int) -> tuple[float, float, float]:
    loop = asyncio.get_running_loop()

    async def ready() -> None:
        future = loop.create_future()
        loop.call_soon(future.set_result, None)
        await future

    async def measure(kind: int) -> float:
        started = time.perf_counter()
        for _ in range(repeat):
            if kind == 0:
                await asyncio.wait_for(ready(), 300)
            elif kind == 1:
                async with asyncio.timeout(300):
                    await ready()
            else:
                await ready()
        return (time.perf_counter() - started) / repeat * 1e6

    return (await measure(0), await measure(1), await measure(2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpaths", description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args(argv)
    rows = run(args.messages, args.repeat)
    print("| Path | Variant | µs per call |")
    print("|---|---|---:|")
    for path, variant, micros in rows:
        print(f"| {path} | {variant} | {micros:,.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
