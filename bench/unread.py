"""``/liste`` page 0 against a deep page, and ``insert_message``, on a filled database.

    python -m bench.unread [--messages 1000000] [--repeat 200] [--database-url URL]

Single thread, no network: what ``queries.unread_page`` costs through the
server's read path (``Database.read_sync``: check-out, ``BEGIN``, the query,
``ROLLBACK``) for page 0 and for a page 90 % of the way down the list of the
pro with the most unread messages (``bench.fill``'s big pro, 100,400 unread
with the default million messages), and what one ``queries.insert_message``
costs inside a write transaction of 100 of them (the ``/message`` hot path
without its checks). SQLite by default, on a temporary file filled by ``bench.fill``;
with ``--database-url postgresql://...`` the insert is measured on that
(empty, scratch) PostgreSQL database instead.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from server.storage import queries as q
from server.storage.db import Database
from server.storage.models import utc_now

from .fill import FillPlan, fill
from .hotpaths import per_call

PAGE_SIZE = 20
BATCH = 100  # inserts per transaction


def _insert_cost(database: Database, pairs: list[tuple[int, int]], repeat: int) -> float:
    """Microseconds per call, timed inside transactions of ``BATCH`` calls (as
    the group-committing writer runs them), the commits left out."""

    def one(connection: Any, index: int) -> None:
        client, pro = pairs[index % len(pairs)]
        q.insert_message(
            connection,
            sender=client,
            recipient=pro,
            client_id=client,
            pro_id=pro,
            text="Bonjour",
            sent_at=utc_now(),
        )

    def batch(connection: Any, start: int) -> float:
        started = time.perf_counter()
        for index in range(start, start + BATCH):
            one(connection, index)
        return time.perf_counter() - started

    database.run_sync(lambda c: [one(c, i) for i in range(len(pairs))])  # conversations exist
    best = float("inf")
    for _ in range(5):
        spent = sum(database.run_sync(batch, start) for start in range(0, repeat, BATCH))
        best = min(best, spent / (repeat // BATCH * BATCH))
    return best * 1e6


def run_sqlite(messages: int, repeat: int) -> list[tuple[str, float]]:
    folder = Path(tempfile.mkdtemp(prefix="tchatator-unread-"))
    url = f"sqlite:///{folder / 'unread.db'}"
    population = fill(url, folder / "data", FillPlan(messages=messages))
    database = Database(url, readers=1)
    pro, unread = population.big_pro, population.big_pro_unread
    deep = int(unread / PAGE_SIZE * 0.9)
    results = []
    for page in (0, deep):
        total, page_rows = database.read_sync(q.unread_page, pro, page, PAGE_SIZE)
        assert total == unread and len(page_rows) == PAGE_SIZE, (total, len(page_rows))
        micros = per_call(
            lambda i, page=page: database.read_sync(q.unread_page, pro, page, PAGE_SIZE),
            repeat,
            runs=5,
        )
        results.append((f"/liste page {page:,} of {unread:,} unread", micros))
    pairs = list(zip(population.ids("msg_clients"), population.ids("msg_pros") * 5, strict=False))
    results.append(("insert_message (SQLite)", _insert_cost(database, pairs, repeat * 10)))
    database.close()
    return results


def run_postgres(url: str, repeat: int) -> list[tuple[str, float]]:
    database = Database(url, readers=1)
    database.migrate()
    pairs = []
    run = secrets.token_hex(8)  # fresh digests, so the script may run twice on one database
    for index in range(50):
        client = database.run_sync(
            q.create_user, role="client", name=f"c{index}", key_digest=f"bench-c-{index}-{run}"
        )
        pro = database.run_sync(
            q.create_user, role="pro", name=f"p{index}", key_digest=f"bench-p-{index}-{run}"
        )
        pairs.append((client, pro))
    results = [("insert_message (PostgreSQL)", _insert_cost(database, pairs, repeat * 10))]
    database.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unread", description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", help="a scratch PostgreSQL database for the insert")
    args = parser.parse_args(argv)
    if args.database_url:
        results = run_postgres(args.database_url, args.repeat)
    else:
        results = run_sqlite(args.messages, args.repeat)
    for label, micros in results:
        print(f"{label}: {micros:,.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
