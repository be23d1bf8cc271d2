"""The database: engines, migrations, and the read and write paths.

Reads run on the event loop's own connection on SQLite (WAL lets readers run
beside the writer) and in a small thread pool on PostgreSQL. Writes go to one
writer thread that practises group commit: it takes every job queued while
the previous commit was flushing and has them run in one transaction,
committed once, then answers each job. On PostgreSQL the thread runs them
itself; on SQLite a writer process does (``server.storage.writer``), so the
statements do not wait for the event loop's thread to let go of the GIL. A
job's future resolves only after its commit, so a ``200`` always means
"durably stored" (``synchronous=FULL`` on SQLite), while concurrent writers
share one fsync.

A job that raises a ``TchatatorError`` must not have written anything (the
handlers check before they write), so the rest of its batch goes on. Any
other exception rolls the batch back and its jobs are retried one by one, so
one broken job cannot take its neighbours down.

Several servers may share one PostgreSQL database. Their group commits take
one transaction-scoped advisory lock first (``WRITERS_LOCK``), so they run one
after the other, as SQLite's single writer does: two batches that update the
same users' counters and conversations in opposite orders would otherwise
deadlock, and PostgreSQL only breaks a deadlock after ``deadlock_timeout``
(a second by default), rolling one batch back to be retried job by job.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from protocol.errors import ServiceUnavailable, TchatatorError

if TYPE_CHECKING:
    from .writer import ProcessCommitter

__all__ = ["Database", "make_engine", "migrate"]

log = logging.getLogger("tchatator.storage")

T = TypeVar("T")

MAX_BATCH = 512
MAX_RECONNECT_PAUSE = 1.0
READER_THREADS = 4
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 32 * 1024
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key of the write transactions of every server ("tcht")
WRITERS_LOCK = 0x74636874


def make_engine(url: str, *, pool_size: int = READER_THREADS, writer: bool = False) -> Engine:
    """An engine with the pragmas every SQLite connection needs."""
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
    return sa.create_engine(
        url, hide_parameters=True, pool_size=pool_size, max_overflow=2, pool_pre_ping=True
    )


def _ensure_sqlite_folder(url: str) -> None:
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest alembic revision (never loses data)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class WriteGate:
    """Keeps the writes of one connection's pipelined requests in request order.

    Each request in flight gets a gate chained to the previous request's; its
    first write waits until that request has queued its own write (or ended).
    """

    __slots__ = ("_previous", "passed")

    def __init__(self, previous: WriteGate | None) -> None:
        self._previous = previous if previous is not None and not previous.passed.done() else None
        self.passed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait_turn(self) -> None:
        previous, self._previous = self._previous, None  # drop the chain as it goes
        if previous is not None and not previous.passed.done():
            await previous.passed

    def open(self) -> None:
        self._previous = None
        if not self.passed.done():
            self.passed.set_result(None)


# Set by the connection loop in the task of each pipelined request.
WRITE_GATE: ContextVar[WriteGate | None] = ContextVar("tchatator_write_gate", default=None)


@dataclass(eq=False)
class _Job:
    function: Callable[..., Any]
    arguments: tuple[Any, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    erase: bool = False
    outcome: tuple[bool, Any] | None = field(default=None)


_STOP = object()


class Database:
    """Owns the engines, the reader pool and the group-committing writer."""

    def __init__(self, url: str, *, readers: int = READER_THREADS) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = make_engine(url, pool_size=readers)
        self.write_engine = (
            make_engine(url, pool_size=1, writer=True) if url.startswith("sqlite") else self.engine
        )
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="db-read")
        self._loop_connection: Connection | None = None
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="db-write", daemon=True)
        self._committer: Committer | ProcessCommitter
        if self.is_sqlite:
            from .writer import ProcessCommitter  # it imports this module

            self._committer = ProcessCommitter(url)
        else:
            self._committer = Committer(self.write_engine, is_sqlite=False)
        self._started = False
        # PostgreSQL only: erase jobs wait here for the VACUUM that removes
        # the old row versions; a thread of its own, so writes go on meanwhile.
        self._erasures: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._eraser = threading.Thread(target=self._erase_loop, name="db-erase", daemon=True)

    @property
    def commits(self) -> int:
        """Commits so far (the benchmark reads messages per commit)."""
        return self._committer.commits

    @property
    def committed_jobs(self) -> int:
        return self._committer.committed_jobs

    def migrate(self) -> None:
        migrate(self.write_engine)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._writer.start()
            if not self.is_sqlite:
                self._eraser.start()

    def close(self) -> None:
        """Finish every queued write, then release connections."""
        if self._started:
            self._jobs.put(_STOP)
            self._writer.join()
            if not self.is_sqlite:
                self._erasures.put(_STOP)
                self._eraser.join()
            self._started = False
        self._readers.shutdown(wait=True)
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()

    # --- reads ------------------------------------------------------------------

    async def read(self, function: Callable[..., T], /, *arguments: Any) -> T:
        """Run a read query and return its result.

        On SQLite the short, indexed reads of the protocol run right here on
        the event loop's thread, on a connection of its own: a thread hop (and
        the GIL ping-pong with four reader threads) cost more than the query.
        WAL readers never wait for the writer, so this does not block.
        """
        if self.is_sqlite:
            if self._loop_connection is None:
                self._loop_connection = self.engine.connect()
            connection = self._loop_connection
            try:
                return function(connection, *arguments)
            finally:
                if connection.in_transaction():
                    connection.rollback()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, function, arguments)

    def _run_read(self, function: Callable[..., T], arguments: tuple[Any, ...]) -> T:
        with self.engine.connect() as connection:
            result = function(connection, *arguments)
            connection.rollback()
            return result

    def run_sync(self, function: Callable[..., T], /, *arguments: Any, **keywords: Any) -> T:
        """One write transaction from synchronous code (the CLI)."""
        with self.write_engine.begin() as connection:
            _take_writers_turn(connection)
            return function(connection, *arguments, **keywords)

    # --- writes -------------------------------------------------------------------

    async def write(self, function: Callable[..., T], /, *arguments: Any, erase: bool = False) -> T:
        """Run ``function(connection, *arguments)`` in the next group commit.

        Returns once the transaction holding it is committed. With ``erase``
        (the job destroys data, e.g. a message's text), it returns once no
        older copy of that data stays in the database files either: on SQLite
        the WAL is checkpointed and truncated (``secure_delete`` zeroes freed
        space); on PostgreSQL, where an UPDATE leaves the old row version in
        the table until VACUUM, the eraser thread vacuums the table first.
        """
        if not self._writer.is_alive():
            raise ServiceUnavailable("the database writer is not running")
        gate = WRITE_GATE.get()
        if gate is not None:
            await gate.wait_turn()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(function, arguments, future, loop, erase))
        if gate is not None:
            gate.open()
        return await future

    def _write_loop(self) -> None:
        self._committer.prepare()  # the writer process starts before the first write
        while True:
            first = self._jobs.get()
            if first is _STOP:
                break
            batch: list[_Job] = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                batch.append(job)
            items = [(job.function, job.arguments, job.erase) for job in batch]
            try:
                outcomes = self._committer.run(items)
            except Exception as error:  # a bug here must not leave a batch unanswered
                log.exception("database writer: a batch failed")
                outcomes = [(False, error)] * len(batch)
            for job, outcome in zip(batch, outcomes, strict=True):
                job.outcome = outcome
            erasing = [job for job in batch if job.erase and job.outcome and job.outcome[0]]
            if erasing and not self.is_sqlite:
                for job in erasing:
                    self._erasures.put(job)  # answered once vacuumed
                _resolve([job for job in batch if job not in erasing])
            else:
                _resolve(batch)
            if stop:
                break
        self._committer.close()

    def _erase_loop(self) -> None:
        while True:
            waiting = [self._erasures.get()]
            while True:  # one VACUUM serves every erasure queued meanwhile
                try:
                    waiting.append(self._erasures.get_nowait())
                except queue.Empty:
                    break
            jobs = [job for job in waiting if job is not _STOP]
            if jobs:
                try:
                    with self.engine.connect() as connection:
                        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                        autocommit.exec_driver_sql("VACUUM messages")
                except Exception:
                    log.exception("VACUUM after an erase failed; autovacuum will do it later")
                _resolve(jobs)
            if len(jobs) < len(waiting):
                return


# A write job as the committer sees it: (function, arguments, erase); its
# outcome is (True, result) or (False, the exception it raised).
WriteItem = tuple[Callable[..., Any], tuple[Any, ...], bool]
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
                for (_, _, erase), outcome in zip(items, outcomes, strict=True)
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
                _take_writers_turn(self.connection)
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
                    _take_writers_turn(self.connection)
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
            busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
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


def _take_writers_turn(connection: Connection) -> None:
    """PostgreSQL: wait for the other servers' write transactions (see the
    module docstring); released at commit or rollback. SQLite's BEGIN
    IMMEDIATE already does this."""
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITERS_LOCK})")


def _run_job(connection: Connection, item: WriteItem) -> Outcome:
    function, arguments, _ = item
    try:
        return True, function(connection, *arguments)
    except TchatatorError as error:
        return False, error  # by contract nothing was written: the batch goes on


def _resolve(jobs: list[_Job]) -> None:
    """Answer finished jobs: one wake-up of each event loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, loop_jobs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, loop_jobs)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        ok, value = job.outcome or (False, RuntimeError("write job was not run"))
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
