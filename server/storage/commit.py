"""Running write jobs: the engines, the committer, and its back-off.

Both sides of a write import this module and nothing more of storage: the
server (``db.Database``, whose writer thread runs batches itself on
PostgreSQL) and the writer process (``writer``, which runs them on SQLite).
The writer process therefore loads the engine and the committer, not the
event loop's side (``db``: reader pool, write queue, gates).

A job is ``function(connection, *arguments)``. One that raises a
``TchatatorError`` must not have written anything (the handlers check before
they write), so the rest of its batch goes on. Any other exception rolls the
batch back and its jobs are retried one by one, so one broken job cannot take
its neighbours down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from protocol.errors import ServiceUnavailable, TchatatorError

__all__ = [
    "HOUSEKEEPING_LOCKS",
    "READER_THREADS",
    "USER_LOCKS",
    "Committer",
    "LockKey",
    "Outcome",
    "WriteItem",
    "declares_locks",
    "locks_users",
    "make_engine",
    "pause_after_failures",
    "take_writers_turn",
    "write_locks",
]

log = logging.getLogger("tchatator.storage")

MAX_RECONNECT_PAUSE = 1.0
READER_THREADS = 4
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 32 * 1024
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
# Namespaces (first key) of the two-key advisory locks of write transactions:
# one user's rows ("tchu"); the server's own housekeeping ("tchk").
USER_LOCKS = 0x74636875
HOUSEKEEPING_LOCKS = 0x7463686B

# A PostgreSQL advisory lock: (namespace, id), the two int4 keys of
# pg_advisory_xact_lock. Transactions take theirs in ascending order.
LockKey = tuple[int, int]

# Jobs that declared which lock keys they write (``write_locks``).
_KEYS_OF_JOB: dict[Callable[..., Any], Callable[..., Iterable[LockKey]]] = {}


def make_engine(
    url: str, *, pool_size: int = READER_THREADS, writer: bool = False, reader: bool = False
) -> Engine:
    """An engine with the pragmas every SQLite connection needs.

    On PostgreSQL a ``reader`` engine's connections are in autocommit: under
    READ COMMITTED each statement of a transaction takes its own snapshot
    anyway, so a read loses nothing without one, and saves its BEGIN and its
    two ROLLBACKs (the read's, then the pool's on return), three round trips
    of a /conversation's seven."""
    if url.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        engine = sa.create_engine(
            url,
            hide_parameters=True,  # error messages must never carry message text
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling is off: SQLAlchemy's
            # "begin" event below emits BEGIN itself (SQLAlchemy docs,
            # "Serializable isolation / Savepoints / Transactional DDL").
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Freed space is zeroed, so an erased message text leaves no copy
            # in the database file's free pages.
            cursor.execute("PRAGMA secure_delete=ON")
            # 32 MiB of page cache per connection (default 2 MiB): the pages
            # of many recipients' unread messages stay in memory.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            # Reads of pages outside that cache come from the OS's cache through
            # a memory map, not a pread and a copy each: a page 0 of a random
            # conversation among 1M messages went from 85 to 55 µs. (Writes
            # still go through write(); only address space is reserved.)
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            connection.exec_driver_sql(begin)

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if reader else {}
    return sa.create_engine(
        url,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        **options,
    )


def _ensure_sqlite_folder(url: str) -> None:
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


# A write job as the committer sees it: (function, arguments, keywords, erase); its
# outcome is (True, result) or (False, the exception it raised).
WriteItem = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], bool]
Outcome = tuple[bool, Any]


class Committer:
    """Runs batches of write jobs, one transaction and one commit per batch.

    It lives in the writer thread (PostgreSQL) or in the writer process
    (SQLite, ``server.storage.writer``), and keeps its connection between
    batches. If the database cannot be reached, the batch is answered 503
    and the next one tries again after a pause.
    """

    def __init__(self, engine: Engine, is_sqlite: bool) -> None:
        self.engine = engine
        self.is_sqlite = is_sqlite
        self.connection: Connection | None = None
        self.failures = 0
        self.commits = 0
        self.committed_jobs = 0

    def prepare(self) -> None:
        """Nothing to start: the connection is opened by the first batch."""

    def run(self, items: list[WriteItem]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(items)
        try:
            if self.connection is None:
                self.connection = self.engine.connect()
            self._commit_batch(items, outcomes)
            if self.is_sqlite and any(
                erase and outcome and outcome[0]
                for (_, _, _, erase), outcome in zip(items, outcomes, strict=True)
            ):
                self._truncate_wal()
            self.failures = 0
        except Exception:
            log.exception("database writer: cannot reach the database")
            self.close()
            self.failures += 1
            pause_after_failures(self.failures)
        unavailable = (False, ServiceUnavailable("the database is unavailable"))
        return [unavailable if outcome is None else outcome for outcome in outcomes]

    def _commit_batch(self, items: list[WriteItem], outcomes: list[Outcome | None]) -> None:
        """Run and commit a batch; on failure, retry its jobs one by one."""
        assert self.connection is not None
        try:
            with self.connection.begin():
                take_writers_turn(self.connection, items)
                for index, item in enumerate(items):
                    outcomes[index] = _run_job(self.connection, item)
            self.commits += 1
            self.committed_jobs += len(items)
            return
        except Exception as error:
            outcomes[:] = [None] * len(items)  # nothing of the batch was committed
            if len(items) == 1:
                log.exception("a write job failed")
                outcomes[0] = (False, error)
                self._reconnect()
                return
            log.exception("group commit of %d jobs failed; retrying them one by one", len(items))
        self._reconnect()
        for index, item in enumerate(items):
            try:
                with self.connection.begin():
                    take_writers_turn(self.connection, [item])
                    outcomes[index] = _run_job(self.connection, item)
                self.commits += 1
                self.committed_jobs += 1
            except Exception as job_error:
                outcomes[index] = (False, job_error)
                self._reconnect()

    def _truncate_wal(self) -> None:
        assert self.connection is not None
        try:
            # Outside any transaction (a checkpoint cannot run inside one): the
            # DBAPI connection is in autocommit mode (isolation_level None).
            raw = self.connection.connection.driver_connection
            assert raw is not None  # an open connection has its driver's
            busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                log.warning("WAL checkpoint after an erase was blocked by readers")
        except Exception:
            log.exception("WAL checkpoint after an erase failed; it will happen later")

    def _reconnect(self) -> None:
        self.close()
        self.connection = self.engine.connect()

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:
                log.exception("closing a broken writer connection")
            self.connection = None


def pause_after_failures(failures: int) -> None:
    """Wait before trying the database (or the writer process) again: 0.1 s
    after one failure in a row, doubling up to ``MAX_RECONNECT_PAUSE``."""
    time.sleep(min(MAX_RECONNECT_PAUSE, 0.05 * 2**failures))


F = TypeVar("F", bound=Callable[..., Any])


def write_locks(keys: Callable[..., Iterable[LockKey]]) -> Callable[[F], F]:
    """Declare what a write job writes, as advisory lock keys.

    ``keys(connection, *arguments, **keywords)`` is called before the batch's
    transaction touches any row (so it may only read what never changes, such
    as a message's sender and recipient) and names every key whose rows the job
    may write. Batches lock their keys in one order before running any job
    (``take_writers_turn``), so two batches on PostgreSQL run at the same time
    unless they share a key, and never deadlock. On SQLite ``keys`` is never
    called: BEGIN IMMEDIATE already makes writers take turns.
    """

    def register(function: F) -> F:
        _KEYS_OF_JOB[function] = keys
        return function

    return register


def locks_users(users: Callable[..., Iterable[int]]) -> Callable[[F], F]:
    """``write_locks`` for a job whose rows all belong to the users that
    ``users(connection, *arguments, **keywords)`` names: their conversations and
    messages (sender and recipient), their counters, the sanctions on a client."""

    def keys(connection: Connection, *arguments: Any, **keywords: Any) -> Iterable[LockKey]:
        return (
            (USER_LOCKS, user)
            for user in users(connection, *arguments, **keywords)
            # An id no user can have (a request's, out of the column's range) locks nothing.
            if 0 <= user < 2**31
        )

    return write_locks(keys)


def declares_locks(function: Callable[..., Any]) -> bool:
    return function in _KEYS_OF_JOB


def keys_to_lock(connection: Connection, items: Iterable[WriteItem]) -> list[LockKey]:
    """The keys a batch writes, in lock order. A job that declared nothing adds
    none: PostgreSQL's row locks still keep it correct, but it may deadlock
    with a batch touching the same rows in another order (PostgreSQL breaks
    that after ``deadlock_timeout``, a second, and the batch is retried one job
    at a time), so every job the server runs declares its keys (a test checks)."""
    keys: set[LockKey] = set()
    for function, arguments, keywords, _ in items:
        declared = _KEYS_OF_JOB.get(function)
        if declared is not None:
            keys.update(declared(connection, *arguments, **keywords))
    return sorted(keys)


def take_writers_turn(connection: Connection, items: Iterable[WriteItem] = ()) -> None:
    """PostgreSQL: wait until no other write transaction touches what this one will.

    The locks are released at commit or rollback. A batch takes one advisory
    lock per key its jobs declared (``write_locks``; per user for messages,
    read marks, edits, deletions, sanctions and the CLI's user changes), all in
    one statement, in ascending order, before any row is touched. So two
    batches wait for each other only when they share a key, and they can never
    wait for each other in a cycle: each lock a transaction needs is taken
    before any row lock, in the one order every transaction uses. Without
    that, two batches updating the same users' counters and conversations in
    opposite orders deadlocked, and PostgreSQL broke the deadlock only after a
    second (``deadlock_timeout``). There is no lock that every writer takes.

    SQLite's BEGIN IMMEDIATE already makes writers take turns.
    """
    if connection.dialect.name == "sqlite":
        return
    keys = keys_to_lock(connection, items)
    if not keys:
        return
    # unnest of two arrays returns their rows in order: the locks are taken in key order.
    namespaces = ",".join(str(int(namespace)) for namespace, _ in keys)
    ids = ",".join(str(int(key)) for _, key in keys)
    connection.exec_driver_sql(
        f"SELECT count(pg_advisory_xact_lock(namespace, id)) FROM unnest("
        f"ARRAY[{namespaces}]::integer[], ARRAY[{ids}]::integer[]) AS key(namespace, id)"
    )


def _run_job(connection: Connection, item: WriteItem) -> Outcome:
    function, arguments, keywords, _ = item
    try:
        return True, function(connection, *arguments, **keywords)
    except TchatatorError as error:
        return False, error  # by contract nothing was written: the batch goes on
